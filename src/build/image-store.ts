import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream, promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import * as tar from "tar-stream";
import { VmsfxError, fromFsError } from "../errors";

/**
 * An image's files, whatever form it came in: an OCI image layout folder, or a tar of one
 * (oci-archive), or a `docker save` archive (old or Docker 25+). A tar is read once and each of
 * its files is kept in a scratch folder under the SHA-256 of its bytes; the archive's own names
 * only ever become keys of a map, never paths on this machine. A folder is read in place, each
 * name checked to stay inside it.
 */
export interface ImageStore {
  /** The bytes at a name inside the image ("index.json", "blobs/sha256/…", "<id>/layer.tar"), or undefined. */
  read(name: string): Promise<Buffer | undefined>;
  /** A stream of the bytes at a name, for layers. */
  open(name: string): Promise<NodeJS.ReadableStream | undefined>;
  /** The SHA-256 (hex) of the bytes at a name. */
  sha256(name: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export function imageError(source: string, what: string): VmsfxError {
  return new VmsfxError("VMSFX_IMAGE_INVALID", `${source}: ${what}. Give an OCI image layout (folder or tar) or a \`docker save\` archive of an image for linux/386.`);
}

/** A name inside an image as a key: no leading slash or "./", no "..". */
export function imageName(source: string, name: string): string {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..") || name.includes("\0")) throw imageError(source, `it names ${JSON.stringify(name.slice(0, 200))}, which reaches outside the image`);
  return parts.join("/");
}

export async function openImageStore(source: string): Promise<ImageStore> {
  const st = await fsp.stat(source).catch((e) => Promise.reject(fromFsError(e, source, "opening the image")));
  if (st.isDirectory()) return folderStore(source);
  if (st.isFile()) return tarStore(source);
  throw imageError(source, "is neither a folder nor a file");
}

function folderStore(dir: string): ImageStore {
  const root = path.resolve(dir);
  // Symlinks inside the folder (docker's <id>/layer.tar) may be followed, but never out of it.
  const locate = async (name: string): Promise<string | undefined> => {
    const p = path.join(root, imageName(dir, name));
    const real = await fsp.realpath(p).catch(() => undefined);
    if (!real) return undefined;
    const realRoot = await fsp.realpath(root);
    if (real !== realRoot && !real.startsWith(realRoot + path.sep)) throw imageError(dir, `${name} leads outside the image folder`);
    return (await fsp.stat(real)).isFile() ? real : undefined;
  };
  return {
    read: async (name) => {
      const p = await locate(name);
      return p ? fsp.readFile(p) : undefined;
    },
    open: async (name) => {
      const p = await locate(name);
      return p ? createReadStream(p) : undefined;
    },
    sha256: async (name) => {
      const p = await locate(name);
      return p ? hashFile(p) : undefined;
    },
    close: async () => undefined,
  };
}

async function tarStore(file: string): Promise<ImageStore> {
  const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), "vmsfx-image-"));
  const files = new Map<string, string>(); // name → sha256, the scratch file's name
  const links = new Map<string, string>(); // name → name it points at (symlinks and hard links)
  try {
    await indexTar(file, scratch, files, links);
  } catch (e) {
    await fsp.rm(scratch, { recursive: true, force: true });
    throw e;
  }
  const resolve = (name: string): string | undefined => {
    let n = imageName(file, name);
    for (let hops = 0; hops < 16; hops++) {
      const hash = files.get(n);
      if (hash) return path.join(scratch, hash);
      const to = links.get(n);
      if (to === undefined) return undefined;
      n = to;
    }
    throw imageError(file, `${name} is a loop of links`);
  };
  return {
    read: async (name) => {
      const p = resolve(name);
      return p ? fsp.readFile(p) : undefined;
    },
    open: async (name) => {
      const p = resolve(name);
      return p ? createReadStream(p) : undefined;
    },
    sha256: async (name) => {
      const p = resolve(name);
      return p ? path.basename(p) : undefined;
    },
    close: () => fsp.rm(scratch, { recursive: true, force: true }),
  };
}

/** Reads the archive once: each file's bytes into the scratch folder under their hash. */
async function indexTar(file: string, scratch: string, files: Map<string, string>, links: Map<string, string>): Promise<void> {
  const extract = tar.extract();
  let n = 0;
  extract.on("entry", (header, stream, next) => {
    const name = imageName(file, header.name);
    if (header.type === "symlink" || header.type === "link") {
      // A symlink is relative to its folder; a hard link names a path from the archive's root.
      const target = header.type === "symlink" ? path.posix.join(path.posix.dirname(name), header.linkname ?? "") : (header.linkname ?? "");
      links.set(name, imageName(file, target.startsWith("/") ? target.slice(1) : target));
      stream.resume();
      return next();
    }
    if (header.type !== "file" && header.type !== "contiguous-file") {
      stream.resume();
      return next();
    }
    const tmp = path.join(scratch, `part-${n++}`);
    const hash = createHash("sha256");
    pipeline(stream, hashing(hash), createWriteStream(tmp))
      .then(async () => {
        const hex = hash.digest("hex");
        await fsp.rename(tmp, path.join(scratch, hex));
        files.set(name, hex);
        next();
      })
      .catch(next);
  });
  const raw = createReadStream(file);
  const done = (await startsLikeGzip(file)) ? pipeline(raw, createGunzip(), extract) : pipeline(raw, extract);
  await done.catch((e: unknown) => {
    if (e instanceof VmsfxError) throw e;
    throw imageError(file, `is not a readable tar archive (${(e as Error).message})`);
  });
}

/** A pass-through stage that feeds every byte it passes into `hash`. */
export function hashing(hash: Hash): Transform {
  return new Transform({
    transform(chunk, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
}

async function startsLikeGzip(file: string): Promise<boolean> {
  const fh = await fsp.open(file, "r");
  try {
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, 0);
    return head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

async function hashFile(p: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
  return h.digest("hex");
}
