import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ROOT } from "./cli";
import { alive } from "../../src/launcher/state-dir";

/**
 * An app built with `vmsfx build` from a spec under samples/, packed, and kept in
 * .cache/e2e-apps/ under the hash of everything that shapes it (the build, the guest base's
 * sources, the spec's folder), so a second run in the same checkout builds nothing. Each caller
 * gets its own copy of the bundle: a state folder left next to it must not leak between tests.
 */

export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

/** The hash of everything that shapes a built app: vmsfx, the guest base's sources, and these. */
export function buildKey(appFiles: string[], extra = ""): string {
  const h = createHash("sha256");
  const files = [
    ...["vmsfx.cjs", "engine-worker.cjs", "v86.wasm"].map((f) => path.join(ROOT, "dist", f)),
    path.join(ROOT, "build-scripts/guest-base.sh"),
    path.join(ROOT, "build-scripts/lib/guest-debs.sh"),
    ...filesUnder(path.join(ROOT, "build-scripts/guest-base")),
    ...appFiles,
  ];
  for (const f of files) h.update(path.relative(ROOT, f)).update(readFileSync(f));
  return h.update(extra).digest("hex").slice(0, 16);
}

export interface BuiltApp {
  /** This caller's copy of the packed bundle. */
  bundle: string;
  /** The snapshot folder `vmsfx build` made (shared: do not change it). */
  snapshot: string;
  /** What `vmsfx build --json` said, when this call built it. */
  buildReport?: Record<string, unknown>;
}

/**
 * Test files run in parallel workers, and two of them may want the same app: one builds it while
 * the other waits. A lock whose builder is gone (a killed run) is taken over.
 */
function whileLocked<T>(lock: string, fn: () => T): T {
  const pidFile = path.join(lock, "pid");
  for (;;) {
    try {
      mkdirSync(lock, { recursive: false });
      writeFileSync(pidFile, String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const holder = Number(existsSync(pidFile) ? readFileSync(pidFile, "utf8") : NaN);
      if (Number.isInteger(holder) && !alive(holder)) rmSync(lock, { recursive: true, force: true });
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Builds (or reuses) samples/<name>/app.json, level 1 so the test tier stays fast. */
export function builtApp(name: string, specDir = path.join(ROOT, "samples", name)): BuiltApp {
  const parent = path.join(ROOT, ".cache/e2e-apps");
  const done = path.join(parent, `${name}-${buildKey(filesUnder(specDir))}`);
  mkdirSync(parent, { recursive: true });
  const buildReport = whileLocked(path.join(parent, `${name}.lock`), () => buildOnce(name, specDir, parent, done));
  const mine = mkdtempSync(path.join(os.tmpdir(), `vmsfx-${name}-`));
  cpSync(path.join(done, "app.vmsfx"), path.join(mine, "app.vmsfx"));
  return { bundle: path.join(mine, "app.vmsfx"), snapshot: path.join(done, "snap"), buildReport };
}

function buildOnce(name: string, specDir: string, parent: string, done: string): Record<string, unknown> | undefined {
  let buildReport: Record<string, unknown> | undefined;
  if (!existsSync(path.join(done, "app.vmsfx"))) {
    for (const old of readdirSync(parent)) if (old.startsWith(`${name}-`)) rmSync(path.join(parent, old), { recursive: true, force: true });
    const work = `${done}.${process.pid}.tmp`;
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const out = execFileSync(process.execPath, ["bin/vmsfx", "build", path.join(specDir, "app.json"), "-o", path.join(work, "snap"), "--level", "1", "--json"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    buildReport = JSON.parse(out.trim().split("\n").pop()!);
    execFileSync(process.execPath, ["bin/vmsfx", "pack", path.join(work, "snap"), "-o", path.join(work, "app.vmsfx"), "--quiet"], { cwd: ROOT, stdio: "inherit" });
    renameSync(work, done);
  }
  return buildReport;
}

let saidNoRoot = false;

/**
 * Whether this machine can build apps from Debian packages: root and mmdebstrap (a missing
 * mmdebstrap is already said by the global setup; missing root is said here, once per file).
 */
export function canBuildDebianApps(mmdebstrap: string | undefined): boolean {
  const root = process.getuid?.() === 0;
  if (!root && mmdebstrap !== undefined && !saidNoRoot) {
    saidNoRoot = true;
    console.log("vmsfx tests: not root, so the tests that build apps from Debian packages are skipped (their package scripts need root); to run them: sudo npm test");
  }
  return root && mmdebstrap !== undefined;
}

/** The kind of the resume point in a state folder (`quit`, `suspended`, ...), or undefined. */
export function resumeKind(stateDir: string): string | undefined {
  const file = path.join(stateDir, "resume.json");
  return existsSync(file) ? /"kind":"([a-z-]+)"/.exec(readFileSync(file, "utf8"))?.[1] : undefined;
}

/** The `--timings` line of a launch's stderr, parsed (empty when there is none). */
export function timingsOf(stderr: string): Record<string, number> {
  const line = stderr.split("\n").find((l) => l.startsWith("vmsfx-timings "));
  return line ? JSON.parse(line.slice("vmsfx-timings ".length)) : {};
}
