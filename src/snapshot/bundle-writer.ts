import { createWriteStream, promises as fsp } from "node:fs";
import { once } from "node:events";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import * as tar from "tar-stream";
import { VmsfxError, fromFsError } from "../errors";
import { renameBlocks, serializeManifest, type BlockHash } from "./manifest";
import type { StoredCipher } from "./block-codec";
import { hotOrder } from "./hot-order";
import type { SnapshotSource } from "./snapshot-source";
import { encodeFooter, encodeToc, FORMAT_VERSION, sha256, TAR_BLOCK, TAR_END, tarPadded, type TocEntry } from "./bundle-layout";
import { commitTempFile, tempPathFor } from "./atomic-file";

export interface WriteBundleOptions {
  /** Bytes placed before the bundle (the launcher executable); the bundle is appended to them. */
  prefixFile?: string;
  /** Unix mode of the result (0o755 for an executable). */
  mode?: number;
  onProgress?: (done: number, total: number) => void;
  /** Signs the manifest entry's bytes (the plain manifest, or an encrypted bundle's header). */
  sign?: (manifestEntry: Uint8Array) => Promise<Uint8Array>;
  /**
   * A thin bundle keeps only the blocks this returns true for (by their name in the source); the
   * rest stay on the manifest's remotes. Default: all.
   */
  include?: (hash: BlockHash) => boolean;
  /** Encrypts every block and the manifest; `header` wraps the sealed manifest in the public header. */
  encrypt?: { cipher: StoredCipher; header: (sealedManifest: Uint8Array) => Uint8Array };
}

export interface WriteBundleResult {
  bytes: number;
  bundleLength: number;
  blocks: number;
}

export async function writeBundle(source: SnapshotSource, out: string, opts: WriteBundleOptions = {}): Promise<WriteBundleResult> {
  if (opts.encrypt && source.cipher) throw new VmsfxError("VMSFX_USAGE", `${source.location} is already encrypted.`);
  const all = hotOrder(source.manifest);
  const order = opts.include ? all.filter((b) => opts.include!(b.hash)) : all;
  // An encrypted block is named by the hash of its ciphertext, so the manifest (written first)
  // needs every new name before any block is written: seal once to learn them, again to write.
  // Sealing is deterministic, so both passes produce the same bytes.
  const seal = opts.encrypt ? (b: Uint8Array) => opts.encrypt!.cipher.seal(b, "block") : undefined;
  const names = new Map<BlockHash, BlockHash>();
  if (seal) for (const { hash, size } of all) names.set(hash, sha256(seal(await source.readStored(hash, size))));
  const manifest = seal ? renameBlocks(source.manifest, (h) => names.get(h)!) : source.manifest;
  const manifestBytes = opts.encrypt ? opts.encrypt.header(opts.encrypt.cipher.seal(serializeManifest(manifest), "manifest")) : serializeManifest(manifest);
  const signatureBytes = opts.sign ? await opts.sign(manifestBytes) : undefined;
  const tmp = tempPathFor(out);
  const fileStream = createWriteStream(tmp, { flags: "wx", mode: opts.mode ?? 0o644 });
  let written = 0;
  let prefixLength = 0;
  try {
    if (opts.prefixFile) {
      const prefix = await fsp.readFile(opts.prefixFile).catch((e) => Promise.reject(fromFsError(e, opts.prefixFile!, "reading the launcher")));
      prefixLength = prefix.byteLength;
      if (!fileStream.write(prefix)) await once(fileStream, "drain");
    }
    const pack = tar.pack();
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        written += chunk.byteLength;
        cb(null, chunk);
      },
    });
    const done = pipeline(pack, counter, fileStream);
    // On an early failure the pipeline rejects too; the first error is the one we report.
    done.catch(() => undefined);
    // Positions are computed from the tar layout (names are short ASCII, so every header is one
    // 512-byte block with no pax record) and checked against the bytes actually written below.
    let pos = 0;
    const add = async (name: string, data: Uint8Array): Promise<TocEntry> => {
      const entry = { offset: pos + TAR_BLOCK, length: data.byteLength };
      pos += TAR_BLOCK + tarPadded(data.byteLength);
      // Bounded memory: tar-stream calls back once the entry's bytes have left the pack, i.e. after
      // the file stream drained them (its back-pressure), so at most one block is held here.
      await new Promise<void>((resolve, reject) =>
        pack.entry({ name, size: data.byteLength, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, Buffer.from(data.buffer, data.byteOffset, data.byteLength), (err) => (err ? reject(err) : resolve())),
      );
      return entry;
    };
    const manifestEntry = await add("manifest.json", manifestBytes);
    const signatureEntry = signatureBytes ? await add("signature", signatureBytes) : undefined;
    const blocks = new Map<BlockHash, TocEntry>();
    for (let i = 0; i < order.length; i++) {
      const { hash, size } = order[i];
      const stored = await source.readStored(hash, size);
      const name = seal ? names.get(hash)! : hash;
      blocks.set(name, await add(`blocks/${name}`, seal ? seal(stored) : stored));
      opts.onProgress?.(i + 1, order.length);
    }
    const toc = encodeToc({ manifest: { ...manifestEntry, sha256: sha256(manifestBytes) }, signature: signatureEntry, blocks });
    const tocEntry = await add("toc", toc);
    const bundleLength = pos + TAR_BLOCK + TAR_BLOCK + TAR_END;
    await add("footer", encodeFooter({ version: FORMAT_VERSION, bundleLength, tocOffset: tocEntry.offset, tocLength: toc.byteLength, tocSha256: sha256(toc) }));
    pack.finalize();
    await done;
    if (written !== bundleLength) {
      throw new VmsfxError("VMSFX_IO", `internal: bundle layout is ${written} bytes, expected ${bundleLength}. Please report this.`);
    }
    const h = await fsp.open(tmp, "r+");
    await h.sync().finally(() => h.close());
    await commitTempFile(tmp, out);
    return { bytes: prefixLength + bundleLength, bundleLength, blocks: order.length };
  } catch (e) {
    fileStream.destroy();
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof VmsfxError) throw e;
    throw fromFsError(e, out, "writing the bundle");
  }
}
