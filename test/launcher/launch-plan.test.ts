import { beforeAll, describe, expect, it } from "vitest";
import * as path from "node:path";
import { VmsfxError } from "../../src/errors";
import type { Manifest } from "../../src/snapshot/manifest";
import { openSnapshot } from "../../src/snapshot/open-snapshot";
import { openLayeredSource } from "../../src/snapshot/layered-source";
import type { ResumePoint } from "../../src/snapshot/resume-point";
import { openStateDir } from "../../src/launcher/state-dir";
import { openLaunchPlan, type PlanOpeners } from "../../src/launcher/launch-plan";
import { PackGuardedSource } from "../../src/launcher/pack-guard";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";

let dir: string;
let manifest: Manifest;
beforeAll(async () => ({ dir, manifest } = await makeSyntheticSnapshot()));

const quiet = { write: () => true };

/** The real openers, each source counting its closes. */
function counted() {
  const closes: Record<string, number> = {};
  const count = <T extends { close(): Promise<void> }>(name: string, s: T): T => {
    const close = s.close.bind(s);
    return Object.assign(s, { close: () => ((closes[name] = (closes[name] ?? 0) + 1), close()) });
  };
  const openers: Partial<PlanOpeners> = {
    openSnapshot: async (p, o) => count("bundle", await openSnapshot(p, o)),
    openLayeredSource: async (b, p, s) => count("layered", await openLayeredSource(b, p, s)),
  };
  return { closes, openers };
}

/** A resume point of this snapshot's own manifest, with no pack: every block is the bundle's. */
function pointFor(sha256: string, kind: ResumePoint["kind"] = "suspended"): ResumePoint {
  return { format: "vmsfx-resume", version: 1, bundleManifestSha256: sha256, savedAt: "2026-01-01T00:00:00.000Z", kind, pack: null, manifest };
}

/** The plan's lock is free again once it is closed: a second launch can take it. */
async function lockIsFree(stateDir: string): Promise<boolean> {
  const s = await openStateDir(dir, stateDir).catch((e: unknown) => (e instanceof VmsfxError && e.code === "VMSFX_STATE_LOCKED" ? undefined : Promise.reject(e)));
  await s?.release();
  return s !== undefined;
}

describe("openLaunchPlan", () => {
  it("opens the app as it is: its own version, no resume point, its sources closed once with the lock", async () => {
    const stateDir = tempDir();
    const { closes, openers } = counted();
    const plan = await openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir, stderr: quiet }, openers);
    expect(plan.statePath).toBe(stateDir);
    expect(plan.previous).toBeUndefined();
    expect(plan.thin).toBeUndefined();
    expect(plan.coldBoot).toBe(false);
    expect(plan.source).toBe(plan.bundle);
    expect(plan.manifest).toEqual(manifest);
    expect(await lockIsFree(stateDir)).toBe(false);
    await plan.close();
    expect(closes).toEqual({ bundle: 1 });
    expect(await lockIsFree(stateDir)).toBe(true);
  });

  it("continues from a resume point through a guarded layered source, and closes every layer", async () => {
    const stateDir = tempDir();
    const { closes, openers } = counted();
    let appId = "";
    const plan = await openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir, stderr: quiet }, {
      ...openers,
      openResumePoint: async () => ({ point: pointFor(appId) }),
      chooseVersion: async (bundle, sha256) => ((appId = sha256), { source: bundle, manifest: bundle.manifest, sha256 }),
    });
    expect(plan.previous?.kind).toBe("suspended");
    expect(plan.source).toBeInstanceOf(PackGuardedSource);
    expect(plan.source.location).toBe(`${dir} (resumed from ${stateDir})`);
    await plan.close();
    expect(closes).toEqual({ layered: 1, bundle: 1 });
    expect(await lockIsFree(stateDir)).toBe(true);
  });

  it("the app id is the opened snapshot's typed manifestSha256, for the version and the gate alike", async () => {
    const stateDir = tempDir();
    const seen: string[] = [];
    const plan = await openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir, stderr: quiet }, {
      openSnapshot: async (p, o) => Object.assign(await openSnapshot(p, o), { manifestSha256: "c".repeat(64) }),
      chooseVersion: async (bundle, sha256) => (seen.push(sha256), { source: bundle, manifest: bundle.manifest, sha256 }),
      enforceLaunch: async (input) => (seen.push(input.appId), {}),
    });
    expect(seen).toEqual(["c".repeat(64), "c".repeat(64)]);
    await plan.close();
  });

  it("a powered-off resume point, or --fresh, cold-boots", async () => {
    const stateDir = tempDir();
    const plan = await openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir, stderr: quiet }, {
      openResumePoint: async () => ({ point: pointFor("", "powered-off") }),
      chooseVersion: async (bundle) => ({ source: bundle, manifest: bundle.manifest, sha256: "" }),
    });
    expect(plan.coldBoot).toBe(true);
    await plan.close();
    const fresh = await openLaunchPlan(dir, manifest.engine, { fresh: true, stateDir, stderr: quiet });
    expect(fresh.coldBoot).toBe(true);
    expect(fresh.previous).toBeUndefined();
    await fresh.close();
  });

  for (const [stage, fail] of [
    ["the version check", { chooseVersion: () => Promise.reject(new VmsfxError("VMSFX_UPDATE_REFUSED", "no")) }],
    ["the launch gate", { enforceLaunch: () => Promise.reject(new VmsfxError("VMSFX_SIGNATURE_INVALID", "no")) }],
    ["the resume point", { openResumePoint: () => Promise.reject(new VmsfxError("VMSFX_IO", "no")) }],
  ] as const) {
    it(`closes what it opened and frees the lock when ${stage} fails`, async () => {
      const stateDir = tempDir();
      const { closes, openers } = counted();
      await expect(openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir, stderr: quiet }, { ...openers, ...fail })).rejects.toThrow("no");
      expect(closes).toEqual({ bundle: 1 });
      expect(await lockIsFree(stateDir)).toBe(true);
    });
  }

  it("closes the bundle when the state folder cannot be taken", async () => {
    const stateDir = tempDir();
    const held = await openStateDir(dir, stateDir);
    const { closes, openers } = counted();
    await expect(openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir, stderr: quiet }, openers)).rejects.toMatchObject({ code: "VMSFX_STATE_LOCKED" });
    expect(closes).toEqual({ bundle: 1 });
    await held.release();
  });

  it("says so when arguments cannot reach an app that is still running", async () => {
    const stateDir = tempDir();
    const said: string[] = [];
    const app = { ...manifest, app: { dataDisk: "hdb", data: [] } } as unknown as Manifest;
    const plan = await openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir, args: ["--version"], stderr: { write: (s: string) => said.push(s) } }, {
      openResumePoint: async () => ({ point: { ...pointFor("x"), manifest: app } }),
      chooseVersion: async (bundle) => ({ source: bundle, manifest: bundle.manifest, sha256: "x" }),
    });
    await plan.close();
    expect(said.join("")).toContain("the arguments after -- were not used");
  });

  it("refuses a missing file without taking the state folder", async () => {
    const stateDir = tempDir();
    await expect(openLaunchPlan(path.join(dir, "nope"), manifest.engine, { fresh: false, stateDir, stderr: quiet })).rejects.toMatchObject({ code: "VMSFX_FILE_NOT_FOUND" });
    expect(await lockIsFree(stateDir)).toBe(true);
  });
});
