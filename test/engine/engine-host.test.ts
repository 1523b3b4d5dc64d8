import { afterEach, describe, expect, it } from "vitest";
import { GuestHost } from "../../src/engine/engine-host";
import { VmsfxError } from "../../src/errors";
import { RemoteError } from "../../src/remote/remote-error";
import type { BlockDevice } from "../../src/engine/engine-types";

/**
 * GuestHost's events, against a stand-in worker that speaks the engine protocol: this tests the
 * host's plumbing (listeners, waits, errors), not the engine, which the e2e tier boots for real.
 */
const STAND_IN = `
const { parentPort } = require("node:worker_threads");
parentPort.on("message", (m) => {
  if (m.type === "create") parentPort.postMessage({ type: "created", marks: { v86Loaded: 1 } });
  if (m.type === "input") parentPort.postMessage({ type: "serial", bytes: m.bytes });
  if (m.type === "agent-input") parentPort.postMessage({ type: "error", code: "VMSFX_GUEST_FAILED", message: "v86 moved cpu.unpack_memory" });
  if (m.type === "keyboard") parentPort.postMessage({ type: "error", message: "TypeError: boom\\n    at somewhere" });
});
`;
const EMPTY_WASM = new WebAssembly.Module(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0));
const machine = { memoryBytes: 1 << 20, vgaMemoryBytes: 1 << 20, disks: [] };

let host: GuestHost | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

function nextSerial(h: GuestHost): Promise<number[]> {
  return new Promise((resolve) => h.once("serial", (b) => resolve([...b])));
}

describe("GuestHost events", () => {
  it("delivers to on() until off() or the returned unsubscribe, and to once() one time", async () => {
    host = new GuestHost({ code: STAND_IN });
    await host.create(EMPTY_WASM, machine, {});
    const seen: number[] = [];
    const onceSeen: number[] = [];
    const listener = (b: Uint8Array) => seen.push(...b);
    host.on("serial", listener);
    const unsubscribe = host.on("serial", (b) => seen.push(...b.map((x) => x + 100)));
    host.once("serial", (b) => onceSeen.push(...b));
    host.input(Uint8Array.of(1));
    await nextSerial(host);
    expect(seen).toEqual([1, 101]);
    expect(onceSeen).toEqual([1]);
    unsubscribe();
    host.input(Uint8Array.of(2));
    await nextSerial(host);
    host.off("serial", listener);
    host.input(Uint8Array.of(3));
    await nextSerial(host);
    expect(seen).toEqual([1, 101, 2]);
    expect(onceSeen).toEqual([1]);
    expect(host.listenerCount("serial")).toBe(0);
  });

  it("leaves no listener behind once a wait is answered", async () => {
    host = new GuestHost({ code: STAND_IN });
    expect((await host.create(EMPTY_WASM, machine, {})).v86Loaded).toBe(1);
    expect(host.listenerCount("fatal")).toBe(0);
  });

  it("keeps a coded engine error's code and message, and wraps a crash", async () => {
    host = new GuestHost({ code: STAND_IN });
    await host.create(EMPTY_WASM, machine, {});
    const fatal = new Promise<VmsfxError>((resolve) => host!.once("fatal", resolve));
    host.agentInput(Uint8Array.of(1));
    const e = await fatal;
    expect(e.code).toBe("VMSFX_GUEST_FAILED");
    expect(e.message).toBe("v86 moved cpu.unpack_memory");

    const other = new GuestHost({ code: STAND_IN });
    try {
      await other.create(EMPTY_WASM, machine, {});
      const crash = new Promise<VmsfxError>((resolve) => other.once("fatal", resolve));
      other.keyboard([1]);
      expect((await crash).message).toBe("the engine failed: TypeError: boom. Please report this.");
    } finally {
      await other.stop();
    }
  });

  it("rejects a pending wait when the engine fails", async () => {
    host = new GuestHost({ code: STAND_IN.replace('if (m.type === "create") parentPort.postMessage({ type: "created", marks: { v86Loaded: 1 } });', 'if (m.type === "create") parentPort.postMessage({ type: "error", code: "VMSFX_GUEST_FAILED", message: "self-check failed" });') });
    await expect(host.create(EMPTY_WASM, machine, {})).rejects.toThrow("self-check failed");
    expect(host.listenerCount("fatal")).toBe(0);
  });

  it("a disk read that fails with a recoverable error (errors.ts's trait) is the guest's I/O error; any other stops the guest", async () => {
    // The stand-in asks for disk hda at the offset the input names and echoes whether the reply failed.
    const reader = STAND_IN.replace(
      'if (m.type === "input") parentPort.postMessage({ type: "serial", bytes: m.bytes });',
      'if (m.type === "input") parentPort.postMessage({ type: "disk-read", id: 1, slot: "hda", offset: m.bytes[0], length: 4 }); if (m.type === "disk-reply") parentPort.postMessage({ type: "serial", bytes: Uint8Array.of(m.failed ? 1 : 0) });',
    );
    const errors = [
      new VmsfxError("VMSFX_OFFLINE", "offline"),
      new VmsfxError("VMSFX_REMOTE_FAILED", "no server has it"),
      new RemoteError("unreachable", "https://x/", "did not answer"),
      new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", "bad block"),
    ];
    const disk: BlockDevice = { size: 1 << 20, read: (offset) => Promise.reject(errors[offset]), write: async () => {} };
    host = new GuestHost({ code: reader });
    await host.create(EMPTY_WASM, machine, { hda: disk });
    const diskErrors: string[] = [];
    host.on("disk-error", (_slot, _offset, e) => diskErrors.push(e.code));
    for (const offset of [0, 1]) {
      host.input(Uint8Array.of(offset));
      expect(await nextSerial(host)).toEqual([1]);
    }
    expect(diskErrors).toEqual(["VMSFX_OFFLINE", "VMSFX_REMOTE_FAILED"]);
    for (const offset of [2, 3]) {
      const h = new GuestHost({ code: reader });
      try {
        await h.create(EMPTY_WASM, machine, { hda: disk });
        const fatal = new Promise<VmsfxError>((resolve) => h.once("fatal", resolve));
        h.input(Uint8Array.of(offset));
        expect(await fatal).toBe(errors[offset]);
      } finally {
        await h.stop();
      }
    }
  });
});
