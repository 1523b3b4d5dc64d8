import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PassThrough, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import * as tar from "tar-stream";
import { VmsfxError, fromFsError } from "../errors";
import { hashing, imageError } from "./image-store";
import { LayerMergeError, MergedTree, type EntryType, type LayerEntry, type MergedEntry } from "./layer-merge";
import type { OciImage } from "./oci-image";

/**
 * Turns an image's layers into ONE tar of the merged file system, sorted, every name inside the
 * root, no whiteouts: what the guest's disk image is made from. Each layer is read twice as a
 * stream: once for its entries (and its diff_id), once for the data of the entries that won.
 * That data waits in a scratch folder under names of our own (`<layer>-<entry>`), so a name from
 * the image is never a path on this machine.
 */

const TYPES: Partial<Record<string, EntryType>> = {
  file: "file",
  "contiguous-file": "file",
  directory: "directory",
  symlink: "symlink",
  link: "link",
  "character-device": "character-device",
  "block-device": "block-device",
  fifo: "fifo",
};

export interface FlatRootfs {
  entries: number;
  bytes: number;
}

/** Writes the merged tree of `image` to `out` (temp file, fsync, rename). */
export async function writeFlatRootfs(image: OciImage, out: string): Promise<FlatRootfs> {
  const tree = new MergedTree();
  for (let i = 0; i < image.layers.length; i++) {
    const entries: LayerEntry[] = [];
    await readLayer(image, i, (e) => void entries.push(e));
    try {
      tree.apply(i, entries);
    } catch (e) {
      if (e instanceof LayerMergeError) throw imageError(image.source, e.message);
      throw e;
    }
  }
  const winners = tree.entries();
  const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), "vmsfx-rootfs-"));
  try {
    const wanted = new Set(winners.filter((w) => w.type === "file" && w.size > 0).map((w) => `${w.layer}-${w.index}`));
    for (let i = 0; i < image.layers.length; i++) {
      await readLayer(image, i, async (e, data) => {
        const key = `${i}-${e.index}`;
        if (wanted.has(key)) await pipeline(data, createWriteStream(path.join(scratch, key)));
      });
    }
    return await writeTar(winners, scratch, out);
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}

/** Streams one layer's entries (its data is drained unless `onEntry` reads it); checks its diff_id. */
async function readLayer(image: OciImage, i: number, onEntry: (e: LayerEntry, data: Readable) => void | Promise<void>): Promise<void> {
  const layer = image.layers[i];
  const raw = await image.store.open(layer.name);
  if (!raw) throw imageError(image.source, `layer ${layer.name} is missing`);
  const hash = createHash("sha256");
  const extract = tar.extract();
  let index = 0;
  extract.on("entry", (h, stream, next) => {
    const type = TYPES[h.type ?? "file"];
    const n = index++;
    if (!type) {
      stream.resume();
      return next();
    }
    const entry: LayerEntry = { name: h.name, type, mode: h.mode ?? 0o644, uid: h.uid ?? 0, gid: h.gid ?? 0, mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000), size: h.size ?? 0, linkname: h.linkname ?? undefined, devmajor: h.devmajor, devminor: h.devminor, index: n };
    const drained = new Promise((resolve) => stream.once("end", resolve));
    Promise.resolve(onEntry(entry, stream))
      .then(() => {
        stream.resume();
        return drained;
      })
      .then(() => next(), next);
  });
  try {
    await pipeline(raw as Readable, await decompressor(raw as Readable, image.source, layer.name), hashing(hash), extract);
  } catch (e) {
    if (e instanceof VmsfxError) throw e;
    throw imageError(image.source, `layer ${layer.name} is not a readable tar (${(e as Error).message})`);
  }
  if (hash.digest("hex") !== layer.diffId) throw imageError(image.source, `layer ${layer.name} does not match its diff_id sha256:${layer.diffId}`);
}

/**
 * What undoes the layer's compression, chosen by its first bytes (media types lie: skopeo's
 * docker-archive labels plain tars as gzip).
 */
async function decompressor(raw: Readable, source: string, name: string): Promise<Transform | PassThrough> {
  const head: Buffer = await new Promise((resolve, reject) => {
    const onReadable = () => {
      const chunk = raw.read(4) ?? raw.read();
      if (chunk === null && !raw.readableEnded) return;
      raw.off("readable", onReadable);
      raw.off("error", reject);
      if (chunk) raw.unshift(chunk);
      resolve(chunk ?? Buffer.alloc(0));
    };
    raw.on("readable", onReadable);
    raw.once("error", reject);
    raw.once("end", () => resolve(Buffer.alloc(0)));
  });
  if (head[0] === 0x1f && head[1] === 0x8b) return createGunzip();
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) {
    throw new VmsfxError("VMSFX_IMAGE_INVALID", `${source}: layer ${name} is zstd-compressed, which vmsfx cannot read yet. Save the image with gzip or uncompressed layers (for example \`skopeo copy\` to docker-archive).`);
  }
  return new PassThrough();
}

async function writeTar(entries: MergedEntry[], scratch: string, out: string): Promise<FlatRootfs> {
  const tmp = `${out}.${process.pid}.tmp`;
  const pack = tar.pack();
  const file = createWriteStream(tmp);
  const written = pipeline(pack, file);
  let bytes = 0;
  try {
    // Hard links last: their file must already be in the archive when a reader meets them.
    const ordered = [...entries.filter((e) => e.type !== "link"), ...entries.filter((e) => e.type === "link")];
    for (const e of ordered) {
      const header: tar.Headers = { name: e.type === "directory" ? `${e.path}/` : e.path, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: new Date(e.mtime * 1000), linkname: e.linkname, devmajor: e.devmajor, devminor: e.devminor, size: e.type === "file" ? e.size : 0 };
      if (e.type === "file" && e.size > 0) {
        const sink = pack.entry(header);
        await pipeline(createReadStream(path.join(scratch, `${e.layer}-${e.index}`)), sink);
        bytes += e.size;
      } else {
        await new Promise<void>((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
      }
    }
    pack.finalize();
    await written;
    const fh = await fsp.open(tmp, "r+");
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, out);
  } catch (e) {
    pack.destroy();
    await fsp.rm(tmp, { force: true });
    throw e instanceof VmsfxError ? e : fromFsError(e, out, "writing the image's file system");
  }
  return { entries: entries.length, bytes };
}
