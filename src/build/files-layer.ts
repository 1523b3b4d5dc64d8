import { createReadStream, createWriteStream, promises as fsp, type Stats } from "node:fs";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import { VmsfxError, fromFsError } from "../errors";
import type { FileCopy } from "./app-spec";

/**
 * The spec's `files` as one tar layer over the app's packages or image: each host file or folder
 * at its guest path, owned by root, with its permission bits and a fixed time (so two builds of
 * the same files give the same disk). Symlinks stay symlinks; sockets and devices are refused.
 */

export async function writeFilesLayer(files: FileCopy[], out: string, epoch: number, specFile: string): Promise<number> {
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(out));
  let count = 0;
  const mtime = new Date(epoch * 1000);
  const add = async (from: string, to: string, field: string): Promise<void> => {
    const st: Stats = await fsp.lstat(from).catch((e) => Promise.reject(fromFsError(e, from, `reading ${field}`)));
    const base = { name: to.replace(/^\/+/, ""), mode: st.mode & 0o7777, uid: 0, gid: 0, mtime };
    count++;
    if (st.isSymbolicLink()) return entry(pack, { ...base, type: "symlink", linkname: await fsp.readlink(from) });
    if (st.isDirectory()) {
      await entry(pack, { ...base, name: `${base.name}/`, type: "directory" });
      for (const name of (await fsp.readdir(from)).sort()) await add(path.join(from, name), path.posix.join(to, name), field);
      return;
    }
    if (!st.isFile()) throw new VmsfxError("VMSFX_RECIPE_INVALID", `${specFile}: "${field}" holds ${from}, which is neither a file, a folder nor a symlink.`);
    await pipeline(createReadStream(from), pack.entry({ ...base, type: "file", size: st.size }));
  };
  try {
    for (const [i, f] of files.entries()) await add(f.from, f.to, `files[${i}].from`);
    pack.finalize();
    await written;
  } catch (e) {
    pack.destroy();
    throw e;
  }
  return count;
}

function entry(pack: tar.Pack, header: tar.Headers): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
}
