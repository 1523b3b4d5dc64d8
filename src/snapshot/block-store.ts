import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { availableParallelism } from "node:os";
import { fromFsError } from "../errors";
import { encodeBlock, isAllZero } from "./block-codec";
import { blockCount, type BlockHash, type BlockMap } from "./manifest";
import { writeFileAtomic } from "./atomic-file";

export interface StoreStats {
  rawBytes: number;
  zeroBlocks: number;
  zeroBytes: number;
  dedupBlocks: number;
  dedupBytes: number;
  storedBlocks: number;
  storedBytes: number;
}

/** Blocks compressed at once: libuv's threadpool has 4 threads unless UV_THREADPOOL_SIZE says more. */
const PUT_PARALLEL = Math.max(2, Math.min(4, availableParallelism()));

/** Reads `length` bytes at `offset` of some image: a Buffer in memory or a file on disk. */
export type ByteSource = (offset: number, length: number) => Promise<Uint8Array>;

export function bufferSource(buf: Uint8Array): ByteSource {
  return async (offset, length) => buf.subarray(offset, offset + length);
}

export async function fileSource(file: string): Promise<{ size: number; read: ByteSource; close(): Promise<void> }> {
  const h = await fsp.open(file, "r").catch((e) => Promise.reject(fromFsError(e, file, "opening")));
  const { size } = await h.stat();
  return {
    size,
    read: async (offset, length) => {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await h.read(buf, 0, length, offset);
      if (bytesRead !== length) throw fromFsError(new Error("file shrank while being read"), file, "reading");
      return buf;
    },
    close: () => h.close(),
  };
}

/**
 * The writing side of a snapshot directory's `blocks/`: content-addressed, zstd per block,
 * all-zero blocks elided and identical blocks stored once.
 */
export class BlockStoreWriter {
  readonly stats: StoreStats = { rawBytes: 0, zeroBlocks: 0, zeroBytes: 0, dedupBlocks: 0, dedupBytes: 0, storedBlocks: 0, storedBytes: 0 };
  private readonly known = new Set<BlockHash>();

  constructor(
    readonly blocksDir: string,
    private readonly level: number,
  ) {}

  static async create(blocksDir: string, level: number): Promise<BlockStoreWriter> {
    await fsp.mkdir(blocksDir, { recursive: true }).catch((e) => Promise.reject(fromFsError(e, blocksDir, "creating")));
    return new BlockStoreWriter(blocksDir, level);
  }

  /** Stores one block; returns null for an all-zero block, which is never written. */
  async put(raw: Uint8Array): Promise<BlockHash | null> {
    this.stats.rawBytes += raw.byteLength;
    if (isAllZero(raw)) {
      this.stats.zeroBlocks++;
      this.stats.zeroBytes += raw.byteLength;
      return null;
    }
    const { hash, stored } = await encodeBlock(raw, this.level);
    if (this.known.has(hash)) {
      this.stats.dedupBlocks++;
      this.stats.dedupBytes += raw.byteLength;
      return hash;
    }
    this.known.add(hash);
    // temp + fsync + rename: a crash never leaves a block file whose bytes don't match its name.
    await writeFileAtomic(path.join(this.blocksDir, hash), stored);
    this.stats.storedBlocks++;
    this.stats.storedBytes += stored.byteLength;
    return hash;
  }

  /**
   * Cuts an image into blocks; `onProgress` gets bytes done so far. Up to PUT_PARALLEL blocks are
   * read and compressed at once (zstd on the threadpool): level 19 on one core was most of a
   * capture's save. Memory in flight stays PUT_PARALLEL blocks.
   */
  async putImage(read: ByteSource, size: number, blockSize: number, onProgress?: (done: number) => void): Promise<BlockMap> {
    const count = blockCount(size, blockSize);
    const blocks: (BlockHash | null)[] = new Array<BlockHash | null>(count).fill(null);
    let next = 0;
    let done = 0;
    const lane = async () => {
      for (let i = next++; i < count; i = next++) {
        const offset = i * blockSize;
        const length = Math.min(blockSize, size - offset);
        blocks[i] = await this.put(await read(offset, length));
        done += length;
        onProgress?.(done);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUT_PARALLEL, count) }, lane));
    return { size, blockSize, blocks };
  }
}
