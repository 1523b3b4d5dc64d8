import type { BlockHash, Manifest } from "../snapshot/manifest";
import { blockRefs, hotRefs, isBootPart, mapRefs, RESUME_PARTS, uniqueBlocks } from "../snapshot/block-maps";

/**
 * What a thin launch fetches before the guest runs: all of RAM (and the device state) for a
 * resume, or the firmware and kernel for a cold boot, plus each disk's first block (v86 reads
 * the geometry while it starts). Fetching these up front, in parallel, makes being offline one
 * clear error naming everything missing. The recorded hot set rides in the same batch: a few more
 * blocks cost no extra round trip now, where fetching them on demand right after resume costs
 * one each. Other disk blocks come on demand. `local` holds blocks the state folder already has.
 */
export function blocksNeededBeforeRun(m: Manifest, coldBoot: boolean, local: ReadonlySet<BlockHash>): { hash: BlockHash; size: number }[] {
  const first = coldBoot && m.boot ? blockRefs(m, isBootPart) : blockRefs(m, (p) => RESUME_PARTS.includes(p));
  const refs = [...first, ...m.disks.flatMap((d) => [...mapRefs(`disk:${d.slot}`, d.map, [0])]), ...(coldBoot ? [] : hotRefs(m))];
  return uniqueBlocks(refs.filter((r) => !local.has(r.hash)));
}
