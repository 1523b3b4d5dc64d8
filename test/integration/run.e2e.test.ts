import { describe, expect, it, inject } from "vitest";
import { copyFileSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import * as path from "node:path";
import { vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { openSnapshotDir } from "../../src/snapshot/snapshot-dir";
import { readResumePoint } from "../../src/snapshot/resume-point";
import { decodeBlock, loadZstd } from "../../src/snapshot/block-codec";
import { DEADLINE } from "../helpers/deadlines";

const sha = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");

describe("capture → pack → run, on the real sample guest", () => {
  it("capture wrote a snapshot with elided zero blocks and the engine identity", async () => {
    const r = await vmsfx(["inspect", inject("snapshotDir"), "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    const memory = report.parts.find((p: { name: string }) => p.name === "memory");
    expect(memory.rawBytes).toBe(128 << 20);
    expect(memory.zeroBlocks).toBeGreaterThan(0);
    expect(report.engine.version).toMatch(/^0\.5\.462/);
    expect(report.engine.wasmSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("runs with piped input: prints the disk file and exits 0 when the guest powers off", async () => {
    const bundle = path.join(tempDir(), "app.vmsfx");
    copyFileSync(inject("bundlePath"), bundle);
    const before = sha(bundle);
    const r = await vmsfx(["run", bundle], { input: "cat /mnt/hello.txt\necho vmsfx-was-here > /mnt/written.txt\nsync\npoweroff\n" });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.stdout).toContain("hello from the vmsfx sample disk");
    expect(r.code).toBe(0);
    // The bundle is never written to; the guest's write landed in the overlay next to it.
    expect(sha(bundle)).toBe(before);
    // The guest's write landed in the state folder next to the bundle: poweroff quits the app, so
    // the resume point keeps the data disk only, and its pack holds that disk whole (every stored
    // block, so a new version of the app can take the disk over), the changed blocks among them.
    const stateDir = path.join(path.dirname(bundle), "app.vmsfx-state");
    const point = (await readResumePoint(stateDir))!;
    expect(point.kind).toBe("quit");
    const original = (await openSnapshotDir(inject("snapshotDir"))).manifest.disks.find((d) => d.slot === "hdb")!.map;
    const now = point.manifest.disks.find((d) => d.slot === "hdb")!.map;
    const changed = now.blocks.filter((h, i) => h && h !== original.blocks[i]) as string[];
    expect(changed.length).toBeGreaterThan(0);
    const stored = new Set(now.blocks.filter((h): h is string => h !== null));
    expect(Object.keys(point.pack!.blocks).sort()).toEqual([...stored].sort());
    const pack = readFileSync(path.join(stateDir, point.pack!.file));
    const zstd = await loadZstd();
    const texts = changed.map((h) => {
      const [at, len] = point.pack!.blocks[h];
      return Buffer.from(decodeBlock(zstd, pack.subarray(at, at + len), now.blockSize, h, "test")).toString("latin1");
    });
    expect(texts.some((t) => t.includes("vmsfx-was-here"))).toBe(true);
  });

  it("input sent right after resume is not lost", async () => {
    const lines = Array.from({ length: 20 }, (_, i) => `echo line-${i}-ok`).join("\n");
    const r = await vmsfx(["run", inject("bundlePath"), "--state-dir", tempDir()], { input: `${lines}\npoweroff\n` });
    expect(r.code).toBe(0);
    for (let i = 0; i < 20; i++) expect(r.stdout).toMatch(new RegExp(`^line-${i}-ok\\r?$`, "m"));
  });

  it("--fresh cold-boots the bundle's own recipe, holding piped input until the prompt", async () => {
    const r = await vmsfx(["run", inject("bundlePath"), "--fresh", "--timings", "--state-dir", tempDir()], { input: "cat /mnt/hello.txt\npoweroff\n", timeoutMs: DEADLINE.launch });
    expect(r.stderr).not.toContain('"verified"'); // no snapshot memory was read
    expect(r.stdout).toContain("hello from the vmsfx sample disk");
    expect(r.code).toBe(0);
  });

  it("verify checks every block of the bundle", async () => {
    const r = await vmsfx(["verify", inject("bundlePath"), "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.checked[0]).toMatchObject({ failures: [] });
    expect(report.checked[0].blocks).toBeGreaterThan(100);
  });
});
