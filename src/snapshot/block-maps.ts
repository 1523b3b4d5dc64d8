import type { BlockHash, BlockMap, Manifest } from "./manifest";

/**
 * The one walk over a manifest's block maps. Every reader that needs "which blocks, of which
 * part, at which index, how long" (the hot order, a thin launch's prefetch, a resume point's
 * pack, publish, inspect) goes through these, so a new kind of map is added in one place.
 */

export type MapPart = "state" | "memory" | "vgaMemory" | `disk:${"hda" | "hdb"}` | `boot:${"bios" | "vgaBios" | "kernel" | "initrd"}`;

export interface NamedMap {
  part: MapPart;
  map: BlockMap;
}

/** A stored block at one place of one map (zero blocks are not stored, so never referenced). */
export interface BlockRef {
  part: MapPart;
  index: number;
  hash: BlockHash;
  /** Raw length of the block at this place (the last block of a map may be short). */
  size: number;
}

/** What a resume needs before the guest runs. */
export const RESUME_PARTS: readonly MapPart[] = ["state", "memory", "vgaMemory"];

export function blockCount(size: number, blockSize: number): number {
  return Math.ceil(size / blockSize);
}

export function blockLength(map: BlockMap, index: number): number {
  return Math.min(map.blockSize, map.size - index * map.blockSize);
}

/** Every map of the manifest, in a fixed order: device state, memory, VGA memory, disks, boot files. */
export function namedMaps(m: Manifest): NamedMap[] {
  const out: NamedMap[] = [
    { part: "state", map: m.state },
    { part: "memory", map: m.memory },
    { part: "vgaMemory", map: m.vgaMemory },
  ];
  for (const d of m.disks) out.push({ part: `disk:${d.slot}`, map: d.map });
  if (m.boot) {
    out.push({ part: "boot:bios", map: m.boot.bios }, { part: "boot:vgaBios", map: m.boot.vgaBios }, { part: "boot:kernel", map: m.boot.kernel });
    if (m.boot.initrd) out.push({ part: "boot:initrd", map: m.boot.initrd });
  }
  return out;
}

/** The stored blocks of one map, at every index or at the given ones. */
export function* mapRefs(part: MapPart, map: BlockMap, indices: Iterable<number> = map.blocks.keys()): Generator<BlockRef> {
  for (const index of indices) {
    const hash = map.blocks[index];
    if (hash) yield { part, index, hash, size: blockLength(map, index) };
  }
}

/** The stored blocks of the manifest's maps (all, or those `want` picks), duplicates included. */
export function* blockRefs(m: Manifest, want: (part: MapPart) => boolean = () => true): Generator<BlockRef> {
  for (const { part, map } of namedMaps(m)) if (want(part)) yield* mapRefs(part, map);
}

/** The disk blocks the recorded hot set names (`vmsfx record`), in the order they were read. */
export function* hotRefs(m: Manifest): Generator<BlockRef> {
  for (const h of m.hot ?? []) {
    const disk = m.disks.find((d) => d.slot === h.slot);
    if (disk) yield* mapRefs(`disk:${disk.slot}`, disk.map, h.blocks);
  }
}

/** Each hash once, where it first appears, with its raw size. */
export function uniqueBlocks(refs: Iterable<BlockRef>): { hash: BlockHash; size: number }[] {
  const out = new Map<BlockHash, number>();
  for (const r of refs) if (!out.has(r.hash)) out.set(r.hash, r.size);
  return [...out].map(([hash, size]) => ({ hash, size }));
}

/** The set of every block the manifest references. */
export function blockHashes(m: Manifest): Set<BlockHash> {
  const out = new Set<BlockHash>();
  for (const r of blockRefs(m)) out.add(r.hash);
  return out;
}

export function isDiskPart(part: MapPart): boolean {
  return part.startsWith("disk:");
}

export function isBootPart(part: MapPart): boolean {
  return part.startsWith("boot:");
}
