import type { BlockHash, Manifest } from "./manifest";
import { blockRefs, hotRefs, isBootPart, isDiskPart, RESUME_PARTS, uniqueBlocks } from "./block-maps";

/**
 * Hot-set order: what resume needs first sits first, so a reader (or an HTTP client) streams it
 * in one sweep. The CPU/device state and memory are needed before the guest runs, then the disk
 * blocks the guest read first after resume (the recorded hot set); other disk blocks are read on
 * demand; boot files only matter for a cold boot.
 */
export function hotOrder(m: Manifest): { hash: BlockHash; size: number }[] {
  return uniqueBlocks([
    ...blockRefs(m, (p) => RESUME_PARTS.includes(p)),
    ...hotRefs(m),
    ...blockRefs(m, isDiskPart),
    ...blockRefs(m, isBootPart),
  ]);
}
