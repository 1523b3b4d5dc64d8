import { describe, expect, it } from "vitest";
import { TerminalModes } from "../../src/launcher/terminal-modes";

const b = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

describe("TerminalModes: what a full-screen app set on the user's terminal", () => {
  it("undoes the alternate screen, keypad, cursor keys and bracketed paste, leaving the alternate screen last", () => {
    const m = new TerminalModes();
    m.push(b("\x1b[?1049h\x1b[22;0;0t\x1b[?2004h\x1b[?1h\x1b="));
    expect(m.undo()).toBe("\x1b[m\x1b[r\x1b[?2004l\x1b[?1l\x1b>\x1b[?1049l");
    expect(m.redo()).toBe("\x1b[?1049h\x1b[?2004h\x1b[?1h\x1b=");
  });

  it("a sequence cut between two chunks still counts; modes the app turned off again are left alone", () => {
    const m = new TerminalModes();
    m.push(b("text\x1b[?10"));
    m.push(b("49h more"));
    m.push(b("\x1b[?2004h\x1b[?2004l"));
    expect(m.undo()).toBe("\x1b[m\x1b[r\x1b[?1049l");
  });

  it("nothing to undo for a plain shell", () => {
    const m = new TerminalModes();
    m.push(b("vmsfx:/mnt# ls\r\nhello.txt\r\n"));
    expect(m.undo()).toBe("");
    expect(m.redo()).toBe("");
  });
});
