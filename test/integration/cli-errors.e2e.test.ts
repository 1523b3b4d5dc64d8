import { describe, expect, it, inject } from "vitest";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { vmsfx, type CliResult } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { openBundle } from "../../src/snapshot/bundle-reader";

/** Every bad input gets one line naming its code and its own exit code; never a stack trace. */
function expectCoded(r: CliResult, code: string, exit: number): void {
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(new RegExp(`^vmsfx: .*\\[${code}\\]\\n$`));
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.code).toBe(exit);
}

function editedSnapshot(edit: (manifest: Record<string, any>) => void): string {
  const dir = path.join(tempDir(), "snap");
  cpSync(inject("snapshotDir"), dir, { recursive: true });
  const file = path.join(dir, "manifest.json");
  const m = JSON.parse(readFileSync(file, "utf8"));
  edit(m);
  writeFileSync(file, JSON.stringify(m));
  return dir;
}

describe("bad inputs get their documented exit codes", () => {
  it("a missing file: 3", async () => {
    expectCoded(await vmsfx(["run", "/nonexistent/app.vmsfx"]), "VMSFX_FILE_NOT_FOUND", 3);
  });

  it("a file that is not a bundle: 10", async () => {
    const f = path.join(tempDir(), "notes.txt");
    writeFileSync(f, "just some text\n".repeat(300));
    expectCoded(await vmsfx(["run", f]), "VMSFX_NOT_A_BUNDLE", 10);
  });

  it("a truncated bundle: 11", async () => {
    const bytes = readFileSync(inject("bundlePath"));
    const f = path.join(tempDir(), "cut.vmsfx");
    writeFileSync(f, bytes.subarray(0, bytes.length >> 1));
    expectCoded(await vmsfx(["run", f]), "VMSFX_BUNDLE_TRUNCATED", 11);
  });

  it("a memory block corrupted on disk: 13, and the guest never starts", async () => {
    const b = await openBundle(inject("bundlePath"));
    const victim = b.entry(b.manifest.memory.blocks.find((h) => h)!)!;
    await b.close();
    const bytes = Buffer.from(readFileSync(inject("bundlePath")));
    bytes[victim.offset + 7] ^= 0xff;
    const f = path.join(tempDir(), "flipped.vmsfx");
    writeFileSync(f, bytes);
    const r = await vmsfx(["run", f], { input: "poweroff\n" });
    expectCoded(r, "VMSFX_BLOCK_HASH_MISMATCH", 13);
    expect(r.stdout).toBe("");
    const v = await vmsfx(["verify", f]);
    expect(v.code).toBe(13);
    expect(v.stderr.trim().split("\n").pop()).toMatch(/1 of \d+ blocks failed verification.*\[VMSFX_BLOCK_HASH_MISMATCH\]$/);
  });

  it("a malformed manifest: 14", async () => {
    const dir = editedSnapshot((m) => (m.memory.blocks = "nope"));
    expectCoded(await vmsfx(["inspect", dir]), "VMSFX_MANIFEST_INVALID", 14);
    expectCoded(await vmsfx(["pack", dir, "-o", path.join(tempDir(), "x.vmsfx")]), "VMSFX_MANIFEST_INVALID", 14);
  });

  it("an unknown format version: 15", async () => {
    expectCoded(await vmsfx(["inspect", editedSnapshot((m) => (m.version = 2))]), "VMSFX_UNSUPPORTED_VERSION", 15);
  });

  it("a snapshot from another engine build: 16, checked before anything runs", async () => {
    const dir = editedSnapshot((m) => (m.engine.wasmSha256 = "0".repeat(64)));
    const f = path.join(tempDir(), "other-engine.vmsfx");
    expect((await vmsfx(["pack", dir, "-o", f])).code).toBe(0);
    const r = await vmsfx(["run", f], { input: "poweroff\n" });
    expectCoded(r, "VMSFX_ENGINE_MISMATCH", 16);
    expect(r.stdout).toBe("");
  });

  it("a snapshot directory missing a block: 17", async () => {
    const dir = editedSnapshot(() => {});
    const m = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8"));
    const { rmSync } = await import("node:fs");
    rmSync(path.join(dir, "blocks", m.memory.blocks.find((h: string | null) => h)));
    expectCoded(await vmsfx(["pack", dir, "-o", path.join(tempDir(), "x.vmsfx")]), "VMSFX_BLOCK_MISSING", 17);
  });

  it("a recipe whose files were never built: 3, naming the build command", async () => {
    const recipe = path.join(tempDir(), "vm.json");
    writeFileSync(recipe, JSON.stringify({ name: "x", memoryMiB: 64, kernel: "nope", bios: "nope", vgaBios: "nope", ready: { serial: "#" }, build: "make it" }));
    const r = await vmsfx(["capture", recipe, "-o", path.join(tempDir(), "out")]);
    expectCoded(r, "VMSFX_FILE_NOT_FOUND", 3);
    expect(r.stderr).toContain("make it");
  });

  it("a broken recipe: 20", async () => {
    const recipe = path.join(tempDir(), "vm.json");
    writeFileSync(recipe, "{ not json");
    expectCoded(await vmsfx(["capture", recipe, "-o", path.join(tempDir(), "out")]), "VMSFX_RECIPE_INVALID", 20);
  });

  it("a usage error: 2", async () => {
    expectCoded(await vmsfx(["pack"]), "VMSFX_USAGE", 2);
    expectCoded(await vmsfx(["capture", "x", "-o", "y", "--block-size", "3000"]), "VMSFX_USAGE", 2);
  });

  it("--help works for every command", async () => {
    for (const cmd of ["capture", "pack", "inspect", "verify", "run"]) {
      const r = await vmsfx([cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`vmsfx ${cmd}`);
    }
  });
});
