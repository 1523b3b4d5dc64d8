import { afterEach, describe, expect, it, inject } from "vitest";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { startFaultServer, type FaultServer } from "../helpers/fault-server";
import { readResumePoint } from "../../src/snapshot/resume-point";
import { LEDGER_FILE, readLedger, writeLedger } from "../../src/policy/ledger";
import { NO_MOUNT, listing, mountTmpfs, remount, startRun, stateDirOf, stick, suspendAfter, umount, verifyResumePoint } from "./fault-helpers";
import { DEADLINE } from "../helpers/deadlines";

/**
 * A full disk (ENOSPC) and a read-only one (EROFS) under each thing vmsfx writes — the resume
 * point at suspend, the state folder's lock at launch, the usage ledger, the thin-bundle cache —
 * on real tmpfs mounts. Every failure is a typed error with its exit code, and nothing already
 * saved is lost.
 */

const mounts: string[] = [];
afterEach(() => {
  for (const m of mounts.splice(0)) {
    try {
      umount(m);
    } catch {
      /* already unmounted */
    }
  }
});

function tmpfs(size: string, at?: string): string | undefined {
  const m = mountTmpfs(size, at);
  if (m) mounts.push(m);
  return m;
}

/** Fills the filesystem under `dir` to the last byte. */
function fill(dir: string): string {
  const filler = path.join(dir, "filler");
  const chunk = Buffer.alloc(1 << 20, 7);
  try {
    for (;;) writeFileSync(filler, chunk, { flag: "a" });
  } catch (e) {
    expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC");
  }
  // The last partial megabyte, so not even a page is left.
  try {
    for (;;) writeFileSync(filler, Buffer.alloc(4096, 7), { flag: "a" });
  } catch {
    /* full */
  }
  return filler;
}

const FIRST = "FIRST=kept-11; echo first > /mnt/first.txt";
const SECOND = "SECOND=lost-22; echo second > /mnt/second.txt; dd if=/dev/urandom of=/mnt/big bs=64k count=32 2>/dev/null";
const CHECK = "echo $FIRST $SECOND; cat /mnt/first.txt /mnt/second.txt\npoweroff\n";

/** A first session saved, a second one whose save is made to fail by `breakIt`; returns that run. */
async function failedSecondSave(app: string, breakIt: () => void) {
  expect((await suspendAfter(app, FIRST, "saved-1")).code).toBe(130);
  const before = await readResumePoint(stateDirOf(app));
  const s = startRun(app);
  s.send(`${SECOND}\necho ready-2\n`);
  await s.until("\nready-2");
  breakIt();
  s.child.kill("SIGTERM");
  const { code } = await s.done;
  return { code, stderr: s.stderr(), before: before! };
}

async function expectFirstSessionOnly(app: string, savedAt: string) {
  expect(await verifyResumePoint(app)).toBe("ok");
  expect((await readResumePoint(stateDirOf(app)))!.savedAt).toBe(savedAt);
  const r = await vmsfx(["run", app], { input: CHECK });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toContain("kept-11");
  expect(r.stdout).not.toContain("lost-22");
  expect(r.stdout).toMatch(/^first\r?$/m);
  expect(r.stdout).toMatch(/second.txt.*No such file/);
}

