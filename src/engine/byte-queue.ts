/**
 * Bytes waiting to go to the guest, kept as the chunks they arrived in: taking a few from the
 * front costs no copy of the rest (a pasted megabyte is fed 16 bytes at a time).
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.chunks.push(bytes);
    this.size += bytes.byteLength;
  }

  /** Removes and returns up to `n` bytes from the front. */
  take(n: number): Uint8Array {
    const out = new Uint8Array(Math.min(n, this.size));
    let filled = 0;
    while (filled < out.length) {
      const chunk = this.chunks[0];
      const part = chunk.subarray(this.head, this.head + out.length - filled);
      out.set(part, filled);
      filled += part.length;
      this.head += part.length;
      if (this.head === chunk.byteLength) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.size -= out.length;
    return out;
  }
}
