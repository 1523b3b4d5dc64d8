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

/** One layer: a plain tar stream, and a check that runs once it has been read to the end. */
export interface TarLayer {
  /** For messages: "layer sha256:…", "the Debian packages", "the spec's files". */
  label: string;
  read(): Promise<{ tar: Readable; verify(): void }>;
  /** The error for a layer that breaks the merge rules, in the words of its source. */
  fail(why: string): VmsfxError;
}

/** A file the build adds on top of every layer once it has seen the merged tree. */
export interface ExtraFile {
  path: string;
  /** A file's bytes; a folder has none. */
  data?: Buffer;
  mode: number;
  uid?: number;
  gid?: number;
}

/** What a build may look at in the merged tree before it is written. */
export interface TreeView {
  tree: MergedTree;
  /** A regular file's bytes (symlinks followed inside the root); undefined if there is none. */
  readFile(guestPath: string): Promise<Buffer | undefined>;
}

export interface MergeOutputs {
  /** The root file system's tar. */
  root: string;
  /** Guest paths whose contents go to `data.out` instead (the folders stay in the root, empty). */
  data?: { paths: string[]; out: string };
  finish?: (view: TreeView) => Promise<ExtraFile[]>;
}

/** Writes the merged tree of `image` to `out` (temp file, fsync, rename). */
export async function writeFlatRootfs(image: OciImage, out: string): Promise<FlatRootfs> {
  return mergeLayers(imageLayers(image), { root: out });
}

/** The layers of an OCI image, each checked against its diff_id after it is read. */
export function imageLayers(image: OciImage): TarLayer[] {
  return image.layers.map((layer) => ({
    label: `layer ${layer.name}`,
    fail: (why) => imageError(image.source, why),
    async read() {
      const raw = (await image.store.open(layer.name)) as Readable | undefined;
      if (!raw) throw imageError(image.source, `layer ${layer.name} is missing`);
      const hash = createHash("sha256");
      const tarStream = new PassThrough();
      // Errors of any stage reach the reader of the tar.
      pipeline(raw, await decompressor(raw, image.source, layer.name), hashing(hash), tarStream).catch((e) => tarStream.destroy(e));
      return {
        tar: tarStream,
        verify() {
          if (hash.digest("hex") !== layer.diffId) throw imageError(image.source, `layer ${layer.name} does not match its diff_id sha256:${layer.diffId}`);
        },
      };
    },
  }));
}

/** A plain tar file of our own making (mmdebstrap's output, the spec's files) as a layer. */
export function tarFileLayer(file: string, label: string): TarLayer {
  return {
    label,
    fail: (why) => new VmsfxError("VMSFX_BUILD_FAILED", `${label}: ${why}`),
    async read() {
      return { tar: createReadStream(file), verify() {} };
    },
  };
}

/**
 * Applies the layers in order and writes the result, sorted, as the root's tar (and the data
 * paths' contents as a second tar). Each layer is read twice as a stream: once for its entries,
 * once for the data of the entries that won. That data waits in a scratch folder under names of
 * our own (`<layer>-<entry>`), so a name from a layer is never a path on this machine.
 */
export async function mergeLayers(layers: TarLayer[], outs: MergeOutputs): Promise<FlatRootfs> {
  const tree = new MergedTree();
  for (let i = 0; i < layers.length; i++) {
    const entries: LayerEntry[] = [];
    await readLayer(layers[i], (e) => void entries.push(e));
    applyLayer(tree, layers[i], i, entries);
  }
  const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), "vmsfx-rootfs-"));
  try {
    const wanted = new Set(tree.entries().filter((w) => w.type === "file" && w.size > 0).map((w) => `${w.layer}-${w.index}`));
    for (let i = 0; i < layers.length; i++) {
      await readLayer(layers[i], async (e, data) => {
        const key = `${i}-${e.index}`;
        if (wanted.has(key)) await pipeline(data, createWriteStream(path.join(scratch, key)));
      });
    }
    const extra = outs.finish ? await outs.finish(treeView(tree, scratch)) : [];
    if (extra.length) await addExtra(tree, layers.length, extra, scratch);
    const all = tree.entries();
    const inData = dataFilter(outs.data?.paths ?? []);
    const r = await writeTar(all.filter((e) => !inData(e.path)), scratch, outs.root);
    if (outs.data) await writeTar(all.filter((e) => inData(e.path) || isAncestorOfData(e.path, outs.data!.paths)), scratch, outs.data.out);
    return r;
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}

function applyLayer(tree: MergedTree, layer: TarLayer, i: number, entries: LayerEntry[]): void {
  try {
    tree.apply(i, entries);
  } catch (e) {
    if (e instanceof LayerMergeError) throw layer.fail(e.message);
    throw e;
  }
}

function treeView(tree: MergedTree, scratch: string): TreeView {
  return {
    tree,
    async readFile(guestPath) {
      let e = tree.get(tree.follow(guestPath));
      if (e?.type === "link") e = tree.get(e.linkname!);
      if (e?.type !== "file") return undefined;
      if (e.size === 0) return Buffer.alloc(0);
      return fsp.readFile(path.join(scratch, `${e.layer}-${e.index}`));
    },
  };
}

async function addExtra(tree: MergedTree, layer: number, files: ExtraFile[], scratch: string): Promise<void> {
  const entries: LayerEntry[] = [];
  for (const [index, f] of files.entries()) {
    const owner = { uid: f.uid ?? 0, gid: f.gid ?? 0, mtime: 0, index };
    if (!f.data) {
      entries.push({ name: f.path, type: "directory", mode: f.mode, size: 0, ...owner });
      continue;
    }
    await fsp.writeFile(path.join(scratch, `${layer}-${index}`), f.data);
    entries.push({ name: f.path, type: "file", mode: f.mode, size: f.data.byteLength, ...owner });
  }
  tree.apply(layer, entries);
}

/** Whether a tree path lies strictly inside one of the data paths (guest paths, absolute). */
function dataFilter(paths: string[]): (p: string) => boolean {
  const prefixes = paths.map((d) => `${d.replace(/^\/+/, "")}/`);
  return (p) => prefixes.some((pre) => p.startsWith(pre));
}

/** The data paths themselves and their parents: folders both disks have. */
function isAncestorOfData(p: string, paths: string[]): boolean {
  return paths.some((d) => {
    const rel = d.replace(/^\/+/, "");
    return rel === p || rel.startsWith(`${p}/`);
  });
}

/** Streams one layer's entries (its data is drained unless `onEntry` reads it), then verifies it. */
async function readLayer(layer: TarLayer, onEntry: (e: LayerEntry, data: Readable) => void | Promise<void>): Promise<void> {
  const { tar: tarStream, verify } = await layer.read();
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
    await pipeline(tarStream, extract);
  } catch (e) {
    if (e instanceof VmsfxError) throw e;
    throw layer.fail(`${layer.label} is not a readable tar (${(e as Error).message})`);
  }
  verify();
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
        // With no body given, tar-stream waits for a file entry's stream to end, even an empty one.
        await new Promise<void>((resolve, reject) => pack.entry(header, Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
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
