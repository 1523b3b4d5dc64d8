import { afterEach, expect, inject } from "vitest";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as path from "node:path";
import { CLI } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { openLayeredSource } from "../../src/snapshot/layered-source";
import { checkResumePack, readResumePoint } from "../../src/snapshot/resume-point";
import { verifySnapshot } from "../../src/snapshot/snapshot-report";
import { allMaps } from "../../src/snapshot/manifest";
import { DEADLINE } from "../helpers/deadlines";

/** A copy of the sample bundle in a folder of its own (default: a fresh temp folder), as on a USB stick. */
export function stick(dir = tempDir("vmsfx-fault-")): string {
  mkdirSync(dir, { recursive: true });
  const app = path.join(dir, "app.vmsfx");
  copyFileSync(inject("bundlePath"), app);
  return app;
}

export const stateDirOf = (app: string) => app.replace(/\.vmsfx$/, ".vmsfx-state");

/**
 * A running `vmsfx run` with stdin left open, as on a terminal: `until(text)` waits for output,
 * `send(line)` types, `done` is the exit.
 */
export interface Session {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  until(text: string, timeoutMs?: number): Promise<void>;
  send(text: string): void;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Launches still running when a test ends (it failed half-way) are killed, never left behind. */
const live = new Set<ChildProcessWithoutNullStreams>();
afterEach(() => {
  for (const c of live) c.kill("SIGKILL");
  live.clear();
});

export function startRun(app: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Session {
  const child = spawn(process.execPath, [CLI, "run", app, ...args], { env: { ...process.env, ...env } });
  live.add(child);
  child.on("close", () => live.delete(child));
  let out = "";
  let err = "";
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout.on("data", (d) => {
    out += d;
    for (const w of [...waiters]) if (out.includes(w.text)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  });
  child.stderr.on("data", (d) => (err += d));
  const killer = setTimeout(() => child.kill("SIGKILL"), 2 * DEADLINE.launch);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal });
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    send: (t) => child.stdin.write(t),
    done,
    until(text, timeoutMs = DEADLINE.launch) {
      if (out.includes(text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`)), timeoutMs);
        waiters.push({ text, resolve: () => (clearTimeout(t), resolve()) });
        void done.then(() => reject(new Error(`exited before "${text}"\nstdout: ${out}\nstderr: ${err}`)));
      });
    },
  };
}

/** Runs the commands, waits for the marker they echo, then closes the app with SIGTERM (a suspend). */
export async function suspendAfter(app: string, commands: string, marker: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const s = startRun(app, [], env);
  s.send(`${commands}\necho ${marker}\n`);
  await s.until(`\n${marker}`);
  s.child.kill("SIGTERM");
  const { code } = await s.done;
  return { code, stdout: s.stdout(), stderr: s.stderr() };
}

/** Whatever resume point is in the state folder: its JSON, its pack and every block it names check out. */
export async function verifyResumePoint(app: string, stateDir = stateDirOf(app)): Promise<"none" | "ok"> {
  const point = await readResumePoint(stateDir);
  if (!point) return "none";
  await checkResumePack(stateDir, point);
  const source = await openLayeredSource(await openBundle(app), point, stateDir);
  try {
    const r = await verifySnapshot(source);
    expect(r.failures).toEqual([]);
  } finally {
    await source.close();
  }
  return "ok";
}

/**
 * The cheaper check, for many resume points: resume.json's and the pack's checksums (which cover
 * every pack block), and every block the point names is in its pack or in the bundle.
 */
export async function checkResumePointQuick(app: string, stateDir = stateDirOf(app)): Promise<"none" | "ok"> {
  const point = await readResumePoint(stateDir);
  if (!point) return "none";
  await checkResumePack(stateDir, point);
  const bundle = await openBundle(app);
  try {
    const index = point.pack?.blocks ?? {};
    for (const map of allMaps(point.manifest)) for (const h of map.blocks) if (h) expect(index[h] !== undefined || bundle.entry(h) !== undefined).toBe(true);
  } finally {
    await bundle.close();
  }
  return "ok";
}

export const listing = (dir: string) => readdirSync(dir).sort();

/**
 * A tmpfs of `size` (e.g. "64m") mounted on a fresh folder; undefined when mounting is not
 * possible here (not root). CI runs as root, where this always works.
 */
export function mountTmpfs(size: string, at = tempDir("vmsfx-tmpfs-")): string | undefined {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", at], { stdio: "pipe" });
    return at;
  } catch {
    return undefined;
  }
}

export function umount(dir: string): void {
  execFileSync("umount", [dir], { stdio: "pipe" });
}

export function remount(dir: string, mode: "ro" | "rw"): void {
  execFileSync("mount", ["-o", `remount,${mode}`, dir], { stdio: "pipe" });
}

export const NO_MOUNT = "cannot mount a tmpfs here (needs root; CI runs as root)";
