import { createHash } from "node:crypto";
import { VmsfxError } from "../errors";
import type { BlockHash } from "./manifest";
import { loadZstd, type Zstd } from "./zstd-native";

/**
 * One block on disk or on the wire is either a single zstd frame or, when compression would not
 * shrink it, the raw bytes. The rule "stored length == raw length means raw" is unambiguous
 * because we never keep a frame that is not smaller than its input.
 *
 * A block is named by the SHA-256 of its STORED bytes. So the hash is checked before anything is
 * decompressed: the zstd decoder only ever sees bytes the manifest vouches for (no decompression
 * bombs from a tampered file), and resume hashes the compressed bytes — about a third of the raw.
 * Compression is deterministic for a given level, so identical raw blocks still deduplicate.
 */

export { loadZstd };
export type { Zstd };

export function sha256Hex(data: Uint8Array): BlockHash {
  return createHash("sha256").update(data).digest("hex");
}

export function isAllZero(data: Uint8Array): boolean {
  // Word-wise scan: this runs over every block of a 128 MiB guest at capture.
  const words = data.byteLength >>> 3;
  if (data.byteOffset % 8 === 0 && words > 0) {
    const w = new BigUint64Array(data.buffer, data.byteOffset, words);
    for (let i = 0; i < words; i++) if (w[i] !== 0n) return false;
  } else {
    for (let i = 0; i < words * 8; i++) if (data[i] !== 0) return false;
  }
  for (let i = words * 8; i < data.byteLength; i++) if (data[i] !== 0) return false;
  return true;
}

export interface EncodedBlock {
  hash: BlockHash;
  stored: Uint8Array;
}

export async function encodeBlock(raw: Uint8Array, level: number, cipher?: StoredCipher): Promise<EncodedBlock> {
  const zstd = await loadZstd();
  const frame = await zstd.compressAsync(raw, level);
  const plain = frame && frame.byteLength < raw.byteLength ? frame : raw;
  const stored = cipher ? cipher.seal(plain, "block") : plain;
  return { hash: sha256Hex(stored), stored };
}

/** Proves stored bytes are the block the manifest names, then turns them back into raw bytes. */
/** Seals and opens stored blocks of an encrypted bundle (see policy/encryption.ts). */
export interface StoredCipher {
  seal(plain: Uint8Array, context: string): Uint8Array;
  open(sealed: Uint8Array, where: string): Uint8Array;
}

/** Bytes a stored block may exceed its raw size by: the AES-GCM nonce and tag of an encrypted one. */
export const MAX_STORED_OVERHEAD = 28;

export function decodeBlock(zstd: Zstd, stored: Uint8Array, rawLength: number, hash: BlockHash, what: string, cipher?: StoredCipher): Uint8Array {
  const checked = verifiedFrame(stored, rawLength, hash, what, cipher);
  if ("raw" in checked) return checked.raw;
  return decoded(zstd.decompress(checked.frame, rawLength), rawLength, hash, what);
}

/** decodeBlock with the zstd step on the threadpool; the hash is checked here, first, as there. */
export async function decodeBlockAsync(zstd: Zstd, stored: Uint8Array, rawLength: number, hash: BlockHash, what: string, cipher?: StoredCipher): Promise<Uint8Array> {
  const checked = verifiedFrame(stored, rawLength, hash, what, cipher);
  if ("raw" in checked) return checked.raw;
  return decoded(await zstd.decompressAsync(checked.frame, rawLength), rawLength, hash, what);
}

/** Proves stored bytes are the block the manifest names and opens them: raw bytes, or a frame still to decode. */
function verifiedFrame(stored: Uint8Array, rawLength: number, hash: BlockHash, what: string, cipher?: StoredCipher): { raw: Uint8Array } | { frame: Uint8Array } {
  if (stored.byteLength > rawLength + (cipher ? MAX_STORED_OVERHEAD : 0)) throw corrupt(what, `block ${hash.slice(0, 12)}… is larger than its raw size ${rawLength}`);
  if (sha256Hex(stored) !== hash) {
    throw corrupt(what, `block ${hash.slice(0, 12)}… does not match its SHA-256`);
  }
  if (cipher) stored = cipher.open(stored, what);
  if (stored.byteLength > rawLength) throw corrupt(what, `block ${hash.slice(0, 12)}… is larger than its raw size ${rawLength}`);
  if (stored.byteLength === rawLength) return { raw: stored };
  // Only verified bytes get here. A frame can still declare a size other than the manifest's
  // (a hand-made bundle): refuse it before the decoder allocates for it. Reading the size field
  // from the frame header ourselves costs nothing next to the decoder.
  const declared = frameContentSize(stored);
  if (declared !== rawLength) throw corrupt(what, `block ${hash.slice(0, 12)}… declares ${declared ?? "no"} bytes, expected ${rawLength}`);
  return { frame: stored };
}

function decoded(out: Uint8Array | null, rawLength: number, hash: BlockHash, what: string): Uint8Array {
  if (!out || out.byteLength !== rawLength) throw corrupt(what, `block ${hash.slice(0, 12)}… does not decompress`);
  return out;
}

/**
 * Frame_Content_Size from a zstd frame header (RFC 8878 §3.1.1.1), or null when absent or not a
 * frame.
 */
export function frameContentSize(frame: Uint8Array): number | null {
  if (frame.byteLength < 6 || frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f || frame[3] !== 0xfd) return null;
  const fhd = frame[4];
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const dictIdBytes = [0, 1, 2, 4][fhd & 3];
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag];
  if (fcsBytes === 0) return null;
  const at = 5 + (singleSegment ? 0 : 1) + dictIdBytes;
  if (frame.byteLength < at + fcsBytes) return null;
  const dv = new DataView(frame.buffer, frame.byteOffset + at, fcsBytes);
  if (fcsBytes === 1) return dv.getUint8(0);
  if (fcsBytes === 2) return dv.getUint16(0, true) + 256;
  if (fcsBytes === 4) return dv.getUint32(0, true);
  const big = dv.getBigUint64(0, true);
  return big > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(big);
}

function corrupt(what: string, detail: string): VmsfxError {
  return new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${what}: ${detail}. The file is corrupted; copy or download it again.`);
}
