import fc from "fast-check";
import { createHash } from "node:crypto";
import { FOOTER_FROM_END, TAR_BLOCK } from "../../src/snapshot/bundle-layout";
import type { BundleSource } from "../../src/snapshot/bundle-reader";

/**
 * Mutations of a valid bundle, aimed where a reader makes decisions: the footer, the TOC, the
 * manifest, tar headers, block data. A mutation can be "resealed": the manifest's and the TOC's
 * checksums recomputed afterwards, as a hostile publisher (rather than a bad copy) would, so the
 * decoders behind the checksums see the damage too.
 */

export interface Layout {
  size: number;
  footer: [number, number];
  toc: [number, number];
  manifest: [number, number];
  blocks: [number, number][];
  tarHeaders: number[];
}

export function layoutOf(b: BundleSource): Layout {
  const start = b.bundleStart;
  const blocks = [...b.toc.blocks.values()].map((e): [number, number] => [start + e.offset, e.length]);
  const toc: [number, number] = [start + b.footer.tocOffset, b.footer.tocLength];
  const manifest: [number, number] = [start + b.toc.manifest.offset, b.toc.manifest.length];
  const footer: [number, number] = [b.fileSize - FOOTER_FROM_END, 96];
  // Every entry's data follows its 512-byte header.
  const tarHeaders = [manifest, toc, footer, ...blocks].map(([at]) => at - TAR_BLOCK);
  if (b.toc.signature) tarHeaders.push(start + b.toc.signature.offset - TAR_BLOCK);
  return { size: b.fileSize, footer, toc, manifest, blocks, tarHeaders };
}

type Op =
  | { kind: "set"; at: number; value: number }
  | { kind: "u32"; at: number; value: number }
  | { kind: "u64"; at: number; value: bigint }
  | { kind: "truncate"; keep: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number };

export interface Mutation {
  ops: Op[];
  reseal: boolean;
}

const EDGE_U32 = [0, 1, 72, 96, 511, 512, 4096, 0x7fffffff, 0x80000000, 0xffffffff];
const EDGE_U64 = [0n, 1n, 512n, 0xffffffffn, 1n << 53n, (1n << 53n) + 1n, (1n << 63n) - 1n, (1n << 64n) - 1n];

export function mutation(l: Layout): fc.Arbitrary<Mutation> {
  const regions: [number, number][] = [l.footer, l.footer, l.toc, l.toc, l.manifest, ...l.blocks.slice(0, 4), ...l.tarHeaders.slice(0, 4).map((h): [number, number] => [h, TAR_BLOCK])];
  const inRegion = fc.oneof(
    fc.constantFrom(...regions).chain(([at, len]) => fc.integer({ min: at, max: at + Math.max(0, len - 1) })),
    fc.nat(l.size - 1),
  );
  // Fields start at multiples of 4 in the footer and TOC; aligning there hits them often.
  const aligned = fc.constantFrom(l.footer, l.toc).chain(([at, len]) => fc.nat(Math.floor(Math.max(0, len - 8) / 4)).map((i) => at + 4 * i));
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("set" as const), at: inRegion, value: fc.integer({ min: 0, max: 255 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("u32" as const), at: aligned, value: fc.oneof(fc.constantFrom(...EDGE_U32, l.size, l.size - 1), fc.nat()) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("u64" as const), at: aligned, value: fc.oneof(fc.constantFrom(...EDGE_U64, BigInt(l.size)), fc.bigInt({ min: 0n, max: BigInt(l.size) * 2n })) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate" as const), keep: fc.nat(l.size) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("insert" as const), at: fc.nat(l.size), bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), at: fc.nat(l.size - 1), length: fc.integer({ min: 1, max: 2048 }) }) },
  );
  return fc.record({ ops: fc.array(op, { minLength: 1, maxLength: 4 }), reseal: fc.boolean() });
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest();

export function applyMutation(original: Buffer, l: Layout, m: Mutation): Buffer {
  let b = Buffer.from(original);
  for (const op of m.ops) {
    if (op.kind === "set") b[op.at % b.length] = op.value;
    else if (op.kind === "u32" && op.at + 4 <= b.length) b.writeUInt32LE(op.value >>> 0, op.at);
    else if (op.kind === "u64" && op.at + 8 <= b.length) b.writeBigUInt64LE(op.value & ((1n << 64n) - 1n), op.at);
    else if (op.kind === "truncate") b = b.subarray(0, op.keep);
    else if (op.kind === "insert") b = Buffer.concat([b.subarray(0, op.at), op.bytes, b.subarray(op.at)]);
    else if (op.kind === "delete") b = Buffer.concat([b.subarray(0, op.at), b.subarray(op.at + op.length)]);
  }
  // Resealing uses the original positions: meaningful while the length is unchanged.
  if (m.reseal && b.length === original.length) {
    const [mAt, mLen] = l.manifest;
    const [tAt, tLen] = l.toc;
    sha(b.subarray(mAt, mAt + mLen)).copy(b, tAt + 28);
    sha(b.subarray(tAt, tAt + tLen)).copy(b, l.footer[0] + 36);
  }
  return b;
}
