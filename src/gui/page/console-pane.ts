/**
 * The console pane: a small terminal for the guest's serial port. It keeps finished lines and
 * the current one, understands the few escape sequences a shell's line editor uses (erase in
 * line, cursor left/right/column, clear screen) and skips the rest; drawing waits for the next
 * animation frame so a burst of output is drawn once.
 */

const MAX_LINES = 2000;

const enum Esc {
  Text,
  AfterEsc,
  Csi,
  Osc,
}

export class ConsolePane {
  private done: string[] = [];
  private cur: string[] = [];
  private col = 0;
  private escState = Esc.Text;
  private csi = "";
  private readonly decoder = new TextDecoder("utf-8");
  private renderQueued = false;

  constructor(private readonly el: HTMLElement) {}

  /** The guest's serial bytes; UTF-8 split across messages is joined. */
  write(bytes: Uint8Array): void {
    this.feed(this.decoder.decode(bytes, { stream: true }));
  }

  private put(ch: string): void {
    while (this.cur.length < this.col) this.cur.push(" ");
    this.cur[this.col] = ch;
    this.col++;
  }

  private newline(): void {
    this.done.push(this.cur.join(""));
    if (this.done.length > MAX_LINES) this.done.splice(0, this.done.length - MAX_LINES);
    this.cur = [];
    this.col = 0;
  }

  private runCsi(seq: string): void {
    const final = seq.charAt(seq.length - 1);
    let n = parseInt(seq, 10);
    if (isNaN(n)) n = 0;
    if (final === "K") {
      if (n === 0) this.cur.length = Math.min(this.cur.length, this.col);
      else if (n === 2) this.cur = [];
    } else if (final === "D") this.col = Math.max(0, this.col - (n || 1));
    else if (final === "C") this.col += n || 1;
    else if (final === "G") this.col = Math.max(0, (n || 1) - 1);
    else if (final === "J" && n === 2) {
      this.done = [];
      this.cur = [];
      this.col = 0;
    }
  }

  private feed(text: string): void {
    for (let k = 0; k < text.length; k++) this.feedChar(text.charAt(k), text.charCodeAt(k));
    if (!this.renderQueued) {
      this.renderQueued = true;
      requestAnimationFrame(() => this.render());
    }
  }

  private feedChar(ch: string, code: number): void {
    if (this.escState === Esc.AfterEsc) {
      this.escState = ch === "[" ? Esc.Csi : ch === "]" ? Esc.Osc : Esc.Text;
      this.csi = "";
      return;
    }
    if (this.escState === Esc.Csi) {
      this.csi += ch;
      if (code >= 0x40 && code <= 0x7e) {
        this.escState = Esc.Text;
        this.runCsi(this.csi);
      }
      return;
    }
    if (this.escState === Esc.Osc) {
      if (code === 7) this.escState = Esc.Text;
      else if (code === 0x1b) this.escState = Esc.AfterEsc;
      return;
    }
    if (code === 0x1b) this.escState = Esc.AfterEsc;
    else if (ch === "\n") this.newline();
    else if (ch === "\r") this.col = 0;
    else if (code === 8) this.col = Math.max(0, this.col - 1);
    else if (ch === "\t") {
      do this.put(" ");
      while (this.col % 8);
    } else if (code >= 0x20 && code !== 0x7f) this.put(ch);
  }

  private render(): void {
    const { el, cur, col, done } = this;
    this.renderQueued = false;
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
    let before = cur.slice(0, col).join("");
    while (before.length < col) before += " ";
    const under = cur[col] || " ";
    const after = cur.slice(col + 1).join("");
    el.textContent = "";
    el.appendChild(document.createTextNode(done.join("\n") + (done.length ? "\n" : "") + before));
    const cursor = document.createElement("span");
    cursor.className = "cursor";
    cursor.textContent = under;
    el.appendChild(cursor);
    el.appendChild(document.createTextNode(after));
    if (atBottom) el.scrollTop = el.scrollHeight;
  }
}
