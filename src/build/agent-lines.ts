import type { VmsfxError } from "../errors";
import type { GuestHost } from "../engine/engine-host";

/**
 * The guest agent's lines as the build's trial run reads them: one at a time, in order, each
 * awaited through the engine's `agent` event (no polling). A line that comes while nobody
 * awaits one is queued, so none is lost between two steps of the trial.
 */

/** What the reader listens to: a GuestHost, or a fake in a test. */
export type AgentEvents = Pick<GuestHost, "on">;

export interface AgentLines {
  /**
   * The next line; undefined once `deadline` (ms since the epoch) has passed without one.
   * Rejects with the engine's failure (one before the call, or its `fatal` event).
   */
  next(deadline: number, fatal: () => VmsfxError | undefined): Promise<string | undefined>;
  /** Lines come but not yet taken by next(). */
  pending(): readonly string[];
  /** `fn` sees every line as it comes (queued as well); returns the unsubscribe. */
  watch(fn: (line: string) => void): () => void;
  /** Stops listening to the engine; a pending next() is not settled by it. */
  close(): void;
}

export function agentLines(host: AgentEvents): AgentLines {
  const queue: string[] = [];
  const watchers = new Set<(line: string) => void>();
  let partial = "";
  const close = host.on("agent", (bytes) => {
    partial += Buffer.from(bytes).toString("latin1");
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, nl).replace(/\r$/, "");
      partial = partial.slice(nl + 1);
      queue.push(line);
      for (const fn of [...watchers]) fn(line);
    }
  });
  const watch = (fn: (line: string) => void) => {
    watchers.add(fn);
    return () => void watchers.delete(fn);
  };
  return {
    next: (deadline, fatal) => nextLine(host, queue, watch, deadline, fatal),
    pending: () => queue,
    watch,
    close,
  };
}

function nextLine(host: AgentEvents, queue: string[], watch: AgentLines["watch"], deadline: number, fatal: () => VmsfxError | undefined): Promise<string | undefined> {
  // A line already come is taken even after a failure, as the trial would have read it first.
  if (queue.length > 0) return Promise.resolve(queue.shift());
  const failure = fatal();
  if (failure) return Promise.reject(failure);
  if (Date.now() > deadline) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const cleanups: (() => void)[] = [];
    const finish = (then: () => void) => {
      for (const c of cleanups) c();
      then();
    };
    cleanups.push(watch(() => finish(() => resolve(queue.shift()))));
    cleanups.push(host.on("fatal", (e) => finish(() => reject(e))));
    // One past the deadline, as "passed" means later than it.
    const timer = setTimeout(() => finish(() => resolve(undefined)), deadline - Date.now() + 1);
    cleanups.push(() => clearTimeout(timer));
  });
}
