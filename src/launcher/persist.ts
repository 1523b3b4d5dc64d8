import { VmsfxError } from "../errors";
import type { GuestHost } from "../engine/engine-host";
import type { ResumeKind } from "../snapshot/resume-point";
import type { GuestMachine } from "./guest-start";
import type { LaunchPlan } from "./launch-plan";
import type { EndReason } from "./session-end";
import { saveOnExit } from "./save-on-exit";

/**
 * The last stage of a launch: everything but a crash keeps the user's work. A shut-down guest
 * keeps its disks, a quit app its data disk, any other exit (Ctrl-] q, a signal, the terminal
 * closing) suspends the whole machine.
 */

export interface SavedSession {
  stateDir: string;
  kind: ResumeKind;
  blocks: number;
  packBytes: number;
  newBytes: number;
  ms: number;
}

export function resumeKindFor(reason: EndReason): ResumeKind {
  return reason === "app-quit" ? "quit" : reason === "poweroff" || reason === "reboot" ? "powered-off" : "suspended";
}

/** Saves the session (its disks flushed) as the state folder's new resume point; `consoleLine` is what the user was looking at. */
export async function persistSession(host: GuestHost, plan: LaunchPlan, g: GuestMachine, reason: EndReason, consoleLine: string): Promise<SavedSession> {
  const m = plan.manifest;
  // A resume point keeps whole blocks: sectors the guest wrote while a thin bundle's block
  // could not be fetched are completed now, or the session cannot be kept (the previous stays).
  for (const d of m.disks) {
    const disk = g.disks[d.slot]!;
    const partial = disk.partialBlocks;
    await disk.completePartial().catch((e: unknown) => {
      const why = e instanceof VmsfxError ? e : new VmsfxError("VMSFX_IO", String(e));
      throw new VmsfxError(why.code, `this session could not be saved: the guest changed part of ${partial} disk block${partial === 1 ? "" : "s"} whose rest could not be downloaded (${why.message}) The state saved before this session is kept.`);
    });
  }
  const kind = resumeKindFor(reason);
  const thin = plan.thin;
  const source = plan.source;
  const saved = await saveOnExit({
    kind,
    host,
    base: m,
    coldBooted: plan.coldBoot,
    disks: m.disks.map((entry) => ({ entry, disk: g.disks[entry.slot]! })),
    stateDir: plan.statePath,
    bundleManifest: plan.version.manifest,
    bundleManifestSha256: plan.version.sha256,
    previous: plan.previous,
    consoleLine,
    cipher: plan.bundle.cipher,
    // Never the network while the user waits for the app to close: a thin bundle offers what it has.
    readStored: thin ? async (h, n) => (await thin.readLocal(h, n)) ?? Promise.reject(new Error("not local")) : (h, n) => source.readStored(h, n),
  });
  return { stateDir: plan.statePath, kind, ...saved };
}
