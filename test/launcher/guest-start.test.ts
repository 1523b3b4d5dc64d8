import { beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../src/snapshot/manifest";
import { openLaunchPlan } from "../../src/launcher/launch-plan";
import { loadMachine, startGuest, type GuestEngine } from "../../src/launcher/guest-start";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";

let dir: string;
let manifest: Manifest;
let disk: Uint8Array;
beforeAll(async () => ({ dir, manifest, disk } = await makeSyntheticSnapshot()));

/** The engine as the start stage sees it: records what it was sent, runs nothing. */
class FakeEngine implements GuestEngine {
  readonly calls: string[] = [];
  images = 0;
  state?: Uint8Array;
  on: GuestEngine["on"] = (event) => {
    this.calls.push(`on ${event}`);
    return () => void this.calls.push(`off ${event}`);
  };
  create: GuestEngine["create"] = async (_module, spec, _disks, boot) => {
    this.calls.push(boot ? "create with boot files" : `create ${spec.memoryBytes}`);
    return { workerStarted: 1 };
  };
  sendPresence: GuestEngine["sendPresence"] = () => void this.calls.push("presence");
  sendImage: GuestEngine["sendImage"] = () => void this.images++;
  forward: GuestEngine["forward"] = async (forwards) => {
    this.calls.push(`forward ${forwards.map((f) => `${f.host}:${f.guest}`).join(" ")}`);
    return { bound: forwards };
  };
  allowOutbound: GuestEngine["allowOutbound"] = (lists) => void this.calls.push(`outbound ${JSON.stringify(lists)}`);
  restore: GuestEngine["restore"] = async (state) => {
    this.calls.push("restore");
    this.state = state;
    return { agentListening: true };
  };
}

const module = Promise.resolve({} as WebAssembly.Module);
const noMarks = () => {};

describe("loadMachine and startGuest", () => {
  it("resumes: memory streamed and verified, the engine created, the device state restored, the screen shown", async () => {
    const plan = await openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir: tempDir(), stderr: { write: () => true } });
    try {
      const marks: string[] = [];
      const timings: Record<string, number> = {};
      const machine = await loadMachine(plan, { engine: manifest.engine, timings }, (n) => marks.push(n));
      expect(machine.spec.disks).toEqual([{ slot: "hda", size: disk.byteLength, head: disk.slice(0, 512) }]);
      const engine = new FakeEngine();
      const shown: string[] = [];
      let out = "";
      const { inputGate } = await startGuest(
        engine,
        module,
        plan,
        machine,
        { stdout: { write: (s: string) => (out += s) }, timings, agent: { freshened: async () => {}, started: () => new Promise(() => {}) }, screenShown: (t) => shown.push(t) },
        (n) => marks.push(n),
      );
      expect(engine.calls).toEqual(["presence", `create ${manifest.machine.memoryBytes}`, "restore"]);
      expect(engine.images).toBeGreaterThan(0);
      expect(new TextDecoder().decode(engine.state)).toBe(JSON.stringify({ fake: "device state" }));
      expect(timings.workerStarted).toBe(1);
      expect(marks).toEqual(expect.arrayContaining(["wasmCompiled", "engineCreated", "zstdReady", "verified", "engineReady"]));
      // The agent listens: piped input waits until it has set the clock.
      await expect(inputGate).resolves.toBeUndefined();
      expect(out).toBe("# ");
      expect(shown).toEqual(["# "]);
    } finally {
      await plan.close();
    }
  });

  it("sets where the guest may connect and listens on its ports before the guest runs", async () => {
    const plan = await openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir: tempDir(), stderr: { write: () => true } });
    try {
      const machine = await loadMachine(plan, { engine: manifest.engine }, noMarks);
      const engine = new FakeEngine();
      const forwards = [{ address: "127.0.0.1", host: 0, guest: 80 }];
      const agent = { freshened: async () => {}, started: async () => {} };
      await startGuest(engine, module, plan, machine, { args: [], stdout: { write: () => true }, agent, screenShown: () => {}, forwards, outbound: [["*:443"], []] }, noMarks);
      expect(engine.calls.slice(-3)).toEqual(['outbound [["*:443"],[]]', "forward 0:80", "restore"]);
    } finally {
      await plan.close();
    }
  });

  it("with arguments for the app, the resumed screen is not shown", async () => {
    const plan = await openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir: tempDir(), stderr: { write: () => true } });
    try {
      const machine = await loadMachine(plan, { engine: manifest.engine }, noMarks);
      let out = "";
      await startGuest(new FakeEngine(), module, plan, machine, { args: ["--version"], stdout: { write: (s: string) => (out += s) }, agent: { freshened: async () => {}, started: async () => {} }, screenShown: () => {} }, noMarks);
      expect(out).toBe("");
    } finally {
      await plan.close();
    }
  });

  it("refuses to resume in another engine than the one that captured it", async () => {
    const plan = await openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir: tempDir(), stderr: { write: () => true } });
    try {
      await expect(loadMachine(plan, { engine: { ...manifest.engine, wasmSha256: "1".repeat(64) } }, noMarks)).rejects.toMatchObject({ code: "VMSFX_ENGINE_MISMATCH" });
    } finally {
      await plan.close();
    }
  });

  it("a cold boot of a snapshot without boot files is refused before the engine is created", async () => {
    const plan = await openLaunchPlan(dir, manifest.engine, { fresh: true, stateDir: tempDir(), stderr: { write: () => true } });
    try {
      // A cold boot runs another engine's snapshot too: its memory is not used.
      const machine = await loadMachine(plan, { engine: { ...manifest.engine, wasmSha256: "1".repeat(64) } }, noMarks);
      const engine = new FakeEngine();
      await expect(startGuest(engine, module, plan, machine, { stdout: { write: () => true }, agent: { freshened: async () => {}, started: async () => {} }, screenShown: () => {} }, noMarks)).rejects.toMatchObject({
        code: "VMSFX_MANIFEST_INVALID",
        message: expect.stringContaining("carries no boot files"),
      });
      expect(engine.calls).toEqual([]);
    } finally {
      await plan.close();
    }
  });
});
