import { blockLength, type BlockHash, type BlockMap, type Manifest } from "../snapshot/manifest";

/**
 * What a thin launch fetches before the guest runs: all of RAM (and the device state) for a
 * resume, or the firmware and kernel for a cold boot, plus each disk's first block (v86 reads
 * the geometry while it starts). Fetching these up front, in parallel, makes being offline one
 * clear error naming everything missing. The recorded hot set rides in the same batch: a few more
 * blocks cost no extra round trip now, where fetching them on demand right after resume costs
 * one each. Other disk blocks come on demand. `local` holds blocks the state folder already has.
 */
export function blocksNeededBeforeRun(m: Manifest, coldBoot: boolean, local: ReadonlySet<BlockHash>): { hash: BlockHash; size: number }[] {
  const needed = new Map<BlockHash, number>();
  const want = (map: BlockMap, indices: Iterable<number>) => {
    for (const i of indices) {
      const h = map.blocks[i];
      if (h && !local.has(h)) needed.set(h, blockLength(map, i));
    }
  };
  const all = (map: BlockMap) => map.blocks.keys();
  if (coldBoot && m.boot) [m.boot.bios, m.boot.vgaBios, m.boot.kernel, m.boot.initrd].forEach((b) => b && want(b, all(b)));
  else [m.state, m.memory, m.vgaMemory].forEach((b) => want(b, all(b)));
  m.disks.forEach((d) => want(d.map, [0]));
  if (!coldBoot) {
    for (const h of m.hot ?? []) {
      const disk = m.disks.find((d) => d.slot === h.slot);
      if (disk) want(disk.map, h.blocks);
    }
  }
  return [...needed].map(([hash, size]) => ({ hash, size }));
}
