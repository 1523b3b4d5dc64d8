import type { BlockHash, Manifest } from "./manifest";
import { decodeBlock, loadZstd, type StoredCipher } from "./block-codec";

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
  close(): Promise<void>;
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
    return decodeBlock(this.zstd, stored, rawLength, hash, this.source.location, this.source.cipher);
  }
}
