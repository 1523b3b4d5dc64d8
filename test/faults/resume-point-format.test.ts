import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync, truncateSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { makeSyntheticSnapshot, patterned, tempDir } from "../helpers/synthetic-snapshot";
import { encodeBlock } from "../../src/snapshot/block-codec";
import { RESUME_FILE, checkResumePack, openResumePoint, readResumePoint, saveResumePoint } from "../../src/snapshot/resume-point";
import { allMaps, type Manifest } from "../../src/snapshot/manifest";

/** The resume point's own checks, without a guest: checksums, sizes, the older format, failed saves. */

async function saved(): Promise<{ state: string; manifest: Manifest }> {
  const { manifest } = await makeSyntheticSnapshot();
  const state = tempDir("vmsfx-rp-");
  const fresh = new Map<string, Uint8Array>();
  const blocks = [...manifest.memory.blocks];
  for (let i = 0; i < 4; i++) {
    const b = await encodeBlock(patterned(manifest.memory.blockSize, 100 + i), 3);
    fresh.set(b.hash, b.stored);
    blocks[30 + i] = b.hash;
  }
  const next = { ...manifest, memory: { ...manifest.memory, blocks } };
  await saveResumePoint({ stateDir: state, bundleManifestSha256: "b".repeat(64), kind: "suspended", manifest: next, inBundle: (h) => allMaps(manifest).some((m) => m.blocks.includes(h)), fresh });
  return { state, manifest: next };
}

describe("resume point format and checks", () => {
  it("records the pack's size and SHA-256 and its own checksum; a sound one opens as is", async () => {
    const { state } = await saved();
    const text = readFileSync(path.join(state, RESUME_FILE), "utf8");
    expect(text).toMatch(/^\{"sha256":"[0-9a-f]{64}","point":\{/);
    const p = (await readResumePoint(state))!;
    expect(p.pack!.bytes).toBeGreaterThan(0);
    expect(p.pack!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const opened = await openResumePoint(state);
    expect(opened.notice).toBeUndefined();
    expect(opened.point!.savedAt).toBe(p.savedAt);
  });

  it("still reads a resume point saved before checksums were recorded", async () => {
    const { state } = await saved();
    const file = path.join(state, RESUME_FILE);
    const body = JSON.parse(readFileSync(file, "utf8")).point;
    delete body.pack.sha256;
    delete body.pack.bytes;
    writeFileSync(file, JSON.stringify(body));
    const opened = await openResumePoint(state);
    expect(opened.notice).toBeUndefined();
    expect(opened.point!.pack!.sha256).toBeUndefined();
  });

  it("a cut pack is found by its size, a changed one by its SHA-256", async () => {
    const { state } = await saved();
    const p = (await readResumePoint(state))!;
    const pack = path.join(state, p.pack!.file);
    const bytes = readFileSync(pack);
    bytes[5] ^= 1;
    writeFileSync(pack, bytes);
    await expect(checkResumePack(state, p)).rejects.toMatchObject({ code: "VMSFX_BLOCK_HASH_MISMATCH", message: expect.stringContaining("does not match its SHA-256") });
    truncateSync(pack, 10);
    await expect(checkResumePack(state, p)).rejects.toMatchObject({ code: "VMSFX_BLOCK_HASH_MISMATCH", message: expect.stringMatching(/10 bytes where \d+ were saved/) });
  });

  it("a save that fails part-way leaves the previous resume point and no stray files", async () => {
    const { state, manifest } = await saved();
    const before = readdirSync(state).sort();
    const json = readFileSync(path.join(state, RESUME_FILE));
    // A block the session claims to have but cannot provide: the save fails while writing the pack.
    const blocks = [...manifest.memory.blocks];
    blocks[40] = "c".repeat(64);
    const previous = await readResumePoint(state);
    await expect(
      saveResumePoint({ stateDir: state, bundleManifestSha256: "b".repeat(64), kind: "suspended", manifest: { ...manifest, memory: { ...manifest.memory, blocks } }, inBundle: () => false, fresh: new Map(), previous }),
    ).rejects.toMatchObject({ code: "VMSFX_BLOCK_MISSING" });
    expect(readdirSync(state).sort()).toEqual(before);
    expect(readFileSync(path.join(state, RESUME_FILE)).equals(json)).toBe(true);
  });
});

describe("usage ledger leftovers", () => {
  it("temp files of a killed ledger write are removed from the shared mirror folder; a live writer's are not", async () => {
    const { writeLedger } = await import("../../src/policy/ledger");
    const { spawnSync } = await import("node:child_process");
    const dir = tempDir("vmsfx-mirror-");
    const mirror = path.join(dir, `${"a".repeat(64)}.json`);
    const dead = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString());
    const deadTemp = `.${path.basename(mirror)}.${dead}.0badc0de.tmp`;
    const liveTemp = `.${path.basename(mirror)}.${process.ppid}.0badc0de.tmp`;
    const otherApp = `.${"b".repeat(64)}.json.${dead}.0badc0de.tmp`;
    for (const f of [deadTemp, liveTemp, otherApp]) writeFileSync(path.join(dir, f), "x");
    await writeLedger(tempDir(), mirror, "a".repeat(64), { version: 1, launches: 1 });
    expect(readdirSync(dir).sort()).toEqual([liveTemp, otherApp, path.basename(mirror)].sort());
  });
});
