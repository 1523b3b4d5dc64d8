import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { parseManifest, serializeManifest, type BlockHash, type Manifest } from "./manifest";
import type { SnapshotSource } from "./snapshot-source";
import { MAX_STORED_OVERHEAD } from "./block-codec";
import { writeFileAtomic } from "./atomic-file";
import { openForReading } from "./regular-file";
import { MAX_MANIFEST_LENGTH } from "./bundle-layout";

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
  const bytes = await readBounded(manifestPath, MAX_MANIFEST_LENGTH, "reading the manifest", {
    missing: () => new VmsfxError("VMSFX_FILE_NOT_FOUND", `${dir}: not a snapshot directory (no ${MANIFEST_FILE}). Run \`vmsfx capture\` to make one.`),
    refuse: (why) => new VmsfxError("VMSFX_MANIFEST_INVALID", `${manifestPath} ${why}. The snapshot is damaged or was not made by vmsfx; capture it again.`),
  });
  const manifest = parseManifest(bytes);
  const sizes = new Map<BlockHash, number>();
  return {
    manifest,
    location: dir,
    async readStored(hash: BlockHash, rawLength: number) {
      // A stored block is never larger than its raw size; refuse before allocating for it.
      const buf = await readBounded(path.join(dir, BLOCKS_DIR, hash), rawLength + MAX_STORED_OVERHEAD, "reading a block", {
        missing: () => new VmsfxError("VMSFX_BLOCK_MISSING", `${dir}: block ${hash.slice(0, 12)}… is missing from blocks/. The snapshot is incomplete; capture it again.`),
        refuse: (why) => new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${dir}: block ${hash.slice(0, 12)}… ${why}. The snapshot is corrupted; capture it again.`),
      });
      sizes.set(hash, buf.byteLength);
      return buf;
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

/**
 * Reads a whole file of at most `limit` bytes. A folder, FIFO or device in its place is refused,
 * never waited on, and nothing is allocated before the size is known to be within the limit.
 */
async function readBounded(file: string, limit: number, doing: string, on: { missing: () => VmsfxError; refuse: (why: string) => VmsfxError }): Promise<Buffer> {
  const { handle, size, regular } = await openForReading(file, doing).catch((e) => Promise.reject(e instanceof VmsfxError && e.code === "VMSFX_FILE_NOT_FOUND" ? on.missing() : e));
  try {
    if (!regular) throw on.refuse("is not a regular file");
    if (size > limit) throw on.refuse(`is larger than it can be (${size} bytes)`);
    const buf = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await handle.read(buf, done, size - done, done).catch((e) => Promise.reject(fromFsError(e, file, doing)));
      if (bytesRead === 0) break; // it shrank while we read: the hash check will refuse what we got
      done += bytesRead;
    }
    return buf.subarray(0, done);
  } finally {
    await handle.close();
  }
}
