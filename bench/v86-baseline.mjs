// The baseline a user could write in ten lines with v86 alone: save the booted guest's raw state
// once (`save`), then restore it with v86's own restore_state (`restore`). Both boot the shell
// sample as `vmsfx build --keep-disks DIR` left it (DIR/machine.json): the base's kernel and
// initrd, the app's root and data disks; `save` starts the app through the guest agent's port.
//   node bench/v86-baseline.mjs save|restore STATE DIR/machine.json `restore` prints "running <ms since process start>" when the guest runs again
// and then relays the serial console, so the benchmark can time the first answer too.
import { V86 } from "v86";
import { readFileSync, writeFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";

const [mode, stateFile, machinePath] = process.argv.slice(2);
const recipe = JSON.parse(readFileSync(machinePath, "utf8"));
const at = (p) => p;
const wasm_path = createRequire(import.meta.url).resolve("v86/build/v86.wasm");
const common = {
  wasm_path,
  memory_size: recipe.memoryMiB << 20,
  vga_memory_size: recipe.vgaMemoryMiB << 20,
  hda: { url: recipe.hda, async: true, size: statSync(recipe.hda).size },
  hdb: { url: recipe.hdb, async: true, size: statSync(recipe.hdb).size },
  disable_keyboard: true,
  disable_mouse: true,
  disable_speaker: true,
  // The guest agent's port (docs/guest-agent.md), as the engine configures it.
  uart1: true,
  acpi: false,
};

if (mode === "save") {
  const emu = new V86({
    ...common,
    bios: { url: at(recipe.bios) },
    vga_bios: { url: at(recipe.vgaBios) },
    bzimage: { url: at(recipe.kernel) },
    initrd: { url: at(recipe.initrd) },
    cmdline: recipe.cmdline,
    autostart: true,
  });
  const ready = new RegExp(recipe.ready);
  // The agent ignores `start` once the app runs, and a line sent before it listens is lost.
  const starter = setInterval(() => emu.serial_send_bytes(1, new TextEncoder().encode("start\n")), 500);
  let tail = "";
  emu.add_listener("serial0-output-byte", async (b) => {
    tail = (tail + String.fromCharCode(b)).slice(-200);
    if (ready.test(tail)) {
      clearInterval(starter);
      tail = "";
      await new Promise((r) => setTimeout(r, 500));
      const state = await emu.save_state();
      writeFileSync(stateFile, new Uint8Array(state));
      await emu.destroy();
      process.exit(0);
    }
  });
} else {
  const emu = new V86({ ...common, initial_state: { buffer: readFileSync(stateFile).buffer }, autostart: true });
  // Input that arrives before the restore would be lost (v86 does not keep its serial queue).
  let started = false;
  const early = [];
  emu.add_listener("emulator-started", () => {
    process.stderr.write(`running ${performance.now().toFixed(1)}\n`);
    started = true;
    for (const d of early.splice(0)) emu.serial0_send(d);
  });
  emu.add_listener("serial0-output-byte", (b) => process.stdout.write(String.fromCharCode(b)));
  process.stdin.on("data", (d) => (started ? emu.serial0_send(d.toString()) : early.push(d.toString())));
  emu.add_listener("cpu-event-halt", () => {
    process.stderr.write(`maxrss ${process.resourceUsage().maxRSS}\n`);
    process.exit(0);
  });
}
