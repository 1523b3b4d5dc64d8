import { promises as fsp, type promises } from "node:fs";
import { openForReading } from "./regular-file";
import { VmsfxError, fromFsError } from "../errors";
import { MAX_JSON_DEPTH, parseManifest, type BlockHash, type Manifest } from "./manifest";
import { jsonShape } from "./json-shape";
import { MAX_STORED_OVERHEAD, type StoredCipher } from "./block-codec";
import type { SnapshotSource } from "./snapshot-source";
import { decodeFooter, decodeToc, FOOTER_FROM_END, FOOTER_SIZE, hasFooterMagic, sha256, TAIL_SIZE, TAR_BLOCK, type Footer, type Toc, type TocEntry } from "./bundle-layout";

/**
 * Reads a bundle — a standalone `.vmsfx` file or the payload appended to the launcher executable —
 * with positioned reads only: nothing is extracted and no name from the archive touches the disk.
 */
export interface BundleSource extends SnapshotSource {
  readonly footer: Footer;
  readonly toc: Toc;
  /** Where the bundle starts inside the file (0 for a plain bundle, the runtime size for an executable). */
  readonly bundleStart: number;
  readonly fileSize: number;
  readonly manifestBytes: Buffer;
  /** The publisher's signature (JSON bytes), when the bundle is signed; checked by the policy layer. */
  readonly signature?: Buffer;
  /** Reads a span of the file in one call; the hot region is read this way at resume. */
  readSpan(offset: number, length: number): Promise<Buffer>;
  entry(hash: BlockHash): TocEntry | undefined;
}

async function readExact(h: promises.FileHandle, pos: number, length: number, where: string): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await h.read(buf, done, length - done, pos + done).catch((e) => Promise.reject(fromFsError(e, where, "reading the bundle")));
    if (bytesRead === 0) {
      throw new VmsfxError("VMSFX_BUNDLE_TRUNCATED", `${where}: the file ends early. It was cut short (an interrupted copy or download); copy or download it again.`);
    }
    done += bytesRead;
  }
  return buf;
}

/**
 * An encrypted bundle's manifest entry is a public header (see policy/encryption.ts). The policy
 * layer supplies this to turn it into the manifest and the block cipher; the snapshot layer
 * never handles keys itself.
 */
export type Unlocker = (header: Uint8Array, where: string) => Promise<{ manifestBytes: Uint8Array; cipher: StoredCipher }>;

export interface OpenBundleOptions {
  unlock?: Unlocker;
}

export async function openBundle(file: string, opts: OpenBundleOptions = {}): Promise<BundleSource> {
  const { handle: h, size, regular } = await openForReading(file, "opening the bundle");
  try {
    // A directory, a FIFO or a device: nothing to find a footer in (and a FIFO could block forever).
    if (!regular) throw new VmsfxError("VMSFX_NOT_A_BUNDLE", `${file}: is a folder or a special file, not a bundle.`);
    return await readBundle(h, file, size, opts);
  } catch (e) {
    await h.close();
    throw e;
  }
}

/** True when a bundle's manifest entry is an encryption header rather than a manifest. */
export function isLockedManifest(bytes: Uint8Array): boolean {
  const text = Buffer.from(bytes).toString("utf8");
  // Deep nesting is slow to parse; parseManifest refuses it with a proper message.
  if (jsonShape(text, MAX_JSON_DEPTH).depth > MAX_JSON_DEPTH) return false;
  try {
    return JSON.parse(text)?.format === "vmsfx-encrypted";
  } catch {
    return false;
  }
}

