import { blockCount } from "./manifest";

/**
 * A guest disk: read-only base blocks (from a bundle, a snapshot directory or a raw image) under a
 * copy-on-write overlay of whole blocks. Guest writes never reach the base; the overlay is what a
 * resume point or the state folder keeps.
 */
import type { BlockDevice } from "../engine/engine-types";
export type { BlockDevice };

/** Returns the full raw bytes of base block `index` (zero-filled when the base has none). */
export type BaseBlockReader = (index: number) => Promise<Uint8Array>;

const BASE_CACHE_BLOCKS = 64;
const SECTOR = 512;

/**
 * Sectors the guest wrote into a block whose base could not be read (a thin bundle's block that
 * could not be fetched): the guest's write was already acknowledged, so it is kept, and the rest
 * of the block is filled in from the base once the base can be had.
 */
class PartialBlock {
  readonly data: Uint8Array;
  private readonly known: Uint8Array;
  private missing: number;

  constructor(length: number) {
    this.data = new Uint8Array(length);
    this.known = new Uint8Array(Math.ceil(length / SECTOR));
    this.missing = this.known.length;
  }

  static fits(inBlock: number, n: number, length: number): boolean {
    return inBlock % SECTOR === 0 && (n % SECTOR === 0 || inBlock + n === length);
  }

  put(inBlock: number, piece: Uint8Array): void {
    this.data.set(piece, inBlock);
    for (let s = inBlock / SECTOR; s < Math.ceil((inBlock + piece.byteLength) / SECTOR); s++) {
      if (!this.known[s]) this.missing--;
      this.known[s] = 1;
    }
  }

  get complete(): boolean {
    return this.missing === 0;
  }

  covers(inBlock: number, n: number): boolean {
    for (let s = Math.floor(inBlock / SECTOR); s < Math.ceil((inBlock + n) / SECTOR); s++) if (!this.known[s]) return false;
    return true;
  }

  /** The whole block: the guest's sectors over the base's. */
  over(base: Uint8Array): Uint8Array {
    const out = base.slice(0, this.data.byteLength);
    for (let s = 0; s < this.known.length; s++) if (this.known[s]) out.set(this.data.subarray(s * SECTOR, (s + 1) * SECTOR), s * SECTOR);
    return out;
  }
}

export class OverlayDisk implements BlockDevice {
  /** Changed blocks, full-sized copies; never aliased with base buffers. */
  readonly dirty = new Map<number, Uint8Array>();
  private readonly baseCache = new Map<number, Promise<Uint8Array>>();
  private readonly partial = new Map<number, PartialBlock>();
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
        const p = this.partial.get(index);
        if (p?.covers(inBlock, n)) return out.set(p.data.subarray(inBlock, inBlock + n), at);
        if (p) await this.complete(index, p);
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
        const piece = data.subarray(at, at + n);
        let d = this.dirty.get(index);
        const p = this.partial.get(index);
        if (!d && p) {
          p.put(inBlock, piece);
          if (p.complete) this.promote(index, p.data);
          return;
        }
        if (!d) {
          let base: Uint8Array;
          try {
            base = await this.block(index);
          } catch (e) {
            const length = this.blockLength(index);
            if (!PartialBlock.fits(inBlock, n, length)) throw e;
            const fresh = new PartialBlock(length);
            fresh.put(inBlock, piece);
            if (fresh.complete) this.promote(index, fresh.data);
            else this.partial.set(index, fresh);
            return;
          }
          d = this.promote(index, base.slice(0, this.blockLength(index)));
        }
        d.set(piece, inBlock);
      });
    });
  }

  /** Blocks the guest wrote part of while their base could not be read. */
  get partialBlocks(): number {
    return this.partial.size;
  }

  /**
   * Reads the base of every partly written block to make it whole (a resume point keeps whole
   * blocks only). Throws the base's error when one still cannot be read.
   */
  completePartial(): Promise<void> {
    return this.serial(async () => {
      for (const [index, p] of [...this.partial]) await this.complete(index, p);
    });
  }

  private async complete(index: number, p: PartialBlock): Promise<void> {
    this.promote(index, p.over(await this.readBase(index)));
  }

  private promote(index: number, whole: Uint8Array): Uint8Array {
    this.partial.delete(index);
    this.baseCache.delete(index);
    this.dirty.set(index, whole);
    return whole;
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
