import { constants, promises as fsp } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { fromFsError } from "../errors";

/**
 * Opens a file we are about to read as snapshot data. O_NONBLOCK makes opening a FIFO return at
 * once instead of waiting forever for a writer (it changes nothing for a regular file; Windows
 * has no FIFOs and no such flag). The caller gets the size from the same handle and decides what
 * a file that is not regular means for it.
 */
export async function openForReading(file: string, doing: string): Promise<{ handle: FileHandle; size: number; regular: boolean }> {
  const handle = await fsp.open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)).catch((e) => Promise.reject(fromFsError(e, file, doing)));
  try {
    const st = await handle.stat();
    return { handle, size: st.size, regular: st.isFile() };
  } catch (e) {
    await handle.close();
    throw fromFsError(e, file, doing);
  }
}
