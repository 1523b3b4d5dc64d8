import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { VmsfxError } from "../../src/errors";
import {
  decodeFooter,
  decodeToc,
  encodeFooter,
  encodeToc,
  FOOTER_FROM_END,
  FOOTER_SIZE,
  FORMAT_VERSION,
  MAX_MANIFEST_LENGTH,
  MAX_TOC_LENGTH,
  TAIL_SIZE,
  TAR_BLOCK,
  TOC_ENTRY_SIZE,
  TOC_HEADER_SIZE,
} from "../../src/snapshot/bundle-layout";
import { budget, testTimeout } from "./budget";

/**
 * The footer and TOC decoders against any bytes: they throw VmsfxError or return ranges that
 * really lie inside the bundle (what the reader then allocates and reads is bounded by those).
 */

const typedOnly = <T>(fn: () => T): T | undefined => {
  try {
    return fn();
  } catch (e) {
    if (e instanceof VmsfxError) return undefined;
    throw e;
  }
};

/** Numbers near the edges that matter, and anything else. */
const u64 = (near: number[]) =>
  fc.oneof(
    fc.constantFrom(0n, 1n, 511n, 512n, 0xffffffffn, 1n << 53n, (1n << 53n) + 1n, (1n << 63n) - 1n, (1n << 64n) - 1n),
    fc.constantFrom(...near).chain((n) => fc.integer({ min: -3, max: 3 }).map((d) => BigInt(Math.max(0, n + d)))),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  );
const u32 = (near: number[]) => u64(near).map((v) => Number(v & 0xffffffffn));

describe("footer decoder", () => {
  it(
    "any footer bytes for any file size: typed error, or a TOC range inside the bundle",
    () => {
      const fileSize = fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
      fc.assert(
        fc.property(fileSize, fc.uint8Array({ minLength: FOOTER_SIZE, maxLength: FOOTER_SIZE }), fc.boolean(), (size, raw, sane) => {
          const b = Buffer.from(raw);
          b.write("VMSFXFTR", 0, "latin1");
          if (sane) b.writeUInt32LE(FORMAT_VERSION, 8);
          const f = typedOnly(() => decodeFooter(b, size, "fuzz"));
          if (!f) return;
          expect(f.bundleLength).toBeGreaterThanOrEqual(TAIL_SIZE);
          expect(f.bundleLength).toBeLessThanOrEqual(size);
          expect(f.tocOffset).toBeGreaterThanOrEqual(TAR_BLOCK);
          expect(f.tocLength).toBeLessThanOrEqual(MAX_TOC_LENGTH);
          expect(f.tocOffset + f.tocLength).toBeLessThanOrEqual(f.bundleLength - FOOTER_FROM_END);
        }),
        budget(),
      );
    },
    testTimeout(),
  );

  it(
    "footers with edge-case fields (lengths, offsets at and around the file's size)",
    () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 1 << 24 }).chain((size) => fc.tuple(fc.constant(size), u64([size, size - FOOTER_FROM_END, TAIL_SIZE]), u64([size, size >> 1, TAR_BLOCK]), u32([size, MAX_TOC_LENGTH, TOC_HEADER_SIZE]))), ([size, bundleLength, tocOffset, tocLength]) => {
          const b = encodeFooter({ version: FORMAT_VERSION, bundleLength: 0, tocOffset: 0, tocLength, tocSha256: "00".repeat(32) });
          b.writeBigUInt64LE(bundleLength, 16);
          b.writeBigUInt64LE(tocOffset, 24);
          const f = typedOnly(() => decodeFooter(b, size, "fuzz"));
          if (f) expect(f.tocOffset + f.tocLength).toBeLessThanOrEqual(Math.min(size, f.bundleLength) - FOOTER_FROM_END);
        }),
        budget(),
      );
    },
    testTimeout(),
  );
});

describe("TOC decoder", () => {
  const hash = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((h) => Buffer.from(h).toString("hex"));
  const validToc = fc.record({
    dataEnd: fc.integer({ min: 0, max: 1 << 30 }),
    manifest: fc.record({ offset: fc.nat(1 << 30), length: fc.nat(1 << 26), sha256: hash }),
    blocks: fc.array(fc.tuple(hash, fc.record({ offset: fc.nat(1 << 30), length: fc.nat(1 << 20) })), { maxLength: 40 }),
    signature: fc.option(fc.record({ offset: fc.nat(1 << 30), length: fc.nat(8192) }), { nil: undefined }),
  });
  const edit = fc.array(fc.tuple(fc.nat(), fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constant(0xff), fc.constant(0))), { maxLength: 8 });

  it(
    "any TOC (well formed, then edited byte by byte): typed error, or every range inside the data area",
    () => {
      fc.assert(
        fc.property(validToc, edit, fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }), (t, edits, cutTo) => {
          let b = encodeToc({ manifest: t.manifest, signature: t.signature?.length ? t.signature : undefined, blocks: new Map(t.blocks) });
          for (const [at, v] of edits) b[at % b.byteLength] = v;
          if (cutTo !== undefined) b = b.subarray(0, Math.min(b.byteLength, TOC_HEADER_SIZE + cutTo));
          const toc = typedOnly(() => decodeToc(b, t.dataEnd, "fuzz"));
          if (!toc) return;
          expect(toc.manifest.length).toBeGreaterThan(0);
          expect(toc.manifest.length).toBeLessThanOrEqual(MAX_MANIFEST_LENGTH);
          expect(toc.manifest.offset + toc.manifest.length).toBeLessThanOrEqual(t.dataEnd);
          if (toc.signature) expect(toc.signature.offset + toc.signature.length).toBeLessThanOrEqual(t.dataEnd);
          for (const e of toc.blocks.values()) expect(e.offset + e.length).toBeLessThanOrEqual(t.dataEnd);
          expect(b.byteLength).toBe(TOC_HEADER_SIZE + toc.blocks.size * TOC_ENTRY_SIZE);
        }),
        budget(),
      );
    },
    testTimeout(),
  );

  it(
    "random bytes that start like a TOC: typed error or bounded ranges",
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: TOC_HEADER_SIZE, maxLength: 600 }), fc.nat(1 << 20), (raw, dataEnd) => {
          const b = Buffer.from(raw);
          b.write("VMSFXTOC", 0, "latin1");
          b.writeUInt32LE(FORMAT_VERSION, 8);
          if (raw[0] & 1) b.writeUInt32LE(Math.floor((b.byteLength - TOC_HEADER_SIZE) / TOC_ENTRY_SIZE), 12);
          const toc = typedOnly(() => decodeToc(b, dataEnd, "fuzz"));
          if (toc) for (const e of toc.blocks.values()) expect(e.offset + e.length).toBeLessThanOrEqual(dataEnd);
        }),
        budget(),
      );
    },
    testTimeout(),
  );
});