async function readBundle(h: promises.FileHandle, file: string, fileSize: number, opts: OpenBundleOptions): Promise<BundleSource> {
  if (fileSize < TAIL_SIZE) {
    throw await notABundle(h, file, fileSize);
  }
  const footerBytes = await readExact(h, fileSize - FOOTER_FROM_END, FOOTER_SIZE, file);
  if (!hasFooterMagic(footerBytes)) throw await notABundle(h, file, fileSize);
  const footer = decodeFooter(footerBytes, fileSize, file);
  const bundleStart = fileSize - footer.bundleLength;
  const tocBytes = await readExact(h, bundleStart + footer.tocOffset, footer.tocLength, file);
  if (sha256(tocBytes) !== footer.tocSha256) {
    throw new VmsfxError("VMSFX_BUNDLE_CORRUPT", `${file}: table of contents does not match its checksum. The file is damaged; download or copy it again.`);
  }
  const dataEnd = footer.tocOffset - TAR_BLOCK;
  const toc = decodeToc(tocBytes, dataEnd, file);
  const manifestBytes = await readExact(h, bundleStart + toc.manifest.offset, toc.manifest.length, file);
  if (sha256(manifestBytes) !== toc.manifest.sha256) {
    throw new VmsfxError("VMSFX_BUNDLE_CORRUPT", `${file}: manifest does not match its checksum. The file is damaged; download or copy it again.`);
  }
  let manifest: Manifest;
  let cipher: StoredCipher | undefined;
  if (isLockedManifest(manifestBytes)) {
    if (!opts.unlock) {
      throw new VmsfxError("VMSFX_PASSPHRASE_NEEDED", `${file} is encrypted. Give its passphrase (asked on a terminal, or --passphrase-file FILE) or its --key-file.`);
    }
    const unlocked = await opts.unlock(manifestBytes, file);
    manifest = parseManifest(unlocked.manifestBytes);
    cipher = unlocked.cipher;
  } else {
    manifest = parseManifest(manifestBytes);
  }
  const signature = toc.signature ? await readExact(h, bundleStart + toc.signature.offset, toc.signature.length, file) : undefined;
  return {
    manifest,
    manifestBytes,
    signature,
    cipher,
    footer,
    toc,
    bundleStart,
    fileSize,
    location: file,
    entry: (hash) => toc.blocks.get(hash),
    storedSize: (hash) => toc.blocks.get(hash)?.length,
    readSpan: (offset, length) => readExact(h, bundleStart + offset, length, file),
    async readStored(hash: BlockHash, rawLength: number) {
      const e = toc.blocks.get(hash);
      if (!e) {
        throw new VmsfxError("VMSFX_BLOCK_MISSING", `${file}: block ${hash.slice(0, 12)}… named by the manifest is not in the bundle. The bundle is incomplete; pack it again.`);
      }
      if (e.length > rawLength + MAX_STORED_OVERHEAD) {
        throw new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${file}: block ${hash.slice(0, 12)}… is larger than its raw size. The file is corrupted; download or copy it again.`);
      }
      return readExact(h, bundleStart + e.offset, e.length, file);
    },
    close: () => h.close(),
  };
}

/**
 * No footer: either this never was a bundle, or its tail was cut off. A plain bundle starts with
 * the manifest's tar header, which tells the two apart for the common case of a broken download.
 */
async function notABundle(h: promises.FileHandle, file: string, fileSize: number): Promise<VmsfxError> {
  if (fileSize >= TAR_BLOCK) {
    const head = await readExact(h, 0, TAR_BLOCK, file);
    if (head.subarray(0, 14).toString("latin1") === "manifest.json\0") {
      return new VmsfxError("VMSFX_BUNDLE_TRUNCATED", `${file}: the bundle is cut short or its footer is damaged. Copy or download it again.`);
    }
  }
  return new VmsfxError("VMSFX_NOT_A_BUNDLE", `${file}: not a vmsfx bundle (no vmsfx footer at its end). Pass a file made by \`vmsfx pack\`.`);
}

/** An encrypted bundle's public header (parsed JSON), or undefined for a plain bundle or a folder. */
export async function readPublicHeader(file: string): Promise<{ public: { guest: string }; kdf: { name: string } } | undefined> {
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  let header: Uint8Array | undefined;
  await openBundle(file, {
    unlock: async (bytes) => {
      header = bytes;
      throw new Error("header only");
    },
  }).then(
    (b) => b.close(),
    (e) => {
      if (!header) throw e;
    },
  );
  if (!header) return undefined;
  // The header was only checked for its format name; a hand-made one may lack the rest.
  const h = JSON.parse(Buffer.from(header).toString("utf8"));
  if (typeof h.public?.guest !== "string" || typeof h.kdf?.name !== "string") {
    throw new VmsfxError("VMSFX_MANIFEST_INVALID", `${file}: the encryption header is malformed. The file is damaged or was not made by vmsfx.`);
  }
  return h;
}
