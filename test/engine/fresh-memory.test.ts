import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { FRESH_DIRTY_LIMIT, guestMemoryView, svgaMemoryView, viewIsZero } from "../../src/engine/v86-memory";

/**
 * Resume skips zero-checking RAM above FRESH_DIRTY_LIMIT because a freshly constructed v86
 * never writes there. If a v86 upgrade breaks that, resumed guests would see stale bytes where
 * they expect zeros: this test is the guard.
 */
describe("a fresh v86 instance", () => {
  it.each([64, 128])("leaves RAM and VGA memory above the dirty limit all zero (%i MiB)", async (mib) => {
    const { V86 } = await import("v86");
    const require = createRequire(import.meta.url);
    const wasm = readFileSync(require.resolve("v86/build/v86.wasm"));
    const disk = new Uint8Array(1 << 20);
    const emulator: any = new V86({
      wasm_fn: async (imports: WebAssembly.Imports) => (await WebAssembly.instantiate(wasm, imports)).instance.exports,
      memory_size: mib << 20,
      vga_memory_size: 8 << 20,
      acpi: false,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
      autostart: false,
      hda: { buffer: disk.buffer },
    } as never);
    await new Promise<void>((resolve) => emulator.add_listener("emulator-loaded", () => resolve()));
    const cpu = emulator.v86.cpu;
    const ram = guestMemoryView(cpu);
    expect(ram.byteLength).toBe(mib << 20);
    const tail = () => Boolean(cpu.is_memory_zeroed(FRESH_DIRTY_LIMIT, ram.byteLength - FRESH_DIRTY_LIMIT));
    expect(tail()).toBe(true);
    // ...and the probe itself can tell: one stray byte makes it say no.
    guestMemoryView(cpu)[ram.byteLength - 4097] = 1;
    expect(tail()).toBe(false);
    const svga = svgaMemoryView(cpu);
    expect(viewIsZero(svga)(FRESH_DIRTY_LIMIT, svga.byteLength - FRESH_DIRTY_LIMIT)).toBe(true);
    await emulator.destroy();
  });
});