describe("a full or read-only disk", () => {
  it("disk full while suspending: exit 5, the previous resume point survives whole and resumes", async (ctx) => {
    const mnt = tmpfs("40m");
    if (!mnt) return ctx.skip(NO_MOUNT);
    const app = stick(mnt);
    let filler = "";
    const r = await failedSecondSave(app, () => (filler = fill(mnt)));
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/no space left while saving.*previously saved state is unchanged.*\[VMSFX_DISK_FULL\]/);
    // The failed save took its half-written pack and temp files with it.
    expect(listing(stateDirOf(app)).filter((f) => f !== "lock")).toEqual([expect.stringMatching(/^pack-.*\.bin$/), "resume.json"]);
    rmSync(filler);
    await expectFirstSessionOnly(app, r.before.savedAt);
  });

  it("the medium turning read-only while suspending: exit 4, the previous resume point survives; the lock left behind is taken over", async (ctx) => {
    const mnt = tmpfs("40m");
    if (!mnt) return ctx.skip(NO_MOUNT);
    const app = stick(mnt);
    const r = await failedSecondSave(app, () => remount(mnt, "ro"));
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/could not save where you left off.*previously saved state is unchanged.*\[VMSFX_IO\]/);
    remount(mnt, "rw");
    expect(existsSync(path.join(stateDirOf(app), "lock"))).toBe(true); // could not be removed while read-only
    await expectFirstSessionOnly(app, r.before.savedAt);
  });

  it("disk full at launch: exit 5 before the guest runs, and the state folder is left as it was", async (ctx) => {
    const mnt = tmpfs("40m");
    if (!mnt) return ctx.skip(NO_MOUNT);
    const app = stick(mnt);
    expect((await suspendAfter(app, FIRST, "saved-1")).code).toBe(130);
    const before = listing(stateDirOf(app));
    const filler = fill(mnt);
    const r = await vmsfx(["run", app], { input: "echo should-not-run\npoweroff\n" });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/\[VMSFX_DISK_FULL\]/);
    expect(r.stdout).not.toContain("should-not-run");
    expect(listing(stateDirOf(app))).toEqual(before); // no lock left behind
    rmSync(filler);
    await expectFirstSessionOnly(app, (await readResumePoint(stateDirOf(app)))!.savedAt);
  });

  it("usage ledger: a full state folder or a read-only data folder is a typed error, and the older copy stays readable", async (ctx) => {
    const mnt = tmpfs("1m");
    if (!mnt) return ctx.skip(NO_MOUNT);
    const appId = "a".repeat(64);
    const stateDir = path.join(mnt, "state");
    mkdirSync(stateDir);
    const mirror = path.join(tempDir("vmsfx-mirror-"), "ledger.json");
    await writeLedger(stateDir, mirror, appId, { version: 1, launches: 1 });
    const filler = fill(mnt);
    await expect(writeLedger(stateDir, mirror, appId, { version: 1, launches: 2 })).rejects.toMatchObject({
      code: "VMSFX_DISK_FULL",
      message: expect.stringMatching(/usage record could not be saved \(no space left\).*Free some space/),
    });
    // The mirror got the new count before the state copy failed; the state copy is the old one, whole.
    expect(readdirSync(stateDir)).toEqual([LEDGER_FILE]);
    expect((await readLedger(stateDir, mirror, appId)).ledger.launches).toBe(2);
    rmSync(filler);
    remount(mnt, "ro");
    const roMirror = path.join(mnt, "data", "ledger.json");
    await expect(writeLedger(tempDir(), roMirror, appId, { version: 1, launches: 3 })).rejects.toMatchObject({
      code: "VMSFX_IO",
      message: expect.stringMatching(/usage record could not be saved \(read-only or permission denied\).*XDG_DATA_HOME/),
    });
  });

  it("a restricted app whose usage record cannot be written does not start (exit 4)", async (ctx) => {
    const ro = tmpfs("1m");
    if (!ro) return ctx.skip(NO_MOUNT);
    remount(ro, "ro");
    const dir = tempDir("vmsfx-restricted-");
    const key = path.join(dir, "publisher.key");
    expect((await vmsfx(["keygen", "-o", key])).code).toBe(0);
    const policy = path.join(dir, "policy.json");
    writeFileSync(policy, JSON.stringify({ maxLaunches: 100 }));
    const app = path.join(dir, "app.vmsfx");
    expect((await vmsfx(["pack", inject("snapshotDir"), "-o", app, "-q", "--sign", key, "--policy", policy], { timeoutMs: DEADLINE.launch })).code).toBe(0);
    const r = await vmsfx(["run", app], { input: "echo should-not-run\npoweroff\n", env: { XDG_DATA_HOME: ro } });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/usage record could not be saved.*\[VMSFX_IO\]/);
    expect(r.stdout).not.toContain("should-not-run");
  });

  it("thin bundle: a read-only or full block cache only means blocks are not kept; the app runs", async (ctx) => {
    const probe = tmpfs("1m");
    if (!probe) return ctx.skip(NO_MOUNT);
    const servers: FaultServer[] = [];
    try {
      const site = path.join(tempDir(), "site");
      expect((await vmsfx(["publish", inject("bundlePath"), "-o", site, "-q"])).code).toBe(0);
      const server = await startFaultServer({ dir: site, maxRequests: 5000 });
      servers.push(server);
      const app = path.join(tempDir("vmsfx-thin-"), "thin.vmsfx");
      expect((await vmsfx(["pack", inject("snapshotDir"), "--thin", "--remote", `${server.url}/`, "--include", "none", "-o", app, "-q"])).code).toBe(0);
      const cache = path.join(stateDirOf(app), "cache");
      mkdirSync(cache, { recursive: true });
      for (const [size, mode] of [["1m", "ro"], ["256k", "rw"]] as const) {
        tmpfs(size, cache);
        if (mode === "ro") remount(cache, "ro");
        const r = await vmsfx(["run", app], { input: "cat /mnt/hello.txt\npoweroff\n" });
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain("hello from the vmsfx sample disk");
        // Nothing half-written is left in the cache.
        expect(readdirSync(cache).filter((f) => f.endsWith(".tmp"))).toEqual([]);
        umount(cache);
        mounts.splice(mounts.indexOf(cache), 1);
        expect((await vmsfx(["run", app, "--reset"])).code).toBe(0);
      }
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});
