import { createHash } from "node:crypto";
import { VmsfxError, type ErrorCode } from "../errors";
import type { BlockHash } from "./manifest";

/**
 * The bundle is a plain tar (so `tar tvf app.vmsfx` works) whose last two entries are a binary
 * TOC and a fixed-size footer. The footer sits at a fixed distance from the end of the file, so
 * a reader — or the launcher reading its own executable — finds everything with two reads.
 *
 *   footer (FOOTER_SIZE bytes, little-endian)
 *     0  8  magic "VMSFXFTR"
 *     8  4  format version (2)
 *    12  4  flags (0)
 *    16  8  bundle length: bytes from the bundle's first tar header to the end of the file
 *    24  8  TOC offset (from bundle start)
 *    32  4  TOC length
 *    36 32  SHA-256 of the TOC
 *    68 28  reserved, zero
 *
 *   TOC: header (TOC_HEADER_SIZE) then `count` entries of TOC_ENTRY_SIZE, offsets from bundle start
 *     0  8  magic "VMSFXTOC"   8 4 version   12 4 count
 *    16  8  manifest offset   24 4 manifest length   28 32 manifest SHA-256
 *    60  8  signature offset  68 4 signature length (0: unsigned)
 *   entry: 32 raw SHA-256 of the block, 8 offset, 4 stored length
 */

/** 2: the TOC gained the signature entry. */
export const FORMAT_VERSION = 2;
export const FOOTER_SIZE = 96;
export const TAR_BLOCK = 512;
export const TAR_END = 1024;
/** Footer entry = one header + one padded data block, then tar's end-of-archive. */
export const FOOTER_FROM_END = TAR_END + TAR_BLOCK;
export const TAIL_SIZE = TAR_BLOCK + TAR_BLOCK + TAR_END;
export const TOC_HEADER_SIZE = 72;
export const TOC_ENTRY_SIZE = 44;
/** Bounds every allocation a hostile footer could ask for: 16 MiB is ~380k blocks. */
export const MAX_TOC_LENGTH = 16 << 20;
export const MAX_MANIFEST_LENGTH = 32 << 20;

const FOOTER_MAGIC = Buffer.from("VMSFXFTR", "latin1");
const TOC_MAGIC = Buffer.from("VMSFXTOC", "latin1");

export interface Footer {
  version: number;
  bundleLength: number;
  tocOffset: number;
  tocLength: number;
  tocSha256: string;
}

export interface TocEntry {
  offset: number;
  length: number;
}

