import { createHash } from "node:crypto";
import { VmsfxError } from "../errors";
import type { BlockHash } from "./manifest";

/**
 * One block on disk or on the wire is either a single zstd frame or, when compression would not
 * shrink it, the raw bytes. The rule "stored length == raw length means raw" is unambiguous
 * because we never keep a frame that is not smaller than its input.
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
  const hash = sha256Hex(raw);
  const frame = zstd.simple.compress(raw, level);
  const stored = frame && frame.byteLength < raw.byteLength ? frame : raw;
  return { hash, stored };
}

/**
 * Turns stored bytes back into the raw block and proves they are the block the manifest names.
 * The frame's declared size is checked before anything is allocated for it, so a hostile frame
 * (a "zstd bomb") cannot make us allocate more than the manifest allows.
 */
export function decodeBlock(zstd: Zstd, stored: Uint8Array, rawLength: number, hash: BlockHash, what: string): Uint8Array {
  let raw: Uint8Array;
  if (stored.byteLength === rawLength) {
    raw = stored;
  } else {
    if (stored.byteLength > rawLength) throw corrupt(what, `stored size ${stored.byteLength} exceeds its raw size ${rawLength}`);
    const declared = zstd.generic.contentSize(stored);
    if (declared !== rawLength) throw corrupt(what, `compressed frame declares ${declared ?? "no"} bytes, expected ${rawLength}`);
    const out = zstd.simple.decompress(stored);
    if (!out || out.byteLength !== rawLength) throw corrupt(what, "compressed frame does not decode");
    raw = out;
  }
  if (sha256Hex(raw) !== hash) {
    throw new VmsfxError(
      "VMSFX_BLOCK_HASH_MISMATCH",
      `${what}: block ${hash.slice(0, 12)}… does not match its SHA-256. The file is corrupted; download or copy it again.`,
    );
  }
  return raw;
}

function corrupt(what: string, detail: string): VmsfxError {
  return new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${what}: ${detail}. The file is corrupted; download or copy it again.`);
}
