/**
 * One owner for what a launch attaches to the process (signal handlers, timers, hooks, the
 * console, the GUI): each is registered as it is attached and undone once, last first, whether
 * the launch ends normally or by an error. Node 20 has no `using`/`AsyncDisposableStack`.
 */
export class Disposer {
  private readonly undo: (() => void | Promise<void>)[] = [];
  private disposed = false;

  /**
   * Registers `fn` and returns it made run-once: calling it early (the normal end of a session
   * closes the console at a chosen moment) keeps disposal from running it again.
   */
  own(fn: () => void | Promise<void>): () => Promise<void> {
    let done: Promise<void> | undefined;
    // Runs `fn` at once (up to its first await): closing the console must not wait a tick.
    const once = () => (done ??= (async () => fn())());
    if (this.disposed) void once();
    else this.undo.push(once);
    return once;
  }

  /** Like `own` for something that must be undone synchronously (a signal handler, a hook). */
  ownSync(fn: () => void): () => void {
    let done = false;
    const once = () => {
      if (done) return;
      done = true;
      fn();
    };
    if (this.disposed) once();
    else this.undo.push(once);
    return once;
  }

  /** Undoes everything still registered, last first; every step runs even if one fails, and the first failure is thrown after. */
  async dispose(): Promise<void> {
    this.disposed = true;
    let first: { error: unknown } | undefined;
    while (this.undo.length > 0) {
      const fn = this.undo.pop()!;
      try {
        await fn();
      } catch (error) {
        first ??= { error };
      }
    }
    if (first) throw first.error;
  }
}
