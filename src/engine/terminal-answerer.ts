// The guest's serial console as capture (snapshot/) and the launcher both read it: it lives at
// the bottom of the import order so neither imports the other for it.
/**
 * Busybox's line editor asks the terminal where the cursor is (ESC [ 6 n) after every prompt.
 * With no terminal attached (capture, piped input) the query is taken out of the output (it would
 * make whatever terminal shows the output type an answer into it), reported as a prompt, and,
 * where `reply` is given, answered as a 24-line terminal would, with the column counted from the
 * output since the last line break. Busybox does not wait for the answer; it only uses it to
 * place the cursor.
 */
const DSR = [0x1b, 0x5b, 0x36, 0x6e]; // ESC [ 6 n

export class TerminalAnswerer {
  private matched = 0;
  private column = 0;

  constructor(
    private readonly reply?: (bytes: Uint8Array) => void,
    private readonly onQuery: () => void = () => {},
    private readonly rows = 24,
  ) {}

  /** Feed every byte the guest writes; returns them without the queries. */
  observe(bytes: Uint8Array): Uint8Array {
    const out: number[] = [];
    let queries = 0;
    for (const b of bytes) {
      if (b === DSR[this.matched]) {
        this.matched++;
        if (this.matched === DSR.length) {
          this.matched = 0;
          queries++;
          this.reply?.(new TextEncoder().encode(`\x1b[${this.rows};${this.column + 1}R`));
        }
        continue;
      }
      // A partial match that breaks off was real output after all.
      if (this.matched > 0) out.push(...DSR.slice(0, this.matched));
      this.matched = b === DSR[0] ? 1 : 0;
      if (this.matched) continue;
      out.push(b);
      if (b === 0x0a || b === 0x0d) this.column = 0;
      else if (b >= 0x20 && b !== 0x7f) this.column++;
    }
    for (let i = 0; i < queries; i++) this.onQuery();
    return Uint8Array.from(out);
  }
}

/** The last `limit` bytes of console output, for ready detection and error messages. */
export class SerialTail {
  private text = "";

  constructor(private readonly limit = 4096) {}

  push(bytes: Uint8Array): void {
    this.text += Buffer.from(bytes).toString("latin1");
    if (this.text.length > this.limit * 2) this.text = this.text.slice(-this.limit);
  }

  get value(): string {
    return this.text.slice(-this.limit);
  }

  /** The line the cursor is on (usually a prompt), without terminal queries: redrawn on resume. */
  currentLine(): string {
    const text = this.value;
    const i = Math.max(text.lastIndexOf("\n"), text.lastIndexOf("\r"));
    // eslint-disable-next-line no-control-regex
    return text.slice(i + 1).replace(/\x1b\[6n/g, "").slice(-512);
  }

  /** The last few lines, printable, for an error message. */
  lastLines(n = 8): string {
    // eslint-disable-next-line no-control-regex
    return this.value.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").split(/\r?\n/).slice(-n).join("\n");
  }
}
