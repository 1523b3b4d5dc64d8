import { VmsfxError } from "../errors";
import type { ByteRangePort } from "./byte-range-port";
import type { BlockHash } from "./manifest";
import { MAX_STORED_OVERHEAD } from "./block-codec";
import { bundleError, decodeFooter, decodeToc, FOOTER_FROM_END, FOOTER_SIZE, hasFooterMagic, sha256, TAIL_SIZE, TAR_BLOCK, type Footer, type Toc, type TocEntry } from "./bundle-layout";

/**
 * The one reader of a bundle's container, over any ByteRangePort: the footer from the end, the
 * TOC it points to (checked against the footer's SHA-256), then the manifest entry (checked
 * against the TOC's) and the signature entry. It never interprets the manifest: parsing or
 * unlocking it is bundle-manifest.ts's job, so every reader (launch, publish, a remote's blocks,
 * an encrypted bundle's public header) shares this and only this.
 */
export interface BundleContainer {
  readonly port: ByteRangePort;
  readonly footer: Footer;
  readonly toc: Toc;
  /** Where the bundle starts inside the file (0 for a plain bundle, the runtime size for an executable). */
  readonly bundleStart: number;
  readonly fileSize: number;
  /** Absolute, inclusive byte range of an entry in the file (as a Range header wants). */
  rangeOf(e: TocEntry): { start: number; end: number };
  /** A span of the bundle, `offset` counted from the bundle's start. */
  readSpan(offset: number, length: number, signal?: AbortSignal): Promise<Buffer>;
  /** The manifest entry's bytes, checked against the SHA-256 the TOC holds. */
  readManifestBytes(signal?: AbortSignal): Promise<Buffer>;
  /** The signature entry's bytes (JSON), when the bundle is signed; checked by the policy layer. */
  readSignature(signal?: AbortSignal): Promise<Buffer | undefined>;
  /** A block's stored bytes by its name in the TOC; `rawLength` bounds what a hostile TOC can ask for. */
  readStored(hash: BlockHash, rawLength: number): Promise<Buffer>;
}

/** A container with its manifest and signature entries read: what a local open needs at once. */
export interface ContainerParts extends BundleContainer {
  readonly manifestBytes: Buffer;
  readonly signature?: Buffer;
}

/** The advice a damaged container's message ends with, by where the file is kept. */
const DAMAGED = {
  file: { toc: "The file is damaged; download or copy it again.", manifest: "The file is damaged; download or copy it again." },
  server: {
    toc: "The file on the server is damaged or was replaced while reading; try again, or ask its publisher to upload it again.",
    manifest: "The file on the server is damaged; ask its publisher to upload it again.",
  },
};

/** Reads and checks the footer and TOC; entries are read later, on demand. */
export async function openContainer(port: ByteRangePort, signal?: AbortSignal): Promise<BundleContainer> {
  const { where, size: fileSize } = port;
  const readAt = (offset: number, length: number) => fromTail(port, offset, length) ?? port.read(offset, length, signal);
  if (fileSize < TAIL_SIZE) throw await notABundle(port);
  const footerBytes = await readAt(fileSize - FOOTER_FROM_END, FOOTER_SIZE);
  if (!hasFooterMagic(footerBytes)) throw await notABundle(port);
  const footer = decodeFooter(footerBytes, fileSize, where);
  const bundleStart = fileSize - footer.bundleLength;
  const tocBytes = await readAt(bundleStart + footer.tocOffset, footer.tocLength);
  if (sha256(tocBytes) !== footer.tocSha256) {
    throw bundleError("VMSFX_BUNDLE_CORRUPT", where, "table of contents does not match its checksum", DAMAGED[port.origin].toc);
  }
  const toc = decodeToc(tocBytes, footer.tocOffset - TAR_BLOCK, where);
  const readEntry = (e: TocEntry, s?: AbortSignal) => (e.length === 0 ? Promise.resolve(Buffer.alloc(0)) : port.read(bundleStart + e.offset, e.length, s));
  return {
    port,
    footer,
    toc,
    bundleStart,
    fileSize,
    rangeOf: (e) => ({ start: bundleStart + e.offset, end: bundleStart + e.offset + e.length - 1 }),
    readSpan: (offset, length, s) => port.read(bundleStart + offset, length, s),
    async readManifestBytes(s) {
      const bytes = await readEntry(toc.manifest, s);
      if (sha256(bytes) !== toc.manifest.sha256) {
        throw bundleError("VMSFX_BUNDLE_CORRUPT", where, "manifest does not match its checksum", DAMAGED[port.origin].manifest);
      }
      return bytes;
    },
    readSignature: async (s) => (toc.signature ? readEntry(toc.signature, s) : undefined),
    async readStored(hash, rawLength) {
      const e = toc.blocks.get(hash);
      if (!e) {
        throw bundleError("VMSFX_BLOCK_MISSING", where, `block ${hash.slice(0, 12)}… named by the manifest is not in the bundle`, "The bundle is incomplete; pack it again.");
      }
      if (e.length > rawLength + MAX_STORED_OVERHEAD) {
        throw bundleError("VMSFX_BLOCK_HASH_MISMATCH", where, `block ${hash.slice(0, 12)}… is larger than its raw size`, "The file is corrupted; download or copy it again.");
      }
      return port.read(bundleStart + e.offset, e.length);
    },
  };
}

/** Opens the container and reads its manifest and signature entries. */
export async function readContainer(port: ByteRangePort, signal?: AbortSignal): Promise<ContainerParts> {
  const c = await openContainer(port, signal);
  const manifestBytes = await c.readManifestBytes(signal);
  const signature = await c.readSignature(signal);
  return { ...c, manifestBytes, signature };
}

function fromTail(port: ByteRangePort, offset: number, length: number): Promise<Buffer> | undefined {
  const t = port.tail;
  if (!t || offset < t.offset || offset + length > t.offset + t.bytes.byteLength) return undefined;
  return Promise.resolve(t.bytes.subarray(offset - t.offset, offset - t.offset + length));
}

/**
 * No footer: either this never was a bundle, or its tail was cut off. A plain bundle starts with
 * the manifest's tar header, which tells the two apart for the common case of a broken download
 * (a local file only: over HTTP it would cost a request for a message's wording).
 */
async function notABundle(port: ByteRangePort): Promise<VmsfxError> {
  const { where } = port;
  if (port.origin === "server") {
    return bundleError("VMSFX_NOT_A_BUNDLE", where, "not a vmsfx bundle (no vmsfx footer at its end)", "Check the address: it must be a file made by `vmsfx pack`, complete.");
  }
  if (port.size >= TAR_BLOCK) {
    const head = await port.read(0, TAR_BLOCK);
    if (head.subarray(0, 14).toString("latin1") === "manifest.json\0") {
      return bundleError("VMSFX_BUNDLE_TRUNCATED", where, "the bundle is cut short or its footer is damaged", "Copy or download it again.");
    }
  }
  return bundleError("VMSFX_NOT_A_BUNDLE", where, "not a vmsfx bundle (no vmsfx footer at its end)", "Pass a file made by `vmsfx pack`.");
}
