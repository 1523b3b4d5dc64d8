/**
 * The modes a guest's full-screen app sets on the user's own terminal through the console
 * (alternate screen, cursor keys, keypad, bracketed paste, mouse reporting): undone when the
 * launcher leaves a running app (Ctrl-] q), so the user's shell is not left on a blank alternate
 * screen receiving mouse codes, and set again when that session resumes.
 */

/** Each tracked DEC private mode and its value on a terminal nobody has touched. */
const DEFAULTS: Record<number, boolean> = { 1: false, 25: true, 47: false, 1047: false, 1049: false, 1000: false, 1002: false, 1003: false, 1006: false, 1015: false, 2004: false };
const ALT_SCREEN = [47, 1047, 1049];
// eslint-disable-next-line no-control-regex
const MODE_SEQUENCE = /\x1b(?:\[\?([\d;]+)([hl])|([=>]))/g;
// eslint-disable-next-line no-control-regex
const UNFINISHED = /\x1b(\[[\d;?]*)?$/;

export class TerminalModes {
  private readonly modes = new Map<number, boolean>();
  private keypad = false;
  /** The start of a sequence cut by a chunk boundary. */
  private carry = "";

  push(bytes: Uint8Array): void {
    const text = this.carry + Buffer.from(bytes).toString("latin1");
    for (const m of text.matchAll(MODE_SEQUENCE)) {
      if (m[3]) this.keypad = m[3] === "=";
      else for (const n of m[1].split(";").map(Number)) if (n in DEFAULTS) this.modes.set(n, m[2] === "h");
    }
    this.carry = UNFINISHED.exec(text.slice(-24))?.[0] ?? "";
  }

  private changed(): [number, boolean][] {
    return [...this.modes].filter(([n, on]) => on !== DEFAULTS[n]);
  }

  /** What puts the terminal back as it was; the alternate screen is left last, after the rest. */
  undo(): string {
    const changed = this.changed();
    if (!changed.length && !this.keypad) return "";
    const alt = changed.filter(([n]) => ALT_SCREEN.includes(n));
    const rest = changed.filter(([n]) => !ALT_SCREEN.includes(n));
    return `\x1b[m${alt.length ? "\x1b[r" : ""}${rest.map(([n, on]) => `\x1b[?${n}${on ? "l" : "h"}`).join("")}${this.keypad ? "\x1b>" : ""}${alt.map(([n]) => `\x1b[?${n}l`).join("")}`;
  }

  /** What sets the app's modes again when its session resumes; the alternate screen first. */
  redo(): string {
    const changed = this.changed().sort(([a], [b]) => Number(ALT_SCREEN.includes(b)) - Number(ALT_SCREEN.includes(a)));
    return `${changed.map(([n, on]) => `\x1b[?${n}${on ? "h" : "l"}`).join("")}${this.keypad ? "\x1b=" : ""}`;
  }
}
