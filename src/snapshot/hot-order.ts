import type { BlockHash, Manifest } from "./manifest";
import { blockRefs, hotRefs, isBootPart, isDiskPart, RESUME_PARTS, uniqueBlocks } from "./block-maps";

/**
 * Hot-set order: what resume needs first sits first, so a reader (or an HTTP client) streams it
 * in one sweep. The CPU/device state and memory are needed before the guest runs, then the disk
 * blocks the guest read first after resume (the recorded hot set); other disk blocks are read on
 * demand; boot files only matter for a cold boot.
 */
export function hotOrder(m: Manifest): { hash: BlockHash; size: number }[] {
  return hotSections(m).flat();
}

/**
 * The same order cut where what changes between versions changes: the resume state (new with
 * every capture), the recorded hot set, the other disk blocks, the boot files. Each block once,
 * in the first section that names it. A registry's packs never straddle two (pack-layout.ts).
 */
export function hotSections(m: Manifest): { hash: BlockHash; size: number }[][] {
  const seen = new Set<BlockHash>();
  const sections = [blockRefs(m, (p) => RESUME_PARTS.includes(p)), hotRefs(m), blockRefs(m, isDiskPart), blockRefs(m, isBootPart)];
  return sections.map((refs) => uniqueBlocks(refs).filter((b) => !seen.has(b.hash) && seen.add(b.hash)));
}
