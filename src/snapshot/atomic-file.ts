import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { fromFsError } from "../errors";

/** A temp name in the target's own folder, so the final rename never crosses filesystems. */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

async function fsyncDir(dir: string): Promise<void> {
  // Makes the rename itself durable; some filesystems refuse fsync on a directory, which is fine.
  const h = await fsp.open(dir, "r").catch(() => undefined);
  if (!h) return;
  await h.sync().catch(() => undefined);
  await h.close();
}

/** temp + fsync + rename: after a crash the target holds the old bytes or the new, never a mix. */
export async function writeFileAtomic(target: string, data: Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    const h = await fsp.open(tmp, "wx", mode);
    try {
      await h.writeFile(data);
      await h.sync();
    } finally {
      await h.close();
    }
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw fromFsError(e, target, "writing");
  }
  await fsyncDir(path.dirname(target));
}

/** Commits a temp file that the caller wrote and synced: rename into place, then sync the folder. */
export async function commitTempFile(tmp: string, target: string): Promise<void> {
  try {
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw fromFsError(e, target, "replacing");
  }
  await fsyncDir(path.dirname(target));
}
