import type { BlockHash, Manifest } from "./manifest";
import { decodeBlock, decodeBlockAsync, loadZstd, type StoredCipher } from "./block-codec";
import { VmsfxError, isVmsfxError } from "../errors";

/**
 * Where verified blocks come from: a snapshot directory, a bundle file, later a remote.
 * Sources return stored bytes; BlockReader is the one place that decodes and verifies them.
 */
export interface SnapshotSource {
  readonly manifest: Manifest;
  /** For messages: the file or folder this source reads. */
  readonly location: string;
  readStored(hash: BlockHash, rawLength: number): Promise<Uint8Array>;
  /** Set for an encrypted snapshot once it is unlocked: every stored block is sealed with it. */
  readonly cipher?: StoredCipher;
  /** Stored size of a block if known without reading it (for inspect). */
  storedSize(hash: BlockHash): number | undefined;
  /** What to tell the user when this block fails verification, if the source knows better than "copy it again". */
  damageAdvice?(hash: BlockHash): string | undefined;
  close(): Promise<void>;
}

/** A source whose blocks lie in one file at known offsets (a bundle): neighbours are read as one span. */
export interface SpanSource {
  entry(hash: BlockHash): { offset: number; length: number } | undefined;
  readSpan(offset: number, length: number): Promise<Uint8Array>;
}

/** The source's span reads, when it has them (a bundle, or a source layered over one). */
export function spansOf(source: SnapshotSource): SpanSource | undefined {
  const s = source as SnapshotSource & Partial<SpanSource>;
  return typeof s.entry === "function" && typeof s.readSpan === "function" ? { entry: (h) => s.entry!(h), readSpan: (o, l) => s.readSpan!(o, l) } : undefined;
}

export class BlockReader {
  private constructor(
    readonly source: SnapshotSource,
    private readonly zstd: Awaited<ReturnType<typeof loadZstd>>,
  ) {}

  static async open(source: SnapshotSource): Promise<BlockReader> {
    return new BlockReader(source, await loadZstd());
  }

  async read(hash: BlockHash, rawLength: number): Promise<Uint8Array> {
    const stored = await this.source.readStored(hash, rawLength);
    return this.decode(stored, hash, rawLength);
  }

  decode(stored: Uint8Array, hash: BlockHash, rawLength: number): Uint8Array {
    try {
      return decodeBlock(this.zstd, stored, rawLength, hash, this.source.location, this.source.cipher);
    } catch (e) {
      throw this.advised(e, hash);
    }
  }

  /** decode() with zstd on the threadpool: a span's blocks decompress side by side while the next is hashed. */
  async decodeAsync(stored: Uint8Array, hash: BlockHash, rawLength: number): Promise<Uint8Array> {
    try {
      return await decodeBlockAsync(this.zstd, stored, rawLength, hash, this.source.location, this.source.cipher);
    } catch (e) {
      throw this.advised(e, hash);
    }
  }

  private advised(e: unknown, hash: BlockHash): unknown {
    const advice = isVmsfxError(e) && e.code === "VMSFX_BLOCK_HASH_MISMATCH" ? this.source.damageAdvice?.(hash) : undefined;
    return advice ? new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", advice, { cause: e }) : e;
  }
}
