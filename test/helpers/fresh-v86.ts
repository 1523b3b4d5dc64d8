import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { nicOptions } from "../../src/engine/v86-network";

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * A v86 with the options the engine worker uses, without firmware: its VGA is in the text mode
 * it starts in and nothing runs. `hda`: a blank disk, for the disk internals; `nic`: the
 * network card and v86's user-mode network the engine uses, for the TCP internals.
 */
export async function freshV86(o: { hda?: boolean; nic?: boolean } = {}): Promise<any> {
  const { V86 } = await import("v86");
  const require = createRequire(import.meta.url);
  const wasm = readFileSync(require.resolve("v86/build/v86.wasm"));
  const emulator: any = new V86({
    wasm_fn: async (imports: WebAssembly.Imports) => (await WebAssembly.instantiate(wasm, imports)).instance.exports,
    memory_size: 64 << 20,
    vga_memory_size: 8 << 20,
    acpi: false,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
    uart1: true,
    autostart: false,
    ...(o.hda ? { hda: { buffer: new Uint8Array(1 << 20).buffer } } : {}),
    ...(o.nic ? nicOptions() : {}),
  } as never);
  await new Promise<void>((resolve) => emulator.add_listener("emulator-loaded", () => resolve()));
  return emulator;
}
