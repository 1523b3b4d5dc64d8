import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { BlockReader } from "../../src/snapshot/snapshot-source";
import { KEEP_CORRUPT, RESUME_FILE, openResumePoint, readResumePoint, type ResumePoint } from "../../src/snapshot/resume-point";
import { PackGuardedSource } from "../../src/launcher/pack-guard";
import type { SnapshotSource } from "../../src/snapshot/snapshot-source";
import { startRun, stateDirOf, stick, suspendAfter } from "./fault-helpers";

/**
 * A damaged resume point (a bad sector on the stick, a hand edit) is found when the app opens:
 * it is moved to `<state>/corrupt-<time>/` for inspection, the user is told where, and the app
 * starts from the bundle's own state. A block that goes bad later is a typed error that says how
 * to get back (--fresh, --reset).
 */

async function savedStick(): Promise<{ app: string; state: string; point: ResumePoint }> {
  const app = stick();
  expect((await suspendAfter(app, "MARK=from-saved-33; echo saved > /mnt/saved.txt", "saved-ok")).code).toBe(130);
  const state = stateDirOf(app);
  return { app, state, point: (await readResumePoint(state))! };
}

const flip = (file: string, at: number) => {
  const b = readFileSync(file);
  b[at] ^= 0x55;
  writeFileSync(file, b);
};

/** The launch after the damage: notice, set aside, bundle's own state; returns the set-aside folder. */
async function expectFallback(app: string, state: string, reason: RegExp): Promise<string> {
  const r = await vmsfx(["run", app], { input: "echo [$MARK]; cat /mnt/saved.txt\npoweroff\n" });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(reason);
  const m = /They were moved to (\S+) for inspection; this launch starts from the app's own state/.exec(r.stderr);
  expect(m, r.stderr).not.toBeNull();
  expect(r.stdout).toContain("[]"); // not the saved shell
  expect(r.stdout).toMatch(/saved.txt.*No such file/);
  expect(path.dirname(m![1])).toBe(state);
  expect(path.basename(m![1])).toMatch(/^corrupt-\d{8}T\d{9}Z/);
  return m![1];
}

