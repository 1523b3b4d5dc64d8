import * as path from "node:path";
import type { BlockHash, Manifest } from "../snapshot/manifest";
import type { StoredCipher } from "../snapshot/block-codec";
import type { BundleSource } from "../snapshot/bundle-reader";
import type { ResumePoint } from "../snapshot/resume-point";
import type { SnapshotSource } from "../snapshot/snapshot-source";

type SpanReads = Partial<Pick<BundleSource, "entry" | "readSpan">>;

/**
 * A resumed launch's source, whose damage advice knows the resume point: a pack block that goes
 * bad after the launch checked the pack (a failing medium) fails BlockReader's check like any
 * block, and its error then says how to get back to a working app. Everything else is the
 * wrapped source's, span reads included (the hot region still loads in large reads).
 */
export class PackGuardedSource implements SnapshotSource {
  readonly manifest: Manifest;
  readonly location: string;
  readonly cipher?: StoredCipher;
  readonly entry?: BundleSource["entry"];
  readonly readSpan?: BundleSource["readSpan"];

  constructor(
    private readonly inner: SnapshotSource & SpanReads,
    private readonly point: ResumePoint,
    private readonly stateDir: string,
  ) {
    this.manifest = inner.manifest;
    this.location = inner.location;
    this.cipher = inner.cipher;
    const { entry, readSpan } = inner;
    if (entry && readSpan) {
      this.entry = (hash) => entry.call(inner, hash);
      this.readSpan = (offset, length) => readSpan.call(inner, offset, length);
    }
  }

  readStored(hash: BlockHash, rawLength: number): Promise<Uint8Array> {
    return this.inner.readStored(hash, rawLength);
  }

  storedSize(hash: BlockHash): number | undefined {
    return this.inner.storedSize(hash);
  }

  damageAdvice(hash: BlockHash): string | undefined {
    const pack = this.point.pack;
    if (pack?.blocks[hash]) {
      return `${path.join(this.stateDir, pack.file)}: saved block ${hash.slice(0, 12)}… is damaged. Run the app with --fresh to start from its own state this once, or --reset to discard the saved changes.`;
    }
    return this.inner.damageAdvice?.(hash);
  }

  /** Closes the layered source, which closes what it wraps. */
  close(): Promise<void> {
    return this.inner.close();
  }
}
