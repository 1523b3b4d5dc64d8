import type { VmsfxError } from "../errors";
import type { ExitReason } from "../engine/engine-protocol";
import type { GuestHost } from "../engine/engine-host";
import type { Disposer } from "./disposer";
import { outputClosed } from "./report-error";

/** Why a session ended: the guest's own exit, or what the launcher saw. */
export type EndReason = ExitReason | "detached" | "signal" | "session-limit" | "app-exit" | "app-quit";

/** The one place a session's end is decided: the first reason wins, later ones are moot. */
export class SessionEnd {
  readonly reason: Promise<EndReason>;
  /** The engine's fatal error, if that is what ended the session (thrown once the front-ends are closed). */
  fatal?: VmsfxError;
  readonly finish: (reason: EndReason) => void;

  constructor() {
    let finish!: (reason: EndReason) => void;
    this.reason = new Promise((resolve) => (finish = resolve));
    this.finish = finish;
  }

  /** Ends the session when the guest exits or the engine fails. */
  listen(host: Pick<GuestHost, "on">): void {
    host.on("exit", (reason) => this.finish(reason));
    host.on("fatal", (e) => {
      this.fatal = e;
      this.finish("poweroff");
    });
  }
}

export interface WatchOptions {
  /** The publisher's session limit. */
  sessionLimitMs?: number;
  /** Suspend after this long (`vmsfx record`). */
  maxRunMs?: number;
  /** The reader of our output went away: stop input, and call `settled` once the guest is at its prompt. */
  outputGone(settled: () => void): void;
  /** A poweroff inside the guest is quitting the app: its end is near, and no grace cuts it short. */
  quitting?: () => boolean;
}

/**
 * How long a launch whose output's reader has gone waits for the guest to finish the line it was
 * already given and show its prompt, before it suspends the guest wherever it is. Only a bound
 * for a line that never ends: suspending while the line still runs lets the next launch start by
 * running the rest of it. 5 s was too short on a loaded machine for a delivered `poweroff` to
 * reach the point where the guest says it is quitting (CI: the next launch resumed a half-quit
 * app, which lost that launch's input).
 */
export const OUTPUT_GONE_GRACE_MS = 30_000;

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * What else ends a session: a signal, a time limit, the output's reader going away. The
 * handlers stay until `owner` is disposed, after the save: once saving has begun, further
 * signals wait for it to finish (a kill -9 is still safe: the previous resume point stays until
 * the new one is complete). The timers stop when the session ends.
 */
export function watchSession(end: SessionEnd, owner: Disposer, o: WatchOptions): void {
  const timers: NodeJS.Timeout[] = [];
  const after = (ms: number, reason: EndReason) => void timers.push(setTimeout(() => end.finish(reason), ms));
  const stopTimers = () => timers.splice(0).forEach(clearTimeout);
  owner.ownSync(stopTimers);
  void end.reason.then(stopTimers);
  if (o.sessionLimitMs !== undefined) after(o.sessionLimitMs, "session-limit");
  if (o.maxRunMs !== undefined) after(o.maxRunMs, "detached");
  const onSignal = () => end.finish("signal");
  for (const s of SIGNALS) process.on(s, onSignal);
  owner.ownSync(() => {
    for (const s of SIGNALS) process.off(s, onSignal);
  });
  // The reader went away (`| grep -q`): no more input goes in, and the guest is suspended once
  // the line it already got has run, so the next launch does not start by running it.
  const closedBefore = outputClosed.handle;
  let gone = false;
  outputClosed.handle = () => {
    if (gone) return;
    gone = true;
    timers.push(setTimeout(() => o.quitting?.() || end.finish("signal"), OUTPUT_GONE_GRACE_MS));
    o.outputGone(() => end.finish("signal"));
  };
  owner.ownSync(() => {
    outputClosed.handle = closedBefore;
  });
}
