import { spawn } from "node:child_process";

/**
 * The host's apt sources as mmdebstrap mirror lines, for a build that has to leave one suite out.
 * apt itself, when one index of an update suite cannot be had (a mirror mid-sync, or one left
 * inconsistent: "File has unexpected size … Mirror sync in progress?"), warns and goes on with
 * the others; mmdebstrap refuses (`apt-get update --error-on=any`). A build that cannot have
 * `bookworm-security`'s i386 index is built as apt would, from the other suites, and says so.
 */

const INCONSISTENT_INDEX = /Mirror sync in progress|Hash Sum mismatch|File has unexpected size/;

/** The suite whose index failed to download, when it is not the release itself (an update suite). */
export function brokenUpdateSuite(mmdebstrapOutput: string, release: string): string | undefined {
  if (!INCONSISTENT_INDEX.test(mmdebstrapOutput)) return undefined;
  const suite = /Failed to fetch \S*?\/dists\/([^/\s]+)\//.exec(mmdebstrapOutput)?.[1];
  return suite && suite !== release && suite.startsWith(`${release}-`) ? suite : undefined;
}

/** `deb URI SUITE COMPONENT...` for every suite apt is configured with, less `leaveOut`. */
export async function hostSourceLines(leaveOut: string[]): Promise<string[]> {
  const text = await aptIndexTargets();
  const bySuite = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const [uri, suite, component] = line.trim().split(" ");
    if (!component || leaveOut.includes(suite) || !/^https?:\/\/\S+$/.test(uri) || !/^[\w.-]+$/.test(suite + component)) continue;
    const key = `${uri} ${suite}`;
    bySuite.set(key, (bySuite.get(key) ?? new Set()).add(component));
  }
  return [...bySuite].map(([key, components]) => `deb ${key} ${[...components].sort().join(" ")}`);
}

function aptIndexTargets(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn("apt-get", ["indextargets", "--format", "$(REPO_URI) $(RELEASE) $(COMPONENT)", "Identifier: Packages"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", () => resolve(""));
    child.on("close", () => resolve(out));
  });
}
