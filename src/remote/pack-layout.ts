import { createHash } from "node:crypto";
import { VmsfxError } from "../errors";
import type { BlockHash } from "../snapshot/manifest";

/**
 * Blocks grouped into a few large pack blobs for a registry: one blob per block would mean
 * thousands of requests per publish and per launch, and registries limit both. A pack is the
 * stored bytes of its blocks back to back, in hot order (what resume needs first, first).
 *
 * Where a pack ends is decided by the blocks themselves (a block whose hash matches a pattern
 * ends one, once the pack is big enough), not by a running byte count: a new version that
 * changes a few blocks changes only the packs that hold them, and every other pack has the same
 * bytes, so the same digest, and is not uploaded again.
 *
 * The pack index (a layer of the artifact) says, for every block, its pack and where in it.
 */

export const PACK_INDEX_FORMAT = "vmsfx-packs";
export const PACK_INDEX_VERSION = 1;

export interface PackLimits {
  /** No pack ends before it holds this many bytes… */
  minBytes: number;
  /** …and every pack ends once it holds this many. */
  maxBytes: number;
  /** Past minBytes, a block ends its pack when its hash's first 32 bits are 0 modulo this. */
  cutEvery: number;
}

/** Tens of MiB: about 8 + 160 × 0.2 MiB ≈ 40 MiB on average for typical blocks, never over 64. */
export const DEFAULT_PACK_LIMITS: PackLimits = { minBytes: 8 << 20, maxBytes: 64 << 20, cutEvery: 160 };

export interface PackedBlock {
  hash: BlockHash;
  /** Where its stored bytes start in the pack, and how many. */
  offset: number;
  length: number;
}

export interface Pack {
  /** `sha256:<hex>` of the pack's bytes. */
  digest: string;
  size: number;
  blocks: PackedBlock[];
}

export interface PackIndex {
  format: typeof PACK_INDEX_FORMAT;
  version: typeof PACK_INDEX_VERSION;
  /** SHA-256 of the vmsfx manifest these packs hold the blocks of. */
  manifestSha256: string;
  packs: Pack[];
}

/** Whether the pack should end after this block. */
export function endsPack(hash: BlockHash, packBytes: number, l: PackLimits = DEFAULT_PACK_LIMITS): boolean {
  if (packBytes >= l.maxBytes) return true;
  return packBytes >= l.minBytes && parseInt(hash.slice(0, 8), 16) % l.cutEvery === 0;
}

/**
 * Builds packs from blocks read one at a time (memory: one block). `read` returns a block's
 * stored bytes, already checked against its name. A pack also ends where the section changes
 * (resume state, hot set, disks, boot files): the resume state is new in every version, and a
 * pack holding it and disk blocks would never be reused.
 */
export async function planPacks(items: readonly { hash: BlockHash; section?: number }[], read: (h: BlockHash) => Promise<Uint8Array>, l: PackLimits = DEFAULT_PACK_LIMITS, onBlock?: () => void): Promise<Pack[]> {
  const packs: Pack[] = [];
  let blocks: PackedBlock[] = [];
  let size = 0;
  let hasher = createHash("sha256");
  const close = () => {
    packs.push({ digest: `sha256:${hasher.digest("hex")}`, size, blocks });
    blocks = [];
    size = 0;
    hasher = createHash("sha256");
  };
  for (const [i, { hash, section }] of items.entries()) {
    const bytes = await read(hash);
    blocks.push({ hash, offset: size, length: bytes.byteLength });
    hasher.update(bytes);
    size += bytes.byteLength;
    onBlock?.();
    if (endsPack(hash, size, l) || (i + 1 < items.length && items[i + 1].section !== section)) close();
  }
  if (blocks.length) close();
  return packs;
}

export function serializePackIndex(i: PackIndex): Buffer {
  // Blocks as [hash, length]: offsets follow from the order, and the index stays small.
  const packs = i.packs.map((p) => ({ digest: p.digest, size: p.size, blocks: p.blocks.map((b) => [b.hash, b.length]) }));
  return Buffer.from(JSON.stringify({ format: i.format, version: i.version, manifestSha256: i.manifestSha256, packs }));
}

const HASH = /^[0-9a-f]{64}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const MAX_PACK = 1 << 30;

/** Reads a pack index fetched from a registry (its digest already checked); throws VMSFX_REGISTRY_NOT_VMSFX when it is not one. */
export function parsePackIndex(bytes: Uint8Array, where: string): PackIndex {
  const bad = (what: string): never => {
    throw new VmsfxError("VMSFX_REGISTRY_NOT_VMSFX", `${where}: the artifact's pack index ${what}; it was not written by \`vmsfx publish\`, or by a version this one cannot read.`);
  };
  let raw: { format?: unknown; version?: unknown; manifestSha256?: unknown; packs?: unknown };
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return bad("is not JSON");
  }
  if (raw?.format !== PACK_INDEX_FORMAT) bad(`has format ${JSON.stringify(raw?.format)?.slice(0, 40)}`);
  if (raw.version !== PACK_INDEX_VERSION) bad(`is version ${JSON.stringify(raw.version)?.slice(0, 20)}`);
  if (typeof raw.manifestSha256 !== "string" || !HASH.test(raw.manifestSha256)) bad("names no manifest");
  if (!Array.isArray(raw.packs) || raw.packs.length > 100_000) bad("has no list of packs");
  const packs = (raw.packs as unknown[]).map((p, i): Pack => {
    const o = p as { digest?: unknown; size?: unknown; blocks?: unknown };
    if (typeof o?.digest !== "string" || !DIGEST.test(o.digest)) bad(`names pack ${i} without a sha256 digest`);
    if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0 || o.size > MAX_PACK) bad(`gives pack ${i} an impossible size`);
    if (!Array.isArray(o.blocks)) bad(`lists no blocks in pack ${i}`);
    let offset = 0;
    const blocks = (o.blocks as unknown[]).map((b) => {
      const [hash, length] = Array.isArray(b) ? b : [];
      if (typeof hash !== "string" || !HASH.test(hash) || typeof length !== "number" || !Number.isSafeInteger(length) || length < 0) bad(`has a malformed block in pack ${i}`);
      const at = { hash: hash as string, offset, length: length as number };
      offset += length as number;
      return at;
    });
    if (offset !== o.size) bad(`says pack ${i} is ${o.size} bytes but its blocks add up to ${offset}`);
    return { digest: o.digest as string, size: o.size as number, blocks };
  });
  return { format: PACK_INDEX_FORMAT, version: PACK_INDEX_VERSION, manifestSha256: raw.manifestSha256 as string, packs };
}

/** Where each block is: its pack and byte range. */
export function locateBlocks(i: PackIndex): Map<BlockHash, { pack: Pack; block: PackedBlock }> {
  const at = new Map<BlockHash, { pack: Pack; block: PackedBlock }>();
  for (const pack of i.packs) for (const block of pack.blocks) if (!at.has(block.hash)) at.set(block.hash, { pack, block });
  return at;
}
