import { blockLength, type BlockHash, type BlockMap, type Manifest } from "./manifest";

/**
 * Hot-set order: what resume needs first sits first, so a reader (or an HTTP client) streams it
 * in one sweep. The CPU/device state and memory are needed before the guest runs; disks are read
 * on demand; boot files only matter for a cold boot.
 */
export function hotOrder(m: Manifest): { hash: BlockHash; size: number }[] {
  const out: { hash: BlockHash; size: number }[] = [];
  const seen = new Set<BlockHash>();
  const add = (hash: BlockHash, size: number) => {
    if (!seen.has(hash)) {
      seen.add(hash);
      out.push({ hash, size });
    }
  };
  const addMap = (map: BlockMap) => map.blocks.forEach((h, i) => h && add(h, blockLength(map, i)));
  addMap(m.state);
  addMap(m.memory);
  addMap(m.vgaMemory);
  for (const h of m.hot ?? []) {
    const map = m.disks.find((d) => d.slot === h.slot)!.map;
    for (const i of h.blocks) {
      const hash = map.blocks[i];
      if (hash) add(hash, blockLength(map, i));
    }
  }
  m.disks.forEach((d) => addMap(d.map));
  if (m.boot) [m.boot.bios, m.boot.vgaBios, m.boot.kernel, m.boot.initrd].forEach((x) => x && addMap(x));
  return out;
}
