import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { fromFsError } from "../errors";
import { isAllZero } from "./block-codec";
import { BlockStoreWriter } from "./block-store";
import type { BlockHash, DiskEntry } from "./manifest";
import type { OverlayDisk } from "./overlay-disk";
import { writeFileAtomic } from "./atomic-file";

/**
 * Persists a run's disk overlays in the local state folder: changed blocks go to
 * `<state>/blocks/<sha256>` (same encoding as a snapshot), and `overlay.json` — written last,
 * atomically — lists which block of which disk changed. Unchanged blocks are never written.
 */

export interface OverlayRecord {
  format: "vmsfx-overlay";
  version: 1;
  /** SHA-256 of the bundle manifest these changes apply to. */
  manifestSha256: string;
  savedAt: string;
  disks: { slot: string; blockSize: number; changed: Record<string, BlockHash | null> }[];
}

export const OVERLAY_FILE = "overlay.json";

export async function saveOverlay(stateDir: string, manifestSha256: string, disks: { entry: DiskEntry; disk: OverlayDisk }[]): Promise<{ changedBlocks: number; bytesWritten: number }> {
  await fsp.mkdir(stateDir, { recursive: true }).catch((e) => Promise.reject(fromFsError(e, stateDir, "creating the state folder")));
  const store = await BlockStoreWriter.create(path.join(stateDir, "blocks"), 3);
  const record: OverlayRecord = { format: "vmsfx-overlay", version: 1, manifestSha256, savedAt: new Date().toISOString(), disks: [] };
  let changedBlocks = 0;
  for (const { entry, disk } of disks) {
    const changed: Record<string, BlockHash | null> = {};
    for (const [index, bytes] of [...disk.dirty].sort((a, b) => a[0] - b[0])) {
      const base = entry.map.blocks[index];
      const same = base === null ? isAllZero(bytes) : Buffer.from(await disk.baseBlock(index)).equals(bytes);
      if (same) continue;
      changed[String(index)] = await store.put(bytes);
      changedBlocks++;
    }
    record.disks.push({ slot: entry.slot, blockSize: disk.blockSize, changed });
  }
  const json = Buffer.from(JSON.stringify(record, null, 1) + "\n");
  await writeFileAtomic(path.join(stateDir, OVERLAY_FILE), json);
  return { changedBlocks, bytesWritten: store.stats.storedBytes + json.byteLength };
}

/** `app.vmsfx` → `app.vmsfx-state` next to it; the state of a snapshot folder sits beside it too. */
export function defaultStateDir(target: string): string {
  const abs = path.resolve(target);
  const base = path.basename(abs).replace(/\.vmsfx$/, "");
  return path.join(path.dirname(abs), `${base}.vmsfx-state`);
}
