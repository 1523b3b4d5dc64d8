import type { Manifest } from "../snapshot/manifest";
import { carryAppData } from "../snapshot/data-carry";
import { setAsideResumePoint, type ResumePoint } from "../snapshot/resume-point";

/**
 * The resume point a launch continues from. One made by another version (the file was replaced,
 * or updated) brings the app's data along when that is safe; otherwise it is moved aside, never
 * lost, and this version starts from its own state.
 */
export async function previousSession(
  point: ResumePoint | undefined,
  version: { manifest: Manifest; sha256: string },
  o: { encrypted: boolean; statePath: string; say: (line: string) => void },
): Promise<ResumePoint | undefined> {
  if (!point || point.bundleManifestSha256 === version.sha256) return point;
  const carried = o.encrypted ? { why: "the app is encrypted" } : carryAppData(point, version.manifest, version.sha256);
  if ("point" in carried) {
    o.say(`vmsfx: this is a new version of the app; your data (${carried.point.manifest.app!.data.join(", ")}) comes with it.`);
    return carried.point;
  }
  const aside = await setAsideResumePoint(o.statePath, point, "other-version");
  const why = point.kind === "quit" && point.manifest.app ? ` (its data could not come along: ${carried.why})` : "";
  o.say(`vmsfx: the changes saved in ${o.statePath} belong to another version of this app; they were moved to ${aside}${why}, and this version starts from its own state.`);
  return undefined;
}
