import type { BlockMap, Manifest } from "./manifest";
import type { ResumePoint } from "./resume-point";

/**
 * An app's data disk outlives the version it was made with. When a new version of the app (a
 * replaced file, or a thin bundle's `--update`) finds the resume point an older one left at a
 * quit, the user's data disk is carried over: the new point is the new version's own manifest
 * with the old data disk in place of the fresh one. Everything else (memory, the read-only root)
 * comes from the new version, which is what the update is for.
 *
 * Only where that is safe: the old point is a quit (the data disk was unmounted cleanly), both
 * versions keep the same data paths on a disk of the same geometry, and the pack holds every
 * block of that disk (points saved since quits keep the data disk whole), so nothing depends on
 * the old version's blocks. Otherwise the caller sets the old point aside, as before.
 */
export type CarryResult = { point: ResumePoint } | { why: string };

export function carryAppData(previous: ResumePoint, next: Manifest, nextSha256: string): CarryResult {
  const was = previous.manifest.app;
  const now = next.app;
  if (previous.kind !== "quit") return { why: "it was left running (suspended), so only the version that ran it can resume it" };
  if (!was || !now) return { why: "one of the versions is not an app with a data disk" };
  if (was.dataDisk !== now.dataDisk || JSON.stringify(was.data) !== JSON.stringify(now.data)) return { why: `the new version keeps its data in other places (${now.data.join(", ")})` };
  const old = previous.manifest.disks.find((d) => d.slot === was.dataDisk)?.map;
  const fresh = next.disks.find((d) => d.slot === now.dataDisk)?.map;
  if (!old || !fresh || old.size !== fresh.size || old.blockSize !== fresh.blockSize) return { why: "the new version's data disk has another size" };
  if (!wholeInPack(old, previous)) return { why: "it was saved by an older vmsfx that kept only the blocks that changed" };
  const disks = next.disks.map((d) => (d.slot === now.dataDisk ? { slot: d.slot, map: old } : d));
  return { point: { ...previous, bundleManifestSha256: nextSha256, manifest: { ...next, disks } } };
}

function wholeInPack(map: BlockMap, point: ResumePoint): boolean {
  const index = point.pack?.blocks ?? {};
  return map.blocks.every((h) => h === null || index[h] !== undefined);
}
