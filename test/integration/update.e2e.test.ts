import { afterAll, describe, expect, it, inject } from "vitest";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { startFaultServer, type FaultServer } from "../helpers/fault-server";
import { DEADLINE } from "../helpers/deadlines";

/**
 * `run --update`: a thin bundle takes a newer version its publisher signed and published to the
 * same place, downloads only the blocks it does not already have, keeps the user's changes to
 * the old version aside, and refuses updates that are not the publisher's.
 */

const work = tempDir();
let site: FaultServer | undefined;
afterAll(async () => site?.close());

async function ok(args: string[], input?: string) {
  const r = await vmsfx(args, { input, timeoutMs: DEADLINE.launch });
  expect(r.stderr + r.stdout).not.toMatch(/internal error/);
  return r;
}

async function keygen(name: string): Promise<string> {
  const key = path.join(work, name);
  expect((await ok(["keygen", "-o", key])).code).toBe(0);
  return key;
}

async function publishSigned(snapshot: string, key: string, siteDir: string): Promise<void> {
  const full = path.join(work, `full-${Math.random().toString(36).slice(2)}.vmsfx`);
  expect((await ok(["pack", snapshot, "--sign", key, "-o", full, "-q"])).code).toBe(0);
  expect((await ok(["publish", full, "-o", siteDir, "-q"])).code).toBe(0);
}

const blockRequests = () => site!.requests.filter((q) => q.path.includes("/blocks/")).length;

describe("run --update", () => {
  it("takes a newer signed version, fetching only blocks it lacks; the app's data comes along; tampering and other signers are refused", async () => {
    const key = await keygen("publisher.key");
    const siteDir = path.join(work, "site");
    await publishSigned(inject("snapshotDir"), key, siteDir);
    site = await startFaultServer({ dir: siteDir, maxRequests: 5000 });
    const app = path.join(work, "app.vmsfx");
    expect((await ok(["pack", inject("snapshotDir"), "--thin", "--remote", `${site.url}/`, "--include", "none", "--sign", key, "-o", app, "-q"])).code).toBe(0);

    // Version 1: the user's change lives in a resume point of this version.
    const v1 = await ok(["run", app], "echo mine > /mnt/mine.txt\npoweroff\n");
    expect(v1.code).toBe(0);
    const up = await ok(["run", app, "--update"], "poweroff\n");
    expect(up.stderr).toContain("vmsfx: this app is up to date.");
    expect(up.code).toBe(0);

    // Version 2: the same spec built again (its RAM differs, its root disk does not).
    const v2snap = path.join(work, "v2");
    expect((await ok(["build", "samples/shell/app.json", "-o", v2snap, "-q", "--level", "3"])).code).toBe(0);
    await publishSigned(v2snap, key, siteDir);
    const v2blocks = JSON.parse(readFileSync(path.join(v2snap, "manifest.json"), "utf8"));
    const distinct = new Set([v2blocks.state, v2blocks.memory, v2blocks.vgaMemory, ...v2blocks.disks.map((d: { map: unknown }) => d.map)].flatMap((m: { blocks: (string | null)[] }) => m.blocks.filter(Boolean))).size;
    const before = blockRequests();
    const updated = await ok(["run", app, "--update"], "cat /mnt/hello.txt /mnt/mine.txt\npoweroff\n");
    expect(updated.stderr).toMatch(/vmsfx: updated to the version published at http:\/\/127\.0\.0\.1:\d+\//);
    // The quit kept the data disk whole (a thin app keeps its fresh data disk in the file), so it moves on.
    expect(updated.stderr).toContain("vmsfx: this is a new version of the app; your data (/mnt) comes with it.");
    expect(updated.stdout).toContain("hello from the vmsfx sample disk");
    expect(updated.stdout).toMatch(/^mine\r?$/m);
    expect(updated.code).toBe(0);
    // Only what the cache lacked was downloaded: the disk and the unchanged RAM were not.
    expect(blockRequests() - before).toBeGreaterThan(0);
    expect(blockRequests() - before).toBeLessThan(distinct);
    const state = app.replace(/\.vmsfx$/, ".vmsfx-state");
    // The cache holds only blocks of the version in use: the old version's are gone.
    const v2hashes = new Set([v2blocks.state, v2blocks.memory, v2blocks.vgaMemory, ...v2blocks.disks.map((d: { map: unknown }) => d.map), ...Object.values(v2blocks.boot ?? {}).filter((b) => typeof b === "object")].flatMap((m: any) => m.blocks.filter(Boolean)));
    for (const f of readdirSync(path.join(state, "cache"))) expect(v2hashes.has(f)).toBe(true);
    expect(readdirSync(state).filter((f) => f.startsWith("other-version-"))).toEqual([]);

    // The next launch stays on version 2 without asking, and its resume point is its own.
    const again = await ok(["run", app], "poweroff\n");
    expect(again.stderr).not.toContain("another version");
    expect(again.code).toBe(0);

    // An update.json changed on disk is refused like a tampered bundle.
    const updateFile = path.join(state, "update.json");
    const good = readFileSync(updateFile, "utf8");
    const record = JSON.parse(good);
    const m = Buffer.from(record.manifest, "base64");
    m[m.length - 2] ^= 1;
    writeFileSync(updateFile, JSON.stringify({ ...record, manifest: m.toString("base64") }));
    const tampered = await ok(["run", app], "poweroff\n");
    expect(tampered.stderr).toMatch(/signature does not match.*\[VMSFX_SIGNATURE_INVALID\]/);
    expect(tampered.code).toBe(48);
    writeFileSync(updateFile, good);

    // A version signed by someone else is not taken.
    await publishSigned(inject("snapshotDir"), await keygen("intruder.key"), siteDir);
    const foreign = await ok(["run", app, "--update"], "poweroff\n");
    expect(foreign.stderr).toContain("[VMSFX_SIGNER_MISMATCH]");
    expect(foreign.code).toBe(49);
    expect(readFileSync(updateFile, "utf8")).toBe(good);

    // Offline, --update says so and runs the version already here.
    await site.close();
    site = undefined;
    const offline = await ok(["run", app, "--update"], "echo still$((6*7))\npoweroff\n");
    expect(offline.stderr).toMatch(/vmsfx: could not check for an update \(.*\); running the version already here\./);
    expect(offline.stdout).toContain("still42");
    expect(offline.code).toBe(0);
  });

  it("an unsigned or non-thin bundle has no update path: exit 62", async () => {
    const r = await ok(["run", inject("bundlePath"), "--update"], "poweroff\n");
    expect(r.stderr).toMatch(/\[VMSFX_UPDATE_REFUSED\]\n$/);
    expect(r.code).toBe(62);
  });
});
