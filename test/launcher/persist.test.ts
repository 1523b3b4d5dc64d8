import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { VmsfxError } from "../../src/errors";
import type { Manifest } from "../../src/snapshot/manifest";
import { readResumePoint } from "../../src/snapshot/resume-point";
import type { OverlayDisk } from "../../src/snapshot/overlay-disk";
import { loadMachine, type GuestMachine } from "../../src/launcher/guest-start";
import { openLaunchPlan, type LaunchPlan } from "../../src/launcher/launch-plan";
import { persistSession, resumeKindFor } from "../../src/launcher/persist";
import type { EndReason } from "../../src/launcher/session-end";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";

let dir: string;
let manifest: Manifest;
beforeAll(async () => ({ dir, manifest } = await makeSyntheticSnapshot()));

/** The engine at the end of a session: a suspend hands back this device state and no changed RAM. */
class FakeHost {
  readonly suspends: [number, number][] = [];
  async suspend(ramBlockSize: number, vgaBlockSize: number) {
    this.suspends.push([ramBlockSize, vgaBlockSize]);
    return { type: "suspended" as const, state: new TextEncoder().encode("device state after the session"), ram: [], vga: [] };
  }
}

const opened: LaunchPlan[] = [];
afterEach(async () => {
  for (const p of opened.splice(0)) await p.close();
});

async function session(): Promise<{ plan: LaunchPlan; machine: GuestMachine; host: FakeHost }> {
  const plan = await openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir: tempDir(), stderr: { write: () => true } });
  opened.push(plan);
  const machine = await loadMachine(plan, { engine: manifest.engine }, () => {});
  return { plan, machine, host: new FakeHost() };
}

describe("resumeKindFor", () => {
  const KINDS: [EndReason, string][] = [
    ["app-quit", "quit"],
    ["poweroff", "powered-off"],
    ["reboot", "powered-off"],
    ["app-exit", "suspended"],
    ["detached", "suspended"],
    ["signal", "suspended"],
    ["session-limit", "suspended"],
  ];
  it.each(KINDS)("%s keeps a %s resume point", (reason, kind) => {
    expect(resumeKindFor(reason)).toBe(kind);
  });
});

describe("persistSession", () => {
  it("a suspended session keeps the machine: its device state and the console line the user was on", async () => {
    const { plan, machine, host } = await session();
    const saved = await persistSession(host as never, plan, machine, "detached", "~ # vi notes");
    expect(saved).toMatchObject({ stateDir: plan.statePath, kind: "suspended" });
    expect(host.suspends).toEqual([[manifest.memory.blockSize, manifest.vgaMemory.blockSize]]);
    const point = await readResumePoint(plan.statePath);
    expect(point?.kind).toBe("suspended");
    expect(point?.manifest.console.tail).toBe("~ # vi notes");
    expect(point?.manifest.state.size).toBe("device state after the session".length);
  });

  it("a powered-off guest keeps only its disks: no suspend, the bundle's memory and console, the written block", async () => {
    const { plan, machine, host } = await session();
    const disk = machine.disks.hda!;
    await disk.write(disk.blockSize, new Uint8Array(512).fill(0x5a));
    const saved = await persistSession(host as never, plan, machine, "poweroff", "~ # poweroff");
    expect(saved.kind).toBe("powered-off");
    expect(host.suspends).toEqual([]);
    const point = await readResumePoint(plan.statePath);
    expect(point?.kind).toBe("powered-off");
    expect(point?.manifest.console).toEqual(manifest.console);
    expect(point?.manifest.memory).toEqual(manifest.memory);
    const before = manifest.disks[0].map.blocks;
    const after = point!.manifest.disks[0].map.blocks;
    expect(after.map((h, i) => h !== before[i])).toEqual(before.map((_, i) => i === 1));
  });

  it("a quit app keeps a quit point, without suspending the machine", async () => {
    const { plan, machine, host } = await session();
    const saved = await persistSession(host as never, plan, machine, "app-quit", "");
    expect(saved.kind).toBe("quit");
    expect(host.suspends).toEqual([]);
    expect((await readResumePoint(plan.statePath))?.kind).toBe("quit");
  });

  it("a written block whose rest could not be downloaded: nothing is saved, and the previous state is kept", async () => {
    const { plan, machine, host } = await session();
    const offline = new VmsfxError("VMSFX_IO", "the server did not answer.");
    const disk = { partialBlocks: 2, completePartial: () => Promise.reject(offline) } as unknown as OverlayDisk;
    const g: GuestMachine = { ...machine, disks: { hda: disk } };
    await expect(persistSession(host as never, plan, g, "detached", "")).rejects.toMatchObject({
      code: "VMSFX_IO",
      message: "this session could not be saved: the guest changed part of 2 disk blocks whose rest could not be downloaded (the server did not answer.) The state saved before this session is kept.",
    });
    expect(host.suspends).toEqual([]);
    expect(await readResumePoint(plan.statePath)).toBeUndefined();
  });
});
