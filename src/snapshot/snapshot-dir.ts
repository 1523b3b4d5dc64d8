import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { parseManifest, serializeManifest, type BlockHash, type Manifest } from "./manifest";
import type { SnapshotSource } from "./snapshot-source";
import { MAX_STORED_OVERHEAD } from "./block-codec";
import { writeFileAtomic } from "./atomic-file";

/**
 * A snapshot directory: `manifest.json` plus `blocks/<sha256>`. The manifest is written last, so
 * a directory with a manifest is complete; block names are hashes we computed, never input.
 */

export const MANIFEST_FILE = "manifest.json";
export const BLOCKS_DIR = "blocks";

export async function writeManifestFile(dir: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(path.join(dir, MANIFEST_FILE), serializeManifest(manifest));
}

export async function isSnapshotDir(p: string): Promise<boolean> {
  const st = await fsp.stat(p).catch(() => undefined);
  return !!st?.isDirectory();
}

export async function openSnapshotDir(dir: string): Promise<SnapshotSource> {
  const manifestPath = path.join(dir, MANIFEST_FILE);
  const bytes = await fsp.readFile(manifestPath).catch((e) => {
    if (e?.code === "ENOENT") {
      throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `${dir}: not a snapshot directory (no ${MANIFEST_FILE}). Run \`vmsfx capture\` to make one.`);
    }
    throw fromFsError(e, manifestPath, "reading the manifest");
  });
  const manifest = parseManifest(bytes);
  const sizes = new Map<BlockHash, number>();
  return {
    manifest,
    location: dir,
    async readStored(hash: BlockHash, rawLength: number) {
      const file = path.join(dir, BLOCKS_DIR, hash);
      const h = await fsp.open(file, "r").catch((e) => {
        if (e?.code === "ENOENT") {
          throw new VmsfxError("VMSFX_BLOCK_MISSING", `${dir}: block ${hash.slice(0, 12)}… is missing from blocks/. The snapshot is incomplete; capture it again.`);
        }
        throw fromFsError(e, file, "reading a block");
      });
      try {
        const { size } = await h.stat();
        // A stored block is never larger than its raw size; refuse before allocating for it.
        if (size > rawLength + MAX_STORED_OVERHEAD) {
          throw new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${dir}: block ${hash.slice(0, 12)}… is larger than its raw size. The snapshot is corrupted; capture it again.`);
        }
        sizes.set(hash, size);
        const buf = Buffer.allocUnsafe(size);
        await h.read(buf, 0, size, 0);
        return buf;
      } finally {
        await h.close();
      }
    },
    storedSize: (hash) => sizes.get(hash),
    close: async () => {},
  };
}

/** Stored sizes of all blocks in the directory (for inspect); missing ones are absent. */
export async function statBlocks(dir: string, hashes: Iterable<BlockHash>): Promise<Map<BlockHash, number>> {
  const out = new Map<BlockHash, number>();
  for (const h of hashes) {
    const st = await fsp.stat(path.join(dir, BLOCKS_DIR, h)).catch(() => undefined);
    if (st) out.set(h, st.size);
  }
  return out;
}
