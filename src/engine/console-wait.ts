import type { VmsfxError } from "../errors";
import type { GuestHost } from "./engine-host";
import { SerialTail } from "./terminal-answerer";

/**
 * Waiting on the guest's serial console, for capture (snapshot/) and the launch (launcher/) alike:
 * until it shows a pattern, or until it has been quiet for a while after output. Event-driven:
 * the wait listens to the engine's `serial` (and, if asked, `fatal`) events and lets go of them
 * on every way out (met, timed out, failed, called off).
 */

/** What the wait listens to: a GuestHost, or a fake in a test. */
export type ConsoleEvents = Pick<GuestHost, "on">;

export type ConsoleCondition =
  /** The console shows `pattern`: the text so far (`seen`) and what comes, across chunk boundaries. */
  | { pattern: RegExp; seen?: SerialTail }
  /**
   * No output for `quietMs` after some output: after `lastOutputAt` (ms since the epoch) if output
   * came before the wait, else after the first output during it.
   */
  | { quietMs: number; lastOutputAt?: number };

export interface ConsoleWaitOptions {
  /** Give up after this long (resolving "timeout"); none: wait as long as it takes. */
  timeoutMs?: number;
  /** Reject with the engine's own failure: one that came before the wait, or its `fatal` event. */
  failed?: () => VmsfxError | undefined;
  /**
   * Called off from outside (the app exited while it was awaited): rejects with the signal's
   * reason, as Node's own waits do, so the caller's reason is the error the user sees.
   */
  signal?: AbortSignal;
}

export type ConsoleWaitResult = "met" | "timeout";

export function waitForConsole(host: ConsoleEvents, until: ConsoleCondition, o: ConsoleWaitOptions = {}): Promise<ConsoleWaitResult> {
  return new Promise((resolve, reject) => {
    // Listeners to take off and timers to clear, whichever way the wait ends.
    const cleanups: (() => void)[] = [];
    let settled = false;
    const finish = (then: () => void) => {
      if (settled) return;
      settled = true;
      for (const c of cleanups) c();
      then();
    };
    const met = () => finish(() => resolve("met"));
    const onChunk = "pattern" in until ? patternWatch(until.pattern, until.seen, met) : quietWatch(until.quietMs, until.lastOutputAt, met, cleanups);
    if (settled) return;
    const earlier = o.failed?.();
    if (earlier) return finish(() => reject(earlier));
    if (o.signal?.aborted) return finish(() => reject(o.signal!.reason));
    cleanups.push(host.on("serial", onChunk));
    if (o.failed) cleanups.push(host.on("fatal", (e) => finish(() => reject(e))));
    if (o.signal) {
      const signal = o.signal;
      const onAbort = () => finish(() => reject(signal.reason));
      signal.addEventListener("abort", onAbort, { once: true });
      cleanups.push(() => signal.removeEventListener("abort", onAbort));
    }
    if (o.timeoutMs !== undefined) {
      const timer = setTimeout(() => finish(() => resolve("timeout")), Math.max(0, o.timeoutMs));
      cleanups.push(() => clearTimeout(timer));
    }
  });
}

/** Checks what was seen (if given) at once, then the console after every chunk. */
function patternWatch(pattern: RegExp, seen: SerialTail | undefined, met: () => void): (bytes: Uint8Array) => void {
  const tail = new SerialTail();
  if (seen) {
    tail.push(Buffer.from(seen.value, "latin1"));
    if (pattern.test(tail.value)) met();
  }
  return (bytes) => {
    tail.push(bytes);
    if (pattern.test(tail.value)) met();
  };
}

/** Re-arms one timer on every chunk; the wait clears it (through `cleanups`) on every way out. */
function quietWatch(quietMs: number, lastOutputAt: number | undefined, met: () => void, cleanups: (() => void)[]): (bytes: Uint8Array) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  cleanups.push(() => clearTimeout(timer));
  const arm = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(met, ms);
  };
  if (lastOutputAt !== undefined) {
    const left = lastOutputAt + quietMs - Date.now();
    if (left <= 0) met();
    else arm(left);
  }
  return () => arm(quietMs);
}
