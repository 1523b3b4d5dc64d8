import { createHash } from "node:crypto";
import { VmsfxError } from "../errors";
import type { BlockHash } from "./manifest";

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

interface ZstdSimple {
  compress(data: Uint8Array, level?: number): Uint8Array | null;
  decompress(data: Uint8Array): Uint8Array | null;
}
interface ZstdGeneric {
  contentSize(data: Uint8Array): number | null;
}
interface Zstd {
  simple: ZstdSimple;
  generic: ZstdGeneric;
}

let zstdPromise: Promise<Zstd> | undefined;

/** zstd-codec instantiates its wasm asynchronously (~25 ms); start it early and share it. */
export function loadZstd(): Promise<Zstd> {
  zstdPromise ??= new Promise((resolve) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { ZstdCodec } = require("zstd-codec");
    ZstdCodec.run((z: { Simple: new () => ZstdSimple; Generic: new () => ZstdGeneric }) => {
      resolve({ simple: new z.Simple(), generic: new z.Generic() });
    });
  });
  return zstdPromise;
}

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

export async function encodeBlock(raw: Uint8Array, level: number): Promise<EncodedBlock> {
  const zstd = await loadZstd();
  const frame = zstd.simple.compress(raw, level);
  const stored = frame && frame.byteLength < raw.byteLength ? frame : raw;
  return { hash: sha256Hex(stored), stored };
}

/** Proves stored bytes are the block the manifest names, then turns them back into raw bytes. */
export function decodeBlock(zstd: Zstd, stored: Uint8Array, rawLength: number, hash: BlockHash, what: string): Uint8Array {
  if (stored.byteLength > rawLength) throw corrupt(what, `block ${hash.slice(0, 12)}… is larger than its raw size ${rawLength}`);
  if (sha256Hex(stored) !== hash) {
    throw corrupt(what, `block ${hash.slice(0, 12)}… does not match its SHA-256`);
  }
  if (stored.byteLength === rawLength) return stored;
  // Only verified bytes get here, but a frame that declares the wrong size is still refused
  // before the decoder allocates for it: the manifest could name a block with the wrong length.
  const declared = zstd.generic.contentSize(stored);
  if (declared !== rawLength) throw corrupt(what, `block ${hash.slice(0, 12)}… declares ${declared ?? "no"} bytes, expected ${rawLength}`);
  const out = zstd.simple.decompress(stored);
  if (!out || out.byteLength !== rawLength) throw corrupt(what, `block ${hash.slice(0, 12)}… does not decompress`);
  return out;
}

function corrupt(what: string, detail: string): VmsfxError {
  return new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${what}: ${detail}. The file is corrupted; copy or download it again.`);
}
