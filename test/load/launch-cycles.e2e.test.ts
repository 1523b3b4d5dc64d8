import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { PassThrough, Writable } from "node:stream";
import * as path from "node:path";
import { ROOT, vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { loadEngineAssets, type EngineAssets } from "../../src/engine/engine-assets";
import { runBundle } from "../../src/launcher/run-bundle";
import { ledgerMirror } from "../../src/policy/launch-gate";
import { readResumePoint } from "../../src/snapshot/resume-point";
import { verifyResumePoint } from "../faults/fault-helpers";
import { DEADLINE } from "../helpers/deadlines";

/**
 * CYCLES back-to-back launch-and-exit cycles of a signed, launch-limited app (so the usage ledger
 * is written every time): each resumes from the previous cycle's resume point, exits at once and
 * suspends. They run in this process through runBundle (the launcher's whole run flow, minus
 * process start-up), so the CI count stays small: VMSFX_LOAD_CYCLES (default 40) sets it, and
 * `npm run load` runs 1,000. Checked: the state folder holds the same few files throughout, the
 * pack does not keep growing, the ledger counts every launch at a constant size, no file
 * descriptors leak, and the last resume point verifies.
 */

const CYCLES = Number(process.env.VMSFX_LOAD_CYCLES ?? 40);

const sink = () => new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;
const openFds = () => readdirSync("/proc/self/fd").length;

let app: string;
let assets: EngineAssets;
const savedXdg = process.env.XDG_DATA_HOME;
beforeAll(async () => {
  const dir = tempDir("vmsfx-cycles-");
  const key = path.join(dir, "publisher.key");
  expect((await vmsfx(["keygen", "-o", key])).code).toBe(0);
  const policy = path.join(dir, "policy.json");
  writeFileSync(policy, JSON.stringify({ maxLaunches: 1_000_000 }));
  app = path.join(dir, "app.vmsfx");
  const packed = await vmsfx(["pack", inject("snapshotDir"), "-o", app, "-q", "--sign", key, "--policy", policy], { timeoutMs: DEADLINE.launch });
  expect(packed.code, packed.stderr).toBe(0);
  // Outside the esbuild bundle the v86 version is not compiled in: name it as the build does
  // (the wasm hash, the part that matters, is still checked against the bundle's).
  const built = await loadEngineAssets(path.join(ROOT, "dist"));
  const v86Version = JSON.parse(readFileSync(path.join(ROOT, "node_modules/v86/package.json"), "utf8")).version;
  assets = { ...built, identity: { ...built.identity, version: v86Version } };
  process.env.XDG_DATA_HOME = tempDir("vmsfx-cycles-data-");
});
afterAll(() => {
  if (savedXdg === undefined) delete process.env.XDG_DATA_HOME;
  else process.env.XDG_DATA_HOME = savedXdg;
});

describe("load: back-to-back launches", () => {
  it(`${CYCLES} launch-and-exit cycles leave bounded state, a constant-size ledger, no leaked descriptors`, async () => {
    const stateDir = app.replace(/\.vmsfx$/, ".vmsfx-state");
    const packSizes: number[] = [];
    let ledgerBytes = 0;
    let fdsAfterWarmup = 0;
    const t0 = performance.now();
    for (let i = 1; i <= CYCLES; i++) {
      const stdin = new PassThrough() as unknown as NodeJS.ReadStream;
      const r = await runBundle(app, assets, { fresh: false, maxRunMs: 0, stdin, stdout: sink(), stderr: sink() });
      expect(r.reason).toBe("detached");
      expect(r.saved?.kind).toBe("suspended");
      const files = readdirSync(stateDir).sort();
      expect(files).toEqual(["ledger.json", expect.stringMatching(/^pack-[0-9a-f]+\.bin$/), "resume.json"]);
      packSizes.push(statSync(path.join(stateDir, files[1])).size);
      const ledger = readFileSync(path.join(stateDir, "ledger.json"), "utf8");
      expect(JSON.parse(ledger).ledger.launches).toBe(i);
      if (i === 2) ledgerBytes = ledger.length;
      // Digits of the count aside, the record does not grow.
      if (i > 2) expect(ledger.length - ledgerBytes).toBeLessThanOrEqual(String(i).length - 1);
      if (i === 3) fdsAfterWarmup = openFds();
    }
    const ms = performance.now() - t0;
    // The pack holds only blocks that differ from the bundle, each once: whatever the number of
    // launches it stays below one whole copy of the machine (it levels off as the same pages change).
    const maxPack = Math.max(...packSizes);
    expect(maxPack).toBeLessThan(statSync(app).size);
    expect(openFds()).toBeLessThanOrEqual(fdsAfterWarmup + 4);
    const mirror = JSON.parse(readFileSync(ledgerMirror((await readResumePoint(stateDir))!.bundleManifestSha256), "utf8"));
    expect(mirror.ledger.launches).toBe(CYCLES);
    expect(await verifyResumePoint(app)).toBe("ok");
    console.log(`${CYCLES} launch-and-exit cycles in ${Math.round(ms)} ms (${Math.round(ms / CYCLES)} ms each); pack after 1/10/100/last: ${[0, 9, 99, packSizes.length - 1].map((i) => packSizes[i]).join("/")} B, max ${maxPack} B, bundle ${statSync(app).size} B; ledger ${ledgerBytes} B; fds ${fdsAfterWarmup} -> ${openFds()}; heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MiB`);
  }, 3_600_000);
});
