import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";

/**
 * v86 behind one facade (issue 13): only the internals files reach v86's private state, so a v86
 * upgrade that moves it is caught by their start-up self-check, not by a guest corrupted later.
 * Every other module uses their accessors or v86's public API.
 */
const ROOT = path.resolve(__dirname, "../..");
const SRC = path.join(ROOT, "src");
const INTERNALS = ["src/engine/v86-internals.ts", "src/engine/v86-vga-internals.ts"];

/** What only the internals files may spell (optional chaining included). */
const PRIVATE = [/\.v86\??\.cpu\b/, /\.devices\??\./, /screen_fill_buffer/, /graphical_mode/, /is_memory_zeroed/];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

const show = (f: string) => path.relative(ROOT, f).split(path.sep).join("/");

function privateReaches(text: string): string[] {
  return PRIVATE.filter((re) => re.test(text)).map((re) => re.source);
}

describe("architecture: v86's private state is reached only through v86-internals", () => {
  it("the scan sees each kind of reach", () => {
    expect(privateReaches("const cpu = emulator.v86.cpu;")).toHaveLength(1);
    expect(privateReaches("ideDrives(emulator?.v86?.cpu)")).toHaveLength(1);
    expect(privateReaches("tap(cpu.devices.vga); vga.screen_fill_buffer(); vga.graphical_mode; cpu.is_memory_zeroed(0, 1)")).toHaveLength(4);
    expect(privateReaches("cpuOf(emulator); emulator.serial_send_bytes(0, bytes)")).toEqual([]);
  });

  it("the internals files exist where this test expects them", () => {
    const files = sourceFiles(SRC).map(show);
    for (const f of INTERNALS) expect(files).toContain(f);
  });

  it("no other file under src/ touches them", () => {
    const against = sourceFiles(SRC)
      .filter((f) => !INTERNALS.includes(show(f)))
      .flatMap((f) => privateReaches(readFileSync(f, "utf8")).map((what) => `${show(f)}: ${what}`));
    expect(against).toEqual([]);
  });
});
