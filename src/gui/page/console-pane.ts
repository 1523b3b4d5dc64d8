import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import xtermCss from "@xterm/xterm/css/xterm.css";
import { leaveQueriesUnanswered } from "./terminal-queries";

/**
 * The console pane: the guest's serial console in xterm.js, a real terminal emulator, so that
 * full-screen programs (editors, top, menus) work in the page as on the user's terminal. The
 * terminal fills the pane, and its size is reported whenever it changes so the guest's console
 * can follow it.
 *
 * The terminal lives in a shadow root on the pane's element: xterm's stylesheet then styles only
 * the terminal, and the page's styles do not reach into it. The element's own (light) children
 * hold the console's text as plain lines, as the screen's text is kept beside its canvas: for
 * screen readers, copying the whole console, and tests.
 */

export interface ConsolePaneOptions {
  /** The page's CSP nonce: xterm adds <style> elements of its own, which need it. */
  nonce: string;
  /** What the user typed or pasted, as the terminal encodes it. */
  onData: (data: string) => void;
  /** The terminal's size changed. */
  onResize: (rows: number, cols: number) => void;
}

// The pane's text is rebuilt at most this often: it is for reading, not for every byte.
const TEXT_DELAY_MS = 100;
// Lines kept above the screen (the old pane kept 2000 too).
const SCROLLBACK = 2000;

const PANE_CSS = `
  :host { display: block; }
  .box { position: absolute; inset: 4px; overflow: hidden; }
`;

declare global {
  interface Window {
    /** The console's terminal, for tests that read its buffer. */
    vmsfxConsole?: Terminal;
  }
}

export class ConsolePane {
  readonly term: Terminal;
  private readonly fit = new FitAddon();
  private readonly text: HTMLElement;
  private textQueued = false;
  private fitQueued = false;

  constructor(host: HTMLElement, opts: ConsolePaneOptions) {
    stampStyleNonces(opts.nonce);
    const root = host.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = xtermCss + PANE_CSS;
    const box = document.createElement("div");
    box.className = "box";
    // The slot shows the light children (the text copy below) to screen readers, hidden by the page's sr-only class.
    root.append(style, box, document.createElement("slot"));
    this.text = document.createElement("pre");
    this.text.className = "sr-only";
    this.text.setAttribute("aria-live", "off");
    host.append(this.text);

    this.term = new Terminal({
      fontFamily: '"DejaVu Sans Mono", ui-monospace, monospace',
      fontSize: 14,
      scrollback: SCROLLBACK,
      theme: { background: "#0c0c0c", foreground: "#cfc", cursor: "#cfc" },
    });
    this.term.loadAddon(this.fit);
    leaveQueriesUnanswered(this.term);
    // Ctrl-V pastes and Ctrl-C over a selection copies, as the browser does, instead of sending
    // ^V and ^C; Ctrl-C with nothing selected is the guest's interrupt.
    this.term.attachCustomKeyEventHandler((e) => {
      if (!e.ctrlKey || e.altKey || e.metaKey || e.shiftKey) return true;
      const k = e.key.toLowerCase();
      return !(k === "v" || (k === "c" && this.term.hasSelection()));
    });
    this.term.onData(opts.onData);
    // Some mouse reports are bytes, not text; the serial line takes text only (UTF-8), and those
    // reports only occur for positions past column 95, so they are not sent.
    this.term.onResize(({ rows, cols }) => opts.onResize(rows, cols));
    this.term.onWriteParsed(() => this.queueText());
    this.term.open(box);
    this.refit();
    // Any change of the pane's size (the window resized, the screen above it changing mode) refits
    // the terminal, once per frame.
    new ResizeObserver(() => this.queueFit()).observe(box);
    // The font's metrics set the cell size; a font that loads late changes them.
    void document.fonts?.ready.then(() => this.refit());
    window.vmsfxConsole = this.term;
  }

  get rows(): number {
    return this.term.rows;
  }

  get cols(): number {
    return this.term.cols;
  }

  /** The guest's serial bytes (UTF-8; xterm joins a character split across messages). */
  write(bytes: Uint8Array): void {
    this.term.write(bytes);
  }

  focus(): void {
    this.term.focus();
  }

  private refit(): void {
    // A pane that is not laid out (a hidden page) has no size to fit to; fit() then does nothing.
    this.fit.fit();
  }

  private queueFit(): void {
    if (this.fitQueued) return;
    this.fitQueued = true;
    requestAnimationFrame(() => {
      this.fitQueued = false;
      this.refit();
    });
  }

  private queueText(): void {
    if (this.textQueued) return;
    this.textQueued = true;
    setTimeout(() => {
      this.textQueued = false;
      this.text.textContent = bufferText(this.term);
    }, TEXT_DELAY_MS);
  }
}

/** The terminal's lines as plain text: one line per row, rows the terminal wrapped joined again. */
function bufferText(term: Terminal): string {
  const buffer = term.buffer.active;
  const lines: string[] = [];
  for (let y = 0; y < buffer.length; y++) {
    const line = buffer.getLine(y);
    if (!line) continue;
    if (line.isWrapped && lines.length) lines[lines.length - 1] += line.translateToString(true);
    else lines.push(line.translateToString(true));
  }
  while (lines.length && lines[lines.length - 1] === "") lines.pop();
  return lines.join("\n");
}

/**
 * The page's Content-Security-Policy admits only <style> elements that carry its nonce, and
 * xterm.js creates its own (its renderer's colours and cell sizes) with no way to give them one.
 * Every <style> this document creates from now on gets the nonce, set before it is inserted,
 * which is when the browser checks it. Only the page's own script runs here (the policy admits
 * no other), so this admits nothing new.
 */
let stamped = false;
function stampStyleNonces(nonce: string): void {
  if (stamped) return;
  stamped = true;
  const create = document.createElement.bind(document);
  document.createElement = ((tagName: string, options?: ElementCreationOptions) => {
    const el = create(tagName, options);
    if (el instanceof HTMLStyleElement) el.setAttribute("nonce", nonce);
    return el;
  }) as typeof document.createElement;
}
