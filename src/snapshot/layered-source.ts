import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import type { BlockHash } from "./manifest";
import { MAX_STORED_OVERHEAD } from "./block-codec";
import type { BundleSource } from "./bundle-reader";
import type { ResumePoint } from "./resume-point";
import type { SnapshotSource } from "./snapshot-source";

/**
 * A resume point seen as one snapshot: its manifest, with each block read from the state
 * folder's pack when it is there and from the bundle otherwise. Blocks from both are verified
 * against the manifest's hashes by BlockReader like any others. Bundle-resident blocks keep the
 * bundle's `entry`/`readSpan`, so the hot region still loads in large reads.
 */
type SpanReads = Partial<Pick<BundleSource, "entry" | "readSpan">>;

/** `bundle` is a bundle (spans) or a snapshot folder (one file per block): both take a resume point. */
export async function openLayeredSource(bundle: SnapshotSource & SpanReads, point: ResumePoint, stateDir: string): Promise<SnapshotSource & SpanReads> {
  const packPath = point.pack ? path.join(stateDir, point.pack.file) : undefined;
  const pack = packPath ? await fsp.open(packPath, "r").catch((e) => Promise.reject(fromFsError(e, packPath, "opening the resume point"))) : undefined;
  const packSize = pack ? (await pack.stat()).size : 0;
  const index = point.pack?.blocks ?? {};
  return {
    manifest: point.manifest,
    cipher: bundle.cipher,
    location: `${bundle.location} (resumed from ${stateDir})`,
    ...(bundle.entry && bundle.readSpan
      ? { entry: (hash: BlockHash) => (index[hash] ? undefined : bundle.entry!(hash)), readSpan: bundle.readSpan.bind(bundle) }
      : {}),
    storedSize: (hash) => index[hash]?.[1] ?? bundle.storedSize(hash),
    async readStored(hash: BlockHash, rawLength: number) {
      const at = index[hash];
      if (!at) return bundle.readStored(hash, rawLength);
      if (at[1] > rawLength + MAX_STORED_OVERHEAD || at[0] + at[1] > packSize) {
        throw new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${packPath}: block ${hash.slice(0, 12)}… lies outside the pack. The resume point is damaged; use --reset.`);
      }
      const buf = Buffer.allocUnsafe(at[1]);
      await pack!.read(buf, 0, at[1], at[0]);
      return buf;
    },
    close: async () => {
      await pack?.close();
      await bundle.close();
    },
  };
}
