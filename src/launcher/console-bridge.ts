import type { GuestHost } from "../engine/engine-host";
import { TerminalAnswerer } from "./terminal-answerer";
import { LinePacer, type UnreadInput } from "./line-pacer";

/**
 * Joins the guest's serial console to the user's terminal. On a TTY: raw mode, every key goes to
 * the guest, and Ctrl-] then q detaches (Ctrl-] twice sends one Ctrl-]). With piped stdin: lines
 * are paced at the guest's prompts, its terminal queries are answered for it, and (unless told
 * otherwise) the end of the input detaches at the next prompt, which suspends the guest.
 */

const ESCAPE = 0x1d; // Ctrl-]

export interface ConsoleOptions {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  onDetach: () => void;
  /** Piped input is held until this resolves (a cold boot waits for the guest's prompt). */
  inputGate?: Promise<void>;
  /** The guest's prompt, as a cue for piped input besides busybox's cursor query (the recipe's ready pattern). */
  promptPattern?: RegExp;
  /** What the resumed guest showed last (its prompt), so the pacer knows the prompt's text; none for a cold boot. */
  resumedScreen?: string;
  /** The guest's app starts now (protocol 2): piped input waits for its first prompt. */
  appStarting?: boolean;
  /** Piped input: when it ends, detach at the guest's next prompt (else keep running). */
  detachAtEndOfInput?: boolean;
}

export interface ConsoleBridge {
  readonly interactive: boolean;
  /**
   * The reader of our output went away: nothing more is written or delivered, and `settled` is
   * called once the guest is back at its prompt (at once on a terminal, where nothing is paced).
   */
  outputGone(settled: () => void): void;
  /** Piped input the guest may not have read (nothing on a terminal). */
  unread(): UnreadInput;
  /** The app has ended with this many typed bytes unread (the guest counted them): type nothing more. */
  appEnded(unreadBytes: number): void;
  close(): void;
}

export function attachConsole(host: GuestHost, opts: ConsoleOptions): ConsoleBridge {
  const interactive = opts.stdin.isTTY === true;
  const pacer = interactive ? undefined : new LinePacer((b) => host.input(b), undefined, opts.promptPattern);
  if (opts.appStarting) pacer?.startingApp();
  else if (opts.resumedScreen !== undefined) pacer?.resumedAfter(opts.resumedScreen);
  const prompts = interactive ? undefined : new TerminalAnswerer(undefined, () => pacer?.prompt());
  // Once closed, guest output is no longer the user's: after an app run (`./app -- ARGS`) the
  // guest's shell redraws its prompt, which is not part of the app's output.
  let closed = false;
  let outputGone = false;
  host.on("serial", (bytes) => {
    if (closed) return;
    if (outputGone) return void pacer?.output(bytes);
    pacer?.output(bytes);
    opts.stdout.write(prompts ? prompts.observe(bytes) : bytes);
  });
  let escaped = false;
  let held: Buffer[] | undefined = opts.inputGate ? [] : undefined;
  opts.inputGate?.then(() => {
    for (const c of held ?? []) pacer?.push(c);
    held = undefined;
  });
  const onData = (chunk: Buffer) => {
    if (held && !interactive) return void held.push(chunk);
    if (pacer) return pacer.push(chunk);
    const out: number[] = [];
    for (const b of chunk) {
      if (escaped) {
        escaped = false;
        if (b === 0x71 || b === 0x51) return opts.onDetach(); // q
        if (b === ESCAPE) out.push(ESCAPE);
        else opts.stderr.write("\r\n[vmsfx] Ctrl-] then q: stop   Ctrl-] Ctrl-]: send Ctrl-]\r\n");
        continue;
      }
      if (b === ESCAPE) escaped = true;
      else out.push(b);
    }
    if (out.length) host.input(Uint8Array.from(out));
  };
  if (interactive) opts.stdin.setRawMode(true);
  // After held input (a cold boot's) has been queued, so the end never overtakes it.
  const onEnd = () => void (opts.inputGate ?? Promise.resolve()).then(() => pacer?.end(opts.onDetach));
  if (pacer && opts.detachAtEndOfInput) opts.stdin.on("end", onEnd);
  opts.stdin.on("data", onData);
  opts.stdin.resume();
  return {
    interactive,
    outputGone(settled) {
      outputGone = true;
      opts.stdin.off("data", onData);
      opts.stdin.off("end", onEnd);
      if (pacer) pacer.stopAtNextPrompt(settled);
      else settled();
    },
    unread: () => pacer?.unread() ?? { lines: 0 },
    appEnded: (unreadBytes) => pacer?.appEnded(unreadBytes),
    close() {
      if (closed) return;
      closed = true;
      pacer?.close();
      opts.stdin.off("data", onData);
      opts.stdin.off("end", onEnd);
      if (interactive) opts.stdin.setRawMode(false);
      opts.stdin.pause();
    },
  };
}