describe("a damaged resume point", () => {
  it("a flipped byte in the pack: detected at open, kept aside byte for byte, the app starts from its own state", async () => {
    const { app, state, point } = await savedStick();
    const pack = path.join(state, point.pack!.file);
    flip(pack, Math.floor(readFileSync(pack).length / 2));
    const damaged = readFileSync(pack);
    const json = readFileSync(path.join(state, RESUME_FILE));
    const aside = await expectFallback(app, state, /are damaged \(.*pack-[0-9a-f]+\.bin: does not match its SHA-256\)/);
    expect(readdirSync(aside).sort()).toEqual([point.pack!.file, RESUME_FILE].sort());
    expect(readFileSync(path.join(aside, point.pack!.file)).equals(damaged)).toBe(true);
    expect(readFileSync(path.join(aside, RESUME_FILE)).equals(json)).toBe(true);
    // The next launch is normal again (the poweroff above saved a new, sound state).
    const again = await vmsfx(["run", app], { input: "poweroff\n" });
    expect(again.stderr).not.toContain("damaged");
    expect(again.code).toBe(0);
  });

  it("an edited or cut resume.json, and a missing pack, are each detected and set aside", async () => {
    const { app, state, point } = await savedStick();
    const json = path.join(state, RESUME_FILE);
    const text = readFileSync(json, "utf8");
    writeFileSync(json, text.replace('"kind":"suspended"', '"kind":"powered-off"'));
    await expectFallback(app, state, /resume\.json: its checksum does not match/);

    const second = await savedStick();
    writeFileSync(path.join(second.state, RESUME_FILE), readFileSync(path.join(second.state, RESUME_FILE)).subarray(0, 1000));
    await expectFallback(second.app, second.state, /resume\.json: (cut short|its checksum does not match)/);

    const third = await savedStick();
    rmSync(path.join(third.state, third.point.pack!.file));
    await expectFallback(third.app, third.state, /block file is gone/);
    expect(point.pack).not.toBeNull();
  });

  it(`keeps at most ${KEEP_CORRUPT} damaged resume points aside, the newest`, async () => {
    const state = tempDir("vmsfx-corrupt-");
    const made: string[] = [];
    for (let i = 0; i < KEEP_CORRUPT + 3; i++) {
      writeFileSync(path.join(state, RESUME_FILE), `{"sha256":"${"0".repeat(64)}","point":{"n":${i}}}`);
      const r = await openResumePoint(state);
      expect(r.point).toBeUndefined();
      expect(r.notice).toMatch(/checksum does not match/);
      made.push(path.basename(r.setAside!));
    }
    expect(readdirSync(state).sort()).toEqual(made.slice(-KEEP_CORRUPT).sort());
    expect(existsSync(path.join(state, RESUME_FILE))).toBe(false);
  });

  it("a pack block that goes bad after the launch checked it: a typed error saying how to fall back", async () => {
    const { app, state, point } = await savedStick();
    const bundle = await openBundle(app);
    const [inPack] = Object.keys(point.pack!.blocks);
    const inBundle = point.manifest.memory.blocks.find((h) => h && !point.pack!.blocks[h])!;
    // A source whose pack blocks come back damaged: what a failing medium does mid-session.
    const failing: SnapshotSource = { ...bundle, manifest: point.manifest, readStored: async (h, n) => (h === inPack ? Buffer.alloc(10, 1) : bundle.readStored(h, n)) };
    const guarded = new PackGuardedSource(failing, point, state);
    const reader = await BlockReader.open(guarded);
    await expect(reader.read(inPack, 4096)).rejects.toMatchObject({
      code: "VMSFX_BLOCK_HASH_MISMATCH",
      message: expect.stringMatching(/saved block .* is damaged\. Run the app with --fresh .* or --reset/),
    });
    expect((await reader.read(inBundle, point.manifest.memory.blockSize)).byteLength).toBe(point.manifest.memory.blockSize);
    await bundle.close();
  });

  it("end to end: disk blocks of the pack damaged while the app runs; the read fails with that advice, the session is not saved over it, and the next launch falls back", async () => {
    const app = stick();
    const state = stateDirOf(app);
    // A file whose disk blocks only the pack holds, out of the guest's page cache before the suspend.
    const writeBig = "yes VMSFX-BIG-FILE | head -c 2097152 > /mnt/big.txt; sync; echo 3 > /proc/sys/vm/drop_caches";
    expect((await suspendAfter(app, writeBig, "big-ok")).code).toBe(130);
    const point = (await readResumePoint(state))!;
    const s = startRun(app);
    s.send("echo resumed-ok\n");
    await s.until("\nresumed-ok");
    // Now damage every disk block in the pack that holds only the file's text.
    const pack = path.join(state, point.pack!.file);
    const bytes = readFileSync(pack);
    const bundle = await openBundle(app);
    const reader = await BlockReader.open(bundle);
    let damaged = 0;
    const seen = new Set<string>();
    for (const d of point.manifest.disks) {
      for (const h of d.map.blocks) {
        const at = h ? point.pack!.blocks[h] : undefined;
        if (!at || seen.has(h!)) continue;
        seen.add(h!);
        const raw = Buffer.from(reader.decode(bytes.subarray(at[0], at[0] + at[1]), h!, d.map.blockSize));
        if (/^(?:[A-Z-]*\n)*[A-Z-]*$/.test(raw.toString("latin1")) && raw.includes("VMSFX-BIG-FILE")) {
          bytes[at[0] + Math.floor(at[1] / 2)] ^= 0x55;
          damaged++;
        }
      }
    }
    await bundle.close();
    expect(damaged).toBeGreaterThan(0);
    writeFileSync(pack, bytes);
    s.send("wc -c /mnt/big.txt; cat /mnt/big.txt > /dev/null; echo read-done\n");
    // The damaged read either stops the app at once, or (where a failed disk read reaches the
    // guest as an I/O error) the session goes on and cannot be saved on top of the damage.
    const stopped = await Promise.race([s.until("\nread-done").then(() => false, () => true), s.done.then(() => true)]);
    if (!stopped) s.child.kill("SIGTERM");
    const end = await s.done;
    expect(s.stderr()).toMatch(/saved block .* is damaged\. Run the app with --fresh to start from its own state this once, or --reset/);
    expect(end.code, s.stderr()).toBe(13);
    if (!stopped) expect(s.stderr()).toMatch(/cannot be saved on top of it.*\[VMSFX_BLOCK_HASH_MISMATCH\]/);
    // Nothing was saved over it: the damaged resume point is still the current one.
    expect((await readResumePoint(state))!.savedAt).toBe(point.savedAt);
    const next = await vmsfx(["run", app], { input: "poweroff\n" });
    expect(next.stderr).toMatch(/are damaged .* moved to .*corrupt-/);
    expect(next.code).toBe(0);
  });
});
