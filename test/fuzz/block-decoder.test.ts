import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { VmsfxError } from "../../src/errors";
import { decodeBlock, frameContentSize, loadZstd, sha256Hex, type Zstd } from "../../src/snapshot/block-codec";
import { MAX_BLOCK } from "../../src/snapshot/manifest";
import { patterned } from "../helpers/synthetic-snapshot";
import { rleFrame } from "../fixtures/bundle-assembler.mjs";
import { budget, testTimeout } from "./budget";

/**
 * The block decoder sees only bytes whose SHA-256 the manifest vouches for, but a hostile
 * publisher controls both. So the hash here is always right and the frame is anything: real
 * frames damaged, hand-made frames with any header, bombs, random bytes. The decoder must return
 * exactly rawLength bytes or throw VmsfxError, and keep working afterwards (zstd's wasm heap is
 * fixed: one abort would break every later block).
 */

let zstd: Zstd;
const real: Uint8Array[] = [];
beforeAll(async () => {
  zstd = await loadZstd();
  for (const [size, seed] of [
    [4096, 1],
    [65536, 2],
    [MAX_BLOCK, 3],
  ]) {
    const raw = patterned(size, seed);
    raw.fill(0, size >> 1, (size >> 1) + 1000);
    real.push(zstd.compress(raw, 3)!);
  }
});

function decoded(stored: Uint8Array, rawLength: number): Uint8Array | undefined {
  try {
    return decodeBlock(zstd, stored, rawLength, sha256Hex(stored), "fuzz");
  } catch (e) {
    if (e instanceof VmsfxError) return undefined;
    throw e;
  }
}

const rawLength = fc.oneof(fc.constantFrom(0, 1, 4096, 65536, 131072, MAX_BLOCK), fc.integer({ min: 0, max: MAX_BLOCK }));

/** A real frame, damaged: bytes changed, cut, or repeated. */
const damagedReal = fc
  .tuple(fc.nat(2), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.option(fc.nat(), { nil: undefined }), fc.boolean())
  .map(([which, edits, cut, twice]) => {
    let f = Buffer.from(real[which]);
    for (const [at, v] of edits) f[at % f.length] = v;
    if (cut !== undefined) f = f.subarray(0, cut % (f.length + 1));
    if (twice) f = Buffer.concat([f, f]);
    return { frame: f as Uint8Array, rawLength: [4096, 65536, MAX_BLOCK][which] };
  });

/** Hand-made frames: any declared size, RLE runs of any length, checksums, reserved bits. */
const handMade = fc
  .record({
    declared: fc.option(fc.oneof(fc.integer({ min: 0, max: MAX_BLOCK * 2 }), fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 40)), { nil: null }),
    runs: fc.array(fc.integer({ min: 0, max: 131072 }), { minLength: 1, maxLength: 12 }),
    checksum: fc.boolean(),
    header: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
  })
  .chain((f) => {
    const frame = Buffer.from(rleFrame(f));
    if (f.header !== undefined) frame[4] = f.header;
    const natural = f.declared ?? f.runs.reduce((a, b) => a + b, 0);
    return fc.record({ frame: fc.constant(frame as Uint8Array), rawLength: fc.oneof(fc.constant(Math.min(natural, MAX_BLOCK)), rawLength) });
  });

describe("block decoder", () => {
  it(
    "any stored bytes whose hash matches: exactly rawLength bytes, or a typed error",
    () => {
      fc.assert(
        fc.property(fc.oneof(damagedReal, handMade, fc.record({ frame: fc.uint8Array({ maxLength: 3000 }), rawLength })), ({ frame, rawLength }) => {
          const out = decoded(frame, rawLength);
          if (out) expect(out.byteLength).toBe(rawLength);
        }),
        budget(),
      );
      // Still works after everything above.
      const raw = patterned(MAX_BLOCK, 9);
      expect(Buffer.from(decoded(zstd.compress(raw, 3)!, MAX_BLOCK)!).equals(Buffer.from(raw))).toBe(true);
    },
    testTimeout(),
  );

  it(
    "frameContentSize reads any bytes without throwing",
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 32 }), fc.boolean(), (b, magic) => {
          if (magic && b.length >= 4) b.set([0x28, 0xb5, 0x2f, 0xfd]);
          const n = frameContentSize(b);
          expect(n === null || (Number.isSafeInteger(n) && n >= 0)).toBe(true);
        }),
        budget(0.3),
      );
    },
    testTimeout(0.3),
  );
});
