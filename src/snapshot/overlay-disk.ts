import { blockCount } from "./manifest";

/**
 * A guest disk: read-only base blocks (from a bundle, a snapshot directory or a raw image) under a
 * copy-on-write overlay of whole blocks. Guest writes never reach the base; the overlay is what a
 * resume point or the state folder keeps.
 */
export interface BlockDevice {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array): Promise<void>;
}

/** Returns the full raw bytes of base block `index` (zero-filled when the base has none). */
export type BaseBlockReader = (index: number) => Promise<Uint8Array>;

const BASE_CACHE_BLOCKS = 64;

export class OverlayDisk implements BlockDevice {
  /** Changed blocks, full-sized copies; never aliased with base buffers. */
  readonly dirty = new Map<number, Uint8Array>();
  private readonly baseCache = new Map<number, Promise<Uint8Array>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly size: number,
    readonly blockSize: number,
    private readonly readBase: BaseBlockReader,
  ) {}

  get blockCount(): number {
    return blockCount(this.size, this.blockSize);
  }

  blockLength(index: number): number {
    return Math.min(this.blockSize, this.size - index * this.blockSize);
  }

  /** The base's content of a block, ignoring the overlay (shared; do not mutate). */
  baseBlock(index: number): Promise<Uint8Array> {
    return this.readBase(index);
  }

  /** Current content of a block: the overlay's copy or the base's (shared; do not mutate). */
  async block(index: number): Promise<Uint8Array> {
    const d = this.dirty.get(index);
    if (d) return d;
    let p = this.baseCache.get(index);
    if (p) {
      // Refresh LRU position.
      this.baseCache.delete(index);
    } else {
      p = this.readBase(index);
      p.catch(() => this.baseCache.delete(index));
    }
    this.baseCache.set(index, p);
    if (this.baseCache.size > BASE_CACHE_BLOCKS) this.baseCache.delete(this.baseCache.keys().next().value!);
    return p;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.serial(async () => {
      this.check(offset, length);
      const out = new Uint8Array(length);
      await this.forEachSpan(offset, length, async (index, inBlock, at, n) => {
        const b = await this.block(index);
        out.set(b.subarray(inBlock, inBlock + n), at);
      });
      return out;
    });
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.serial(async () => {
      this.check(offset, data.byteLength);
      await this.forEachSpan(offset, data.byteLength, async (index, inBlock, at, n) => {
        let d = this.dirty.get(index);
        if (!d) {
          d = new Uint8Array(this.blockLength(index));
          d.set(await this.block(index));
          this.dirty.set(index, d);
          this.baseCache.delete(index);
        }
        d.set(data.subarray(at, at + n), inBlock);
      });
    });
  }

  private check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`disk access [${offset}, +${length}) outside a ${this.size}-byte disk`);
    }
  }

  private async forEachSpan(offset: number, length: number, fn: (index: number, inBlock: number, at: number, n: number) => Promise<void>): Promise<void> {
    let at = 0;
    while (at < length) {
      const pos = offset + at;
      const index = Math.floor(pos / this.blockSize);
      const inBlock = pos - index * this.blockSize;
      const n = Math.min(this.blockSize - inBlock, length - at);
      await fn(index, inBlock, at, n);
      at += n;
    }
  }

  /** Guest I/O is applied in order, so a read never sees half of an earlier write. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
