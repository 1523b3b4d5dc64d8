import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LinePacer } from "../../src/launcher/line-pacer";

const bytes = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

/** A pacer whose sends are recorded as strings. */
function pacer(pattern?: RegExp) {
  const sent: string[] = [];
  const p = new LinePacer((b) => sent.push(Buffer.from(b).toString("latin1")), 300, pattern);
  return { p, sent };
}

describe("LinePacer", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("an app starting with a ready pattern gets its first line at that prompt, never on a pause in its start-up", () => {
    const { p, sent } = pacer(/vmsfx:\/mnt# $/);
    p.startingApp();
    p.push(Buffer.from("echo 42\npoweroff\n"));
    p.output(bytes("vmsfx sample shell: /mnt is the data disk.\r\n"));
    // A slow machine pauses between the greeting and the prompt: not a cue.
    vi.advanceTimersByTime(5000);
    expect(sent).toEqual([]);
    p.output(bytes("vmsfx:/mnt# "));
    expect(sent).toEqual(["echo 42\n"]);
    p.output(bytes("echo 42\r\n42\r\nvmsfx:/mnt# "));
    expect(sent).toEqual(["echo 42\n", "poweroff\n"]);
    expect(p.unread().lines).toBe(0);
  });

  it("an app starting without a ready pattern gets its first line after quiet that follows output, or after long silence", () => {
    const quiet = pacer();
    quiet.p.startingApp();
    quiet.p.push(Buffer.from("hello\n"));
    quiet.p.output(bytes("Name? "));
    vi.advanceTimersByTime(299);
    expect(quiet.sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(quiet.sent).toEqual(["hello\n"]);
    const silent = pacer();
    silent.p.startingApp();
    silent.p.push(Buffer.from("data\n"));
    vi.advanceTimersByTime(1999);
    expect(silent.sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(silent.sent).toEqual(["data\n"]);
  });

  it("sends the first line at once and the next only at a prompt", () => {
    const { p, sent } = pacer();
    p.push(Buffer.from("ls\npwd\n"));
    expect(sent).toEqual(["ls\n"]);
    p.output(bytes("ls\r\nfile\r\nvmsfx:/# "));
    expect(sent).toEqual(["ls\n"]);
    p.prompt();
    expect(sent).toEqual(["ls\n", "pwd\n"]);
  });

  it("recognises a prompt by its pattern, and only in output that came after the line was sent", () => {
    const { p, sent } = pacer(/\n>>> $/);
    p.push(Buffer.from("6*7\nx = 1\n"));
    expect(sent).toEqual(["6*7\n"]);
    p.output(bytes("6*7\r"));
    p.output(bytes("\n42\r\n>>"));
    expect(sent).toEqual(["6*7\n"]);
    p.output(bytes("> "));
    expect(sent).toEqual(["6*7\n", "x = 1\n"]);
    // The echo of the new line is not a prompt, even though the old ">>> " is still on screen.
    p.output(bytes("x"));
    expect(sent).toEqual(["6*7\n", "x = 1\n"]);
  });

  it("counts two cues for one prompt (pattern, then the cursor query) once", () => {
    const { p, sent } = pacer(/vmsfx:\/mnt# (?:\x1b\[6n)?$/);
    p.push(Buffer.from("a\nb\nc\n"));
    p.output(bytes("a\r\nvmsfx:/mnt# "));
    expect(sent).toEqual(["a\n", "b\n"]);
    // The query arrives in the next chunk; it is no output of its own, so no second prompt.
    p.output(bytes("\x1b[6n"));
    p.prompt();
    expect(sent).toEqual(["a\n", "b\n"]);
    // The same when both are in one chunk: the pattern answers first, the query is ignored.
    p.output(bytes("b\r\nvmsfx:/mnt# \x1b[6n"));
    p.prompt();
    expect(sent).toEqual(["a\n", "b\n", "c\n"]);
  });

  it("a cursor query still works as the only cue, after output", () => {
    const { p, sent } = pacer(/\n>>> $/);
    p.push(Buffer.from("cd /\nls\n"));
    p.output(bytes("cd /\r\nvmsfx:/# \x1b[6n"));
    p.prompt();
    expect(sent).toEqual(["cd /\n", "ls\n"]);
  });

  it("sends the next line after quiet when no prompt comes, and restarts the wait on output", () => {
    const { p, sent } = pacer(/\n>>> $/);
    p.push(Buffer.from("input()\nhello\n"));
    vi.advanceTimersByTime(200);
    p.output(bytes("input()\r\n"));
    vi.advanceTimersByTime(200);
    expect(sent).toEqual(["input()\n"]);
    vi.advanceTimersByTime(150);
    expect(sent).toEqual(["input()\n", "hello\n"]);
  });

  it("when the input has ended, reports it drained at the prompt after the last line, once", () => {
    const { p, sent } = pacer(/\n>>> $/);
    let drained = 0;
    p.push(Buffer.from("6*7\n"));
    p.end(() => drained++);
    expect(sent).toEqual(["6*7\n"]);
    expect(drained).toBe(0);
    p.output(bytes("6*7\r\n42\r\n>>> "));
    expect(drained).toBe(0); // the guest must stay quiet at its prompt for a moment
    vi.advanceTimersByTime(300);
    expect(drained).toBe(1);
    p.prompt();
    vi.advanceTimersByTime(1000);
    expect(drained).toBe(1);
    expect(sent).toEqual(["6*7\n"]);
  });

  it("output right after the prompt (a shutdown's messages after `poweroff`) calls the end off until the next prompt", () => {
    const { p } = pacer();
    let drained = 0;
    p.push(Buffer.from("poweroff\n"));
    p.end(() => drained++);
    p.output(bytes("vmsfx:/mnt# "));
    p.prompt();
    vi.advanceTimersByTime(100);
    p.output(bytes("The system is going down NOW!\r\n"));
    vi.advanceTimersByTime(5000);
    expect(drained).toBe(0);
  });

  it("quiet after the last line is not a prompt: a guest shutting down is not suspended", () => {
    const { p } = pacer();
    let drained = 0;
    p.push(Buffer.from("poweroff\n"));
    p.end(() => drained++);
    p.output(bytes("The system is going down NOW!\r\n"));
    vi.advanceTimersByTime(5000);
    expect(drained).toBe(0);
    p.prompt();
    vi.advanceTimersByTime(300);
    expect(drained).toBe(1);
  });

  it("a prompt that comes after quiet already released the pacer still ends the input", () => {
    const { p } = pacer(/\n>>> $/);
    let drained = 0;
    p.push(Buffer.from("6*7\n"));
    p.end(() => drained++);
    vi.advanceTimersByTime(1000); // a slow guest: quiet before it even echoed
    expect(drained).toBe(0);
    p.output(bytes("6*7\r\n42\r\n>>> "));
    vi.advanceTimersByTime(300);
    expect(drained).toBe(1);
  });

  it("drains at once when the input was empty and the guest waits at its prompt", () => {
    const { p, sent } = pacer();
    let drained = 0;
    p.end(() => drained++);
    vi.advanceTimersByTime(300);
    expect(drained).toBe(1);
    expect(sent).toEqual([]);
  });

  it("sends nothing after close", () => {
    const { p, sent } = pacer();
    p.push(Buffer.from("a\nb\n"));
    p.close();
    p.prompt();
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual(["a\n"]);
  });

  describe("regression: input typed into a launch could vanish (issue 11)", () => {
    it("once the output's reader has gone, delivers nothing more and settles at the prompt after the line in flight", () => {
      const { p, sent } = pacer();
      let settled = 0;
      p.push(Buffer.from("echo ok-42\npoweroff\n"));
      expect(sent).toEqual(["echo ok-42\n"]);
      p.stopAtNextPrompt(() => settled++);
      p.push(Buffer.from("more\n"));
      p.output(bytes("echo ok-42\r\nok-42\r\nvmsfx:/mnt# "));
      p.prompt();
      vi.advanceTimersByTime(300);
      expect(settled).toBe(1);
      expect(sent).toEqual(["echo ok-42\n"]); // `poweroff` never reached the guest
      expect(p.unread()).toEqual({ lines: 0, first: undefined });
    });

    it("a prompt cancels the pending quiet cue: a line that comes later is still sent at the prompt", () => {
      const { p, sent } = pacer();
      p.push(Buffer.from("echo end\n"));
      p.output(bytes("echo end\r\nend\r\n"));
      p.output(bytes("vmsfx:/mnt# "));
      p.prompt();
      vi.advanceTimersByTime(1000); // the user types the next line a second later
      p.push(Buffer.from("poweroff\n"));
      expect(sent).toEqual(["echo end\n", "poweroff\n"]);
      expect(p.unread()).toEqual({ lines: 0, first: undefined });
    });

    it("a line sent on quiet is unread until the prompt shows again; the rest of the input is unread too", () => {
      const { p, sent } = pacer();
      p.push(Buffer.from("poweroff\necho never-ran\necho nor-this\n"));
      p.output(bytes("poweroff\r\nvmsfx-init: powering off\r\n"));
      vi.advanceTimersByTime(300);
      expect(sent).toEqual(["poweroff\n", "echo never-ran\n"]);
      expect(p.unread()).toEqual({ lines: 2, first: "echo never-ran" });
    });

    it("the line sent at a prompt is read; a quiet line is confirmed by the prompt's text redrawn with type-ahead", () => {
      const { p, sent } = pacer();
      p.resumedAfter("\r\nvmsfx:/mnt# \x1b[6n"); // what the resumed guest showed last: its prompt
      p.push(Buffer.from("sleep 1\npoweroff\n"));
      p.output(bytes("sleep 1\r\n"));
      vi.advanceTimersByTime(300);
      expect(sent).toEqual(["sleep 1\n", "poweroff\n"]);
      expect(p.unread().lines).toBe(1);
      // busybox finds the typed-ahead line and redraws prompt and line, without a cursor query
      p.output(bytes("poweroff\r\nvmsfx:/mnt# poweroff\r\n"));
      expect(p.unread()).toEqual({ lines: 0, first: undefined });
    });

    it("regression: the prompt that reads a line typed ahead is not a prompt for the next line (sqlite quit with a line unread, exit 0)", () => {
      // Seen in CI under load: `.quit` went out on quiet while sqlite still ran the line before;
      // its prompt then read `.quit`, and `select 'never';` was sent "at a prompt" and counted read.
      const { p, sent } = pacer(/sqlite> $/);
      p.resumedAfter("\r\nsqlite> ");
      p.push(Buffer.from("create table u(x);\n.quit\nselect 'never';\n"));
      p.output(bytes("create table u(x);\r\n"));
      vi.advanceTimersByTime(300);
      expect(sent).toEqual(["create table u(x);\n", ".quit\n"]);
      p.output(bytes(".quit\r\n")); // the tty echoes the typed-ahead line
      p.output(bytes("sqlite> "));
      p.output(bytes(".quit\r\n")); // readline draws the line it reads at this prompt
      expect(sent).toHaveLength(2);
      vi.advanceTimersByTime(300); // sqlite has quit: quiet now is not a prompt
      expect(p.unread()).toEqual({ lines: 1, first: "select 'never';" });
    });

    it("a line typed ahead in raw mode (no tty echo) is confirmed by the line editor drawing it at its prompt", () => {
      const { p, sent } = pacer(/vmsfx:\/mnt# (?:\x1b\[6n)?$/);
      p.resumedAfter("\r\nvmsfx:/mnt# ");
      p.push(Buffer.from("echo slow\npoweroff\n"));
      vi.advanceTimersByTime(300);
      expect(sent).toEqual(["echo slow\n", "poweroff\n"]);
      p.output(bytes("echo slow\r\nslow\r\nvmsfx:/mnt# "));
      p.output(bytes("poweroff\r\n"));
      expect(p.unread()).toEqual({ lines: 0, first: undefined });
      p.output(bytes("vmsfx-init: powering off\r\n"));
      vi.advanceTimersByTime(300);
      expect(p.unread()).toEqual({ lines: 0, first: undefined });
    });

    it("a prompt after a line read without one waits for the next line: quiet there is a prompt at rest", () => {
      const { p, sent } = pacer(/\n>>> $/);
      p.resumedAfter("\r\n>>> ");
      p.push(Buffer.from("x = input()\nhello\nprint(x)\n"));
      p.output(bytes("x = input()\r\n"));
      vi.advanceTimersByTime(300); // input() shows no prompt
      expect(sent).toEqual(["x = input()\n", "hello\n"]);
      p.output(bytes("hello\r\n>>> "));
      expect(sent).toHaveLength(2); // not yet: the prompt might be reading a typed-ahead line
      vi.advanceTimersByTime(300);
      expect(sent).toEqual(["x = input()\n", "hello\n", "print(x)\n"]);
      expect(p.unread()).toEqual({ lines: 0, first: undefined });
      let drained = 0;
      p.end(() => drained++);
      p.output(bytes("print(x)\r\nhello\r\n>>> "));
      vi.advanceTimersByTime(300);
      expect(drained).toBe(1);
    });

    it("a line sent on quiet is confirmed by the prompt pattern once its echo has shown", () => {
      const { p, sent } = pacer(/\n>>> $/);
      p.resumedAfter("\r\n>>> ");
      p.push(Buffer.from("import time; time.sleep(1)\nprint(6*7)\n"));
      p.output(bytes("import time; time.sleep(1)\r\n"));
      vi.advanceTimersByTime(300);
      expect(sent).toHaveLength(2);
      p.output(bytes("print(6*7)\r\n")); // the tty's echo while Python sleeps
      expect(p.unread().lines).toBe(1);
      p.output(bytes("\r\n>>> "));
      expect(p.unread()).toEqual({ lines: 0, first: undefined });
    });

    it("regression: once the guest has counted what the app never read, that count decides, not the prompts seen (false exit 32 under load)", () => {
      // CI under load: both lines ran, but their prompts came in a shape the cues missed, so the
      // launcher said "2 lines, starting with \"echo end-2\" did not run" after a clean poweroff.
      const { p, sent } = pacer(/vmsfx:\/mnt# $/);
      p.resumedAfter("\r\nvmsfx:/mnt# ");
      p.push(Buffer.from("cat /mnt/who.txt\necho end-2\npoweroff\n"));
      p.output(bytes("cat /mnt/who.txt\r\n"));
      vi.advanceTimersByTime(300);
      vi.advanceTimersByTime(300);
      expect(sent).toHaveLength(3);
      expect(p.unread().lines).toBe(2); // the guess
      p.appEnded(0);
      expect(p.unread()).toEqual({ lines: 0, first: undefined });
    });

    it("the guest's count of unread bytes names the lines it held, then the lines never sent; nothing is typed after the app ended", () => {
      const { p, sent } = pacer();
      p.push(Buffer.from("poweroff\necho never-ran\necho nor-this\n"));
      p.output(bytes("poweroff\r\n"));
      vi.advanceTimersByTime(300);
      expect(sent).toEqual(["poweroff\n", "echo never-ran\n"]);
      p.appEnded("echo never-ran\n".length);
      p.push(Buffer.from("echo late\n"));
      vi.advanceTimersByTime(1000);
      expect(sent).toHaveLength(2);
      expect(p.unread()).toEqual({ lines: 3, first: "echo never-ran" });
    });
  });
});
