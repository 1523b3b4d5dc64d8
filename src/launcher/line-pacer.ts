/**
 * Piped input, one line at a time. A guest tty echoes whatever arrives while a command still
 * runs, so a script's lines would be interleaved with its own output. Like `expect`, we send the
 * next line when the guest asks for input — busybox's line editor queries the cursor at every
 * prompt — or when the guest has been quiet for a moment (a program reading stdin shows no prompt).
 */
export class LinePacer {
  private queue: Buffer = Buffer.alloc(0);
  private ready = true;
  private idle: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly send: (bytes: Uint8Array) => void,
    private readonly quietMs = 300,
  ) {}

  push(chunk: Buffer): void {
    this.queue = Buffer.concat([this.queue, chunk]);
    this.release();
  }

  /** The guest printed something: it is busy, so restart the quiet timer. */
  output(): void {
    if (this.ready || this.ended) return;
    this.armIdle();
  }

  /** The guest showed a prompt. */
  prompt(): void {
    this.ready = true;
    this.release();
  }

  close(): void {
    this.ended = true;
    if (this.idle) clearTimeout(this.idle);
  }

  private release(): void {
    if (!this.ready || this.queue.length === 0 || this.ended) return;
    const nl = this.queue.indexOf(0x0a);
    const n = nl < 0 ? this.queue.length : nl + 1;
    const line = this.queue.subarray(0, n);
    this.queue = this.queue.subarray(n);
    this.ready = false;
    this.send(new Uint8Array(line));
    this.armIdle();
  }

  private armIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => this.prompt(), this.quietMs);
  }
}
