/**
 * Piped input, one line at a time. A guest tty echoes whatever arrives while a command still
 * runs, so a script's lines would be interleaved with its own output. Like `expect`, we send the
 * next line when the guest asks for input, or when it has been quiet for a moment (a program
 * reading stdin shows no prompt). Two prompt cues exist: busybox's line editor queries the cursor
 * at every prompt (the console reports that through `prompt()`), and other programs, such as
 * Python's REPL (`>>> `), are recognised by `promptPattern`, tested against the output since the
 * last line was sent (the recipe's ready pattern is usually exactly that prompt).
 */

// Terminal control sequences are not something the guest says; a cursor query on its own must
// not count as output (it may trail a prompt `promptPattern` already recognised).
// eslint-disable-next-line no-control-regex
const CONTROL_SEQUENCE = /\x1b\[[0-9;?]*[A-Za-z]/g;
const MATCH_WINDOW = 1024;
/**
 * How long the guest must stay quiet at its prompt before ended input detaches: a shell prints a
 * prompt right after `poweroff` too, and the shutdown's own messages that follow call it off.
 */
const SETTLE_MS = 250;
/** A longer last line is output, not a prompt. */
const MAX_PROMPT = 80;
/** A Linux tty holds at most 4 KiB of unread input: older lines sent were read or dropped. */
const SENT_KEPT = 8192;

/** Input the guest may not have read when it stopped: how many lines, and the first of them. */
export interface UnreadInput {
  lines: number;
  first?: string;
}

export class LinePacer {
  private queue: Buffer = Buffer.alloc(0);
  private ready = true;
  private idle: NodeJS.Timeout | undefined;
  private ended = false;
  /** Output since the last line was sent, for the prompt pattern (last MATCH_WINDOW chars). */
  private sinceSend = "";
  /** Whether the guest printed anything since the last line was sent: one prompt per line. */
  private spoke = false;
  /** Set once the input has ended: called at the first prompt after the last line. */
  private onDrained: (() => void) | undefined;
  /** The guest's last readiness came from a prompt, not from quiet (a shutdown is quiet too). */
  private atPrompt = true;
  private settle: NodeJS.Timeout | undefined;
  /** The last 1 KiB the guest showed, without control sequences: where a prompt's text is read from. */
  private recent = "";
  /** The text of the guest's last prompt (`vmsfx:/mnt# `, `>>> `). */
  private promptText: string | undefined;
  /** What the guest showed since the last unconfirmed line was sent. */
  private sinceUnconfirmed = "";
  /**
   * A prompt came while lines sent on quiet were unconfirmed: it may be the prompt that reads the
   * first of them (typed ahead), not one waiting for more. What the guest shows right after it
   * decides: that line's text (the line editor drawing the typed-ahead line) means the prompt is
   * spent on it; nothing at all means it waits for the next line. Seen in CI under load: sqlite's
   * prompt came back after `.quit` had been sent on quiet, the next line went out "at a prompt",
   * and the app quit without reading it while the launcher believed it had.
   */
  private afterPrompt: { key: string; seen: string } | undefined;
  /** No more input is taken (the output's reader has gone). */
  private stopped = false;
  /** An app is starting: only its ready pattern (or the long fallback) lets the first line go. */
  private awaitingReady = false;
  /**
   * Lines sent on quiet rather than at a prompt, since the guest last asked for input. Until a
   * prompt follows, nobody knows they were read: a guest that is shutting down is quiet too, and
   * its tty echoes what it will never read.
   */
  private unconfirmed = { lines: 0, first: undefined as string | undefined };
  /** The lines sent, newest last, as far back as a guest's tty could still hold them unread. */
  private sent: string[] = [];
  private sentBytes = 0;
  /** The app has ended, and the guest counted this many typed bytes it never read. */
  private guestUnread: number | undefined;

  constructor(
    private readonly send: (bytes: Uint8Array) => void,
    private readonly quietMs = 300,
    private readonly promptPattern?: RegExp,
  ) {}

  /** A resumed guest waits where the user left it: what it showed last (its prompt) is known. */
  resumedAfter(screen: string): void {
    this.recent = screen.replace(CONTROL_SEQUENCE, "").slice(-MATCH_WINDOW);
    this.becomeReady(true);
  }

  /**
   * An app is about to start (a `vmsfx build` app after a resume): its first line waits for its
   * ready pattern (the prompt the build's trial run saw), or, when it has none, for quiet once it
   * has printed something, or for `silentMs` of nothing at all (a program that shows no prompt).
   * Quiet is no cue while a ready pattern is awaited: a slow machine pauses mid-start-up, and a
   * line sent then is echoed by the console ahead of the app and may never be seen as read.
   */
  startingApp(silentMs = this.promptPattern ? 120_000 : 2000): void {
    this.ready = false;
    this.atPrompt = false;
    this.spoke = false;
    this.sinceSend = "";
    this.awaitingReady = this.promptPattern !== undefined;
    this.idle = setTimeout(() => this.becomeReady(false), silentMs);
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    this.queue = Buffer.concat([this.queue, chunk]);
    this.release();
  }

  /** The guest printed something: it is busy, so restart the quiet timer. */
  output(bytes?: Uint8Array): void {
    if (this.ended) return;
    if (bytes) {
      const text = Buffer.from(bytes).toString("latin1");
      const visible = text.replace(CONTROL_SEQUENCE, "");
      if (this.afterPrompt) return this.decideAfterPrompt(visible);
      this.noteVisible(visible);
      if (this.afterPrompt) return;
      if (visible.length > 0) {
        this.spoke = true;
        if (this.settle) {
          // Not the end after all: wait for the prompt that follows this output.
          clearTimeout(this.settle);
          this.settle = undefined;
          this.atPrompt = false;
          this.sinceSend = "";
        }
      }
      // Also after quiet made us ready: the prompt that follows is what ends piped input.
      if (this.promptPattern && !this.atPrompt) {
        this.sinceSend = (this.sinceSend + text).slice(-MATCH_WINDOW);
        if (this.promptPattern.test(this.sinceSend)) return this.prompt();
      }
    } else {
      this.spoke = true;
    }
    if (this.ready || this.awaitingReady) return;
    this.armIdle();
  }

  /** The guest showed a prompt. A second cue for the same prompt is ignored. */
  prompt(): void {
    if (!this.ready && !this.spoke) return;
    if (this.unconfirmed.lines > 0) return this.awaitAfterPrompt();
    this.becomeReady(true);
  }

  /**
   * The input has ended: once every line is sent and the guest shows its prompt again, call
   * `drained` once. The launcher then suspends the guest where it waits, so the next run goes on
   * from there. (A Ctrl-D would end the guest's shell or REPL and power it off, and a powered-off
   * guest cold-boots next time.) Only a prompt counts: quiet may be a guest shutting down.
   */
  end(drained: () => void): void {
    if (this.stopped) return;
    this.onDrained = drained;
    this.release();
  }

  /**
   * Whoever reads the guest's output has gone (`… | grep -q`): deliver nothing more, since nobody
   * would see its answer, and call `settled` once the line already delivered has run and the
   * guest waits at its prompt again. Suspending before that would save a guest with the line
   * still pending, and the next launch would run it first (issue 11: a delivered `poweroff`
   * swallowed the next launch's input).
   */
  stopAtNextPrompt(settled: () => void): void {
    if (this.stopped) return;
    this.queue = Buffer.alloc(0);
    this.end(settled);
    this.stopped = true;
  }

  /**
   * The app has ended, and the guest counted the typed bytes it never read: from now on what was
   * read is known rather than guessed, and nothing more is typed (input that still arrives is
   * kept, to be counted as never run).
   */
  appEnded(unreadBytes: number): void {
    this.guestUnread = unreadBytes;
    this.close();
  }

  /**
   * What the guest may never have read, then the input not yet sent. Once the guest has counted
   * it (`appEnded`), the last that many bytes sent; before, the lines sent on quiet since its
   * last prompt.
   */
  unread(): UnreadInput {
    let pending = 0;
    for (let at = 0; at < this.queue.length; at = this.queue.indexOf(0x0a, at) + 1 || this.queue.length) pending++;
    const nl = this.queue.indexOf(0x0a);
    const next = pending ? this.queue.subarray(0, nl < 0 ? this.queue.length : nl).toString("latin1") : undefined;
    const sentUnread = this.guestUnread === undefined ? this.unconfirmed : this.lastSent(this.guestUnread);
    return { lines: sentUnread.lines + pending, first: sentUnread.first ?? next };
  }

  /** The sent lines that hold the last `bytes` bytes sent. */
  private lastSent(bytes: number): { lines: number; first?: string } {
    let lines = 0;
    let first: string | undefined;
    for (let i = this.sent.length - 1; i >= 0 && bytes > 0; i--, lines++) {
      bytes -= this.sent[i].length;
      first = this.sent[i].replace(/\n$/, "");
    }
    return { lines, first };
  }

  private remember(line: string): void {
    this.sent.push(line);
    this.sentBytes += line.length;
    while (this.sentBytes - this.sent[0].length >= SENT_KEPT) this.sentBytes -= this.sent.shift()!.length;
  }

  close(): void {
    this.ended = true;
    if (this.idle) clearTimeout(this.idle);
    if (this.settle) clearTimeout(this.settle);
  }

  /** The prompt reads the lines sent on quiet; whether it waits for more is decided by what follows. */
  private awaitAfterPrompt(): void {
    const key = echoKey(this.unconfirmed.first ?? "");
    this.unconfirmed = { lines: 0, first: undefined };
    this.ready = false;
    this.atPrompt = false;
    this.spoke = false;
    this.sinceSend = "";
    if (key === "") return this.becomeReady(true);
    this.afterPrompt = { key, seen: "" };
    this.armIdle();
  }

  /** Output after a prompt that may be spent on a typed-ahead line. */
  private decideAfterPrompt(visible: string): void {
    const check = this.afterPrompt!;
    check.seen = (check.seen + visible).replace(/^[ \t]+/, "");
    // Nothing visible yet, or the start of the line so far: keep watching (quiet decides).
    if (check.seen === "" || (check.seen.length < check.key.length && check.key.startsWith(check.seen))) return;
    // The typed-ahead line drawn at the prompt (spent: the prompt after it is the next cue) or
    // other output (not a prompt at rest): either way the next prompt or quiet decides.
    this.afterPrompt = undefined;
    this.noteVisible(visible);
    this.spoke = true;
    this.armIdle();
  }

  /**
   * Lines sent on quiet are confirmed when the guest shows its prompt again after them. A busybox
   * shell that finds typed-ahead input redraws its prompt with the line and asks nothing, so the
   * prompt's text reappearing counts as well as a cue.
   */
  private noteVisible(visible: string): void {
    this.recent = (this.recent + visible).slice(-MATCH_WINDOW);
    if (this.unconfirmed.lines === 0 || !this.promptText) return;
    this.sinceUnconfirmed = (this.sinceUnconfirmed + visible).slice(-MATCH_WINDOW);
    const at = this.sinceUnconfirmed.lastIndexOf(this.promptText);
    if (at < 0) return;
    const rest = this.sinceUnconfirmed.slice(at + this.promptText.length);
    this.awaitAfterPrompt();
    if (this.afterPrompt && rest) this.decideAfterPrompt(rest);
  }

  private becomeReady(atPrompt: boolean): void {
    this.awaitingReady = false;
    // Quiet only stands in for a prompt that has not come: once ready, a pending quiet cue is
    // stale, and firing later it would mark the guest as not at its prompt (issue 11).
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
    if (atPrompt) {
      const line = this.recent.slice(this.recent.lastIndexOf("\n") + 1).replace(/\r/g, "");
      if (line.trim().length > 0 && line.length <= MAX_PROMPT) this.promptText = line;
      // The guest came back for input after reading whatever it was sent on quiet.
      this.unconfirmed = { lines: 0, first: undefined };
    }
    this.ready = true;
    this.atPrompt = atPrompt;
    this.release();
  }

  private release(): void {
    if (!this.ready || this.ended) return;
    if (this.queue.length === 0) {
      if (!this.onDrained || !this.atPrompt || this.settle) return;
      const drained = this.onDrained;
      this.settle = setTimeout(() => {
        this.close();
        drained();
      }, SETTLE_MS);
      return;
    }
    const nl = this.queue.indexOf(0x0a);
    const n = nl < 0 ? this.queue.length : nl + 1;
    const line = this.queue.subarray(0, n);
    this.queue = this.queue.subarray(n);
    if (!this.atPrompt) {
      this.unconfirmed.lines++;
      this.unconfirmed.first ??= line.toString("latin1").replace(/\n$/, "");
      this.sinceUnconfirmed = "";
    }
    this.ready = false;
    this.atPrompt = false;
    this.spoke = false;
    this.sinceSend = "";
    this.remember(line.toString("latin1"));
    this.send(new Uint8Array(line));
    this.armIdle();
  }

  private armIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    // Quiet is a cue of its own: a program reading stdin may print nothing at all. Quiet right
    // after a prompt means that prompt waits for the next line.
    this.idle = setTimeout(() => {
      const atRest = this.afterPrompt?.seen === "";
      this.afterPrompt = undefined;
      this.becomeReady(atRest);
    }, this.quietMs);
  }
}

/** The start of a line, as a line editor draws it when it reads the line typed ahead. */
function echoKey(line: string): string {
  return (/^[\x20-\x7e]*/.exec(line)?.[0] ?? "").trim().slice(0, 16);
}
