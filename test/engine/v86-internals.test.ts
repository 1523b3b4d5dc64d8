import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshV86 } from "../helpers/fresh-v86";
import { isVmsfxError } from "../../src/errors";
import * as internals from "../../src/engine/v86-internals";
import * as vgaInternals from "../../src/engine/v86-vga-internals";
import { CHECKED_ACCESSORS, checkV86Internals, cpuOf, isMemoryZeroed, restoreWithoutMemory, saveWithoutBuffers, vgaOf, type V86Emulator } from "../../src/engine/v86-internals";
import { fillScreenBuffer, isGraphicalMode } from "../../src/engine/v86-vga-internals";

/* eslint-disable @typescript-eslint/no-explicit-any */


function failure(emulator: unknown, disks = 1): string {
  try {
    checkV86Internals(emulator, { disks });
  } catch (e) {
    expect(isVmsfxError(e) && e.code).toBe("VMSFX_GUEST_FAILED");
    return (e as Error).message;
  }
  throw new Error("the self-check passed");
}

describe("checkV86Internals", () => {
  let emulator: any;
  beforeAll(async () => {
    emulator = await freshV86({ hda: true });
  });
  afterAll(async () => {
    await emulator?.destroy();
  });

  it("passes on the v86 this vmsfx ships", () => {
    expect(() => checkV86Internals(emulator, { disks: 1 })).not.toThrow();
  });

  it("names a private method a new v86 dropped", () => {
    const cpu = emulator.v86.cpu;
    cpu.unpack_memory = undefined;
    try {
      expect(failure(emulator)).toContain("cpu.unpack_memory is not a function");
    } finally {
      delete cpu.unpack_memory;
    }
    expect(typeof cpu.unpack_memory).toBe("function");
  });

  it("notices the VGA state moving its SVGA memory to another index", () => {
    const vga = emulator.v86.cpu.devices.vga;
    const getState = vga.get_state;
    vga.get_state = function (this: unknown) {
      const s = getState.call(this);
      s.unshift(0);
      return s;
    };
    try {
      expect(failure(emulator)).toContain("vga.get_state()[39] is not the SVGA memory");
    } finally {
      vga.get_state = getState;
    }
  });

  it("names a missing device and a public call that went away", () => {
    const fake = { ...emulator, serial_send_bytes: undefined, add_listener: emulator.add_listener, v86: { cpu: { ...emulator.v86.cpu, devices: { ...emulator.v86.cpu.devices, uart1: undefined } } } };
    const message = failure(fake);
    expect(message).toContain("emulator.serial_send_bytes is not a function");
    expect(message).toContain("cpu.devices.uart1 is missing");
  });

  it("reports an object that is no v86 at all", () => {
    expect(failure({}, 0)).toContain("emulator.v86.cpu is missing");
  });

  it("names what each accessor reaches when a new v86 drops it", () => {
    const cpu = emulator.v86.cpu;
    const vga = cpu.devices.vga;
    const cases: [object, string, unknown, string][] = [
      [cpu, "is_memory_zeroed", undefined, "cpu.is_memory_zeroed is not a function"],
      [vga, "screen_fill_buffer", undefined, "vga.screen_fill_buffer is not a function"],
      [vga, "graphical_mode", 0, "vga.graphical_mode is not a boolean"],
      [vga, "screen_width", undefined, "vga.screen_width is not a number"],
      [cpu.devices.uart0, "input", undefined, "cpu.devices.uart0.input is not an array"],
    ];
    for (const [obj, name, value, message] of cases) {
      const original = Object.getOwnPropertyDescriptor(obj, name);
      Object.defineProperty(obj, name, { value, configurable: true, writable: true });
      try {
        expect(failure(emulator)).toContain(message);
      } finally {
        if (original) Object.defineProperty(obj, name, original);
        else delete (obj as Record<string, unknown>)[name];
      }
    }
    expect(() => checkV86Internals(emulator, { disks: 1 })).not.toThrow();
  });

  it("names a property that must exist even while it is null", () => {
    const vga = emulator.v86.cpu.devices.vga;
    const imageData = vga.image_data;
    delete vga.image_data;
    try {
      expect(failure(emulator)).toContain("vga.image_data is missing");
    } finally {
      vga.image_data = imageData;
    }
  });

  it("lists every accessor of the internals files, and only those", () => {
    const exported = [internals, vgaInternals].flatMap((m) => Object.entries(m).filter(([, v]) => typeof v === "function").map(([k]) => k));
    expect(exported.filter((k) => k !== "checkV86Internals").sort()).toEqual([...CHECKED_ACCESSORS].sort());
  });

  it("the accessors reach the real v86's core, VGA and memory scan", () => {
    const cpu = cpuOf(emulator as V86Emulator);
    expect(cpu).toBe(emulator.v86.cpu);
    const vga = vgaOf(emulator as V86Emulator);
    expect(vga).toBe(emulator.v86.cpu.devices.vga);
    expect(isMemoryZeroed(cpu, 4 << 20, 1 << 20)).toBe(true);
    expect(isGraphicalMode(vga)).toBe(false);
    expect(() => fillScreenBuffer(vga)).not.toThrow();
  });

  it("saves a state without RAM and VGA memory, and puts the patched methods back", async () => {
    const cpu = emulator.v86.cpu;
    const pack = cpu.pack_memory;
    const getState = cpu.devices.vga.get_state;
    const state = await saveWithoutBuffers(emulator as V86Emulator);
    // What is left is device state (this test machine's plain 1 MiB disk buffer included), not 64 MiB of RAM.
    expect(state.byteLength).toBeLessThan(4 << 20);
    expect(cpu.pack_memory).toBe(pack);
    expect(cpu.devices.vga.get_state).toBe(getState);
  });
});

describe("restoreWithoutMemory", () => {
  it("puts unpack_memory back when the restore fails", async () => {
    const original = () => undefined;
    const cpu = { unpack_memory: original };
    const emulator = { v86: { cpu }, restore_state: async () => Promise.reject(new Error("bad state")) } as unknown as V86Emulator;
    await expect(restoreWithoutMemory(emulator, new ArrayBuffer(0))).rejects.toThrow("bad state");
    expect(cpu.unpack_memory).toBe(original);
  });
});
