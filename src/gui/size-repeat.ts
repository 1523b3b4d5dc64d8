/**
 * The first size a page gives the guest's console, given once more when the console has drawn.
 *
 * A size change reaches a full-screen program as SIGWINCH, which it ignores until it has set up
 * its handler: one that arrives while the program starts (after it read the old size) is lost,
 * and the program keeps drawing at the old size. On an emulated CPU that start takes seconds,
 * and a page opened with the app (`--gui` opens the browser at once) sends its size right then.
 * So once output has come after the page's first size and then stopped for `quietMs` (the
 * program has drawn its screen and waits for keys), the size is sent again; the agent turns an
 * unchanged size into SIGWINCH, so the program redraws at the page's size. At worst a program
 * that had it right redraws once more.
 */
export class SizeRepeat {
  private pending?: { rows: number; cols: number };
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly send: (rows: number, cols: number) => void,
    private readonly quietMs = 1500,
  ) {}

  /** A page set this size; `first`: the first size that page set. */
  sized(rows: number, cols: number, first: boolean): void {
    if (!first && !this.pending) return;
    this.pending = { rows, cols };
  }

  /** The guest's console wrote something. */
  output(): void {
    if (!this.pending) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const p = this.pending;
      this.cancel();
      if (p) this.send(p.rows, p.cols);
    }, this.quietMs);
  }

  /** Something else set the size since (the user's terminal), or the session ends. */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}