export interface Toc {
  manifest: { offset: number; length: number; sha256: string };
  /** The publisher's signature over the manifest bytes (JSON), when the bundle is signed. */
  signature?: { offset: number; length: number };
  blocks: Map<BlockHash, TocEntry>;
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function encodeFooter(f: Footer): Buffer {
  const b = Buffer.alloc(FOOTER_SIZE);
  FOOTER_MAGIC.copy(b, 0);
  b.writeUInt32LE(f.version, 8);
  b.writeBigUInt64LE(BigInt(f.bundleLength), 16);
  b.writeBigUInt64LE(BigInt(f.tocOffset), 24);
  b.writeUInt32LE(f.tocLength, 32);
  Buffer.from(f.tocSha256, "hex").copy(b, 36);
  return b;
}

export function hasFooterMagic(b: Uint8Array): boolean {
  return b.byteLength >= 8 && Buffer.from(b.buffer, b.byteOffset, 8).equals(FOOTER_MAGIC);
}

/**
 * A failure of the bundle at `where`: the message leads with the place and ends with the advice;
 * its reason (what a message about several sources quotes) is neither, and the place is a detail.
 */
export function bundleError(code: ErrorCode, where: string, reason: string, advice: string): VmsfxError {
  return new VmsfxError(code, `${where}: ${reason}. ${advice}`, { reason, details: { where } });
}

/** Decodes and range-checks a footer against the size of the file that holds it. */
export function decodeFooter(b: Buffer, fileSize: number, where: string): Footer {
  const version = b.readUInt32LE(8);
  if (version !== FORMAT_VERSION) {
    throw bundleError("VMSFX_UNSUPPORTED_VERSION", where, `bundle format version ${version} is not supported (this vmsfx reads version ${FORMAT_VERSION})`, "Use the vmsfx release that made it.");
  }
  const bundleLength = safe(b.readBigUInt64LE(16));
  const tocOffset = safe(b.readBigUInt64LE(24));
  const tocLength = b.readUInt32LE(32);
  const bad = (what: string) => bundleError("VMSFX_BUNDLE_CORRUPT", where, `footer ${what}`, "The file is damaged; download or copy it again.");
  if (bundleLength < TAIL_SIZE || bundleLength > fileSize) throw bad(`claims a bundle of ${bundleLength} bytes in a file of ${fileSize}`);
  if (tocLength < TOC_HEADER_SIZE || tocLength > MAX_TOC_LENGTH) throw bad(`has an impossible TOC length ${tocLength}`);
  if (tocOffset < TAR_BLOCK || tocOffset + tocLength > bundleLength - FOOTER_FROM_END - TAR_BLOCK) throw bad("points the TOC outside the bundle");
  return { version, bundleLength, tocOffset, tocLength, tocSha256: b.subarray(36, 68).toString("hex") };
}

export function encodeToc(toc: Toc): Buffer {
  const b = Buffer.alloc(TOC_HEADER_SIZE + toc.blocks.size * TOC_ENTRY_SIZE);
  TOC_MAGIC.copy(b, 0);
  b.writeUInt32LE(FORMAT_VERSION, 8);
  b.writeUInt32LE(toc.blocks.size, 12);
  b.writeBigUInt64LE(BigInt(toc.manifest.offset), 16);
  b.writeUInt32LE(toc.manifest.length, 24);
  Buffer.from(toc.manifest.sha256, "hex").copy(b, 28);
  if (toc.signature) {
    b.writeBigUInt64LE(BigInt(toc.signature.offset), 60);
    b.writeUInt32LE(toc.signature.length, 68);
  }
  let p = TOC_HEADER_SIZE;
  for (const [hash, e] of toc.blocks) {
    Buffer.from(hash, "hex").copy(b, p);
    b.writeBigUInt64LE(BigInt(e.offset), p + 32);
    b.writeUInt32LE(e.length, p + 40);
    p += TOC_ENTRY_SIZE;
  }
  return b;
}

/** Every range must lie inside the bundle's data area, i.e. before the TOC itself. */
export function decodeToc(b: Buffer, dataEnd: number, where: string): Toc {
  const bad = (what: string) => bundleError("VMSFX_BUNDLE_CORRUPT", where, `table of contents ${what}`, "The file is damaged; download or copy it again.");
  if (!b.subarray(0, 8).equals(TOC_MAGIC)) throw bad("has no TOC magic");
  if (b.readUInt32LE(8) !== FORMAT_VERSION) throw bad("has an unknown version");
  const count = b.readUInt32LE(12);
  if (b.byteLength !== TOC_HEADER_SIZE + count * TOC_ENTRY_SIZE) throw bad(`length does not match its ${count} entries`);
  const manifest = { offset: safe(b.readBigUInt64LE(16)), length: b.readUInt32LE(24), sha256: b.subarray(28, 60).toString("hex") };
  if (manifest.length === 0 || manifest.length > MAX_MANIFEST_LENGTH || manifest.offset + manifest.length > dataEnd) throw bad("points the manifest outside the bundle");
  const sigLength = b.readUInt32LE(68);
  const signature = sigLength === 0 ? undefined : { offset: safe(b.readBigUInt64LE(60)), length: sigLength };
  if (signature && (signature.length > 4096 || signature.offset + signature.length > dataEnd)) throw bad("points the signature outside the bundle");
  const blocks = new Map<BlockHash, TocEntry>();
  for (let i = 0, p = TOC_HEADER_SIZE; i < count; i++, p += TOC_ENTRY_SIZE) {
    const hash = b.subarray(p, p + 32).toString("hex");
    const offset = safe(b.readBigUInt64LE(p + 32));
    const length = b.readUInt32LE(p + 40);
    if (offset + length > dataEnd) throw bad(`points block ${i} outside the bundle`);
    if (blocks.has(hash)) throw bad(`lists block ${hash.slice(0, 12)}… twice`);
    blocks.set(hash, { offset, length });
  }
  return { manifest, signature, blocks };
}

function safe(v: bigint): number {
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

export function tarPadded(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}
