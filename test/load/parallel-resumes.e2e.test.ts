import { describe, expect, it, inject } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { createHash } from "node:crypto";
import * as path from "node:path";
import { tempDir } from "../helpers/synthetic-snapshot";
import { checkResumePointQuick, startRun, verifyResumePoint } from "../faults/fault-helpers";
import { DEADLINE } from "../helpers/deadlines";

/**
 * PARALLEL (default 20, VMSFX_LOAD_PARALLEL overrides) resumes of ONE bundle file at the same
 * time, each with its own state folder: each session's work is kept apart and verifies, and the
 * shared bundle is only read.
 */

const PARALLEL = Number(process.env.VMSFX_LOAD_PARALLEL ?? 20);

describe("load: parallel resumes of one bundle", () => {
  it(`${PARALLEL} resumes at once, each with its own state folder, each keeps its own work`, async () => {
    const app = inject("bundlePath");
    const root = tempDir("vmsfx-parallel-");
    const dirs = Array.from({ length: PARALLEL }, (_, i) => path.join(root, `state-${i}`));
    const digest = () => createHash("sha256").update(readFileSync(app)).digest("hex");
    const before = digest();
    const t0 = performance.now();
    // All at once: resume, write something of its own, suspend (SIGTERM, as closing the app).
    const first = await Promise.all(
      dirs.map(async (d, i) => {
        const s = startRun(app, ["--state-dir", d]);
        s.send(`echo mine-${i} > /mnt/who.txt; SHELLVAR=shell-${i}\necho ran-${i}\n`);
        await s.until(`\nran-${i}`, 2 * DEADLINE.launch);
        s.child.kill("SIGTERM");
        return { ...(await s.done), stderr: s.stderr() };
      }),
    );
    const firstMs = performance.now() - t0;
    first.forEach((r) => expect(r.code, r.stderr).toBe(130));
    // Every block of one verified by reading it; the others by their checksums (cheaper).
    expect(await verifyResumePoint(app, dirs[0])).toBe("ok");
    for (const d of dirs) expect(await checkResumePointQuick(app, d)).toBe("ok");
    // Again all at once: each resumes its own session (memory and disk) and nobody else's.
    const second = await Promise.all(
      dirs.map(async (d, i) => {
        const s = startRun(app, ["--state-dir", d]);
        s.send(`echo $SHELLVAR; cat /mnt/who.txt\necho end-${i}\n`);
        await s.until(`\nend-${i}`, 2 * DEADLINE.launch);
        s.send("poweroff\n");
        return { ...(await s.done), stdout: s.stdout(), stderr: s.stderr() };
      }),
    );
    second.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(0);
      // The second line was typed ahead: the guest's tty may echo it into the middle of cat's
      // output line on a loaded machine ("mine-11echo end-11"), so a line's end is not required.
      expect(r.stdout).toMatch(new RegExp(`^shell-${i}(?!\\d)`, "m"));
      expect(r.stdout).toMatch(new RegExp(`^mine-${i}(?!\\d)`, "m"));
      expect(readdirSync(dirs[i]).sort()).toEqual([expect.stringMatching(/^pack-[0-9a-f]+\.bin$/), "resume.json"]);
    });
    expect(digest()).toBe(before); // the shared bundle is only ever read
    console.log(`${PARALLEL} parallel resumes: all done in ${Math.round(firstMs)} ms`);
  });
});
