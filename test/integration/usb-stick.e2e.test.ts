import { describe, expect, it, inject } from "vitest";
import { copyFileSync, existsSync, readdirSync } from "node:fs";
import { execFileSync, spawn } from "node:child_process";
import * as path from "node:path";
import { CLI, vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { openLayeredSource } from "../../src/snapshot/layered-source";
import { readResumePoint } from "../../src/snapshot/resume-point";
import { verifySnapshot } from "../../src/snapshot/snapshot-report";
import { DEADLINE } from "../helpers/deadlines";

/** A copy of the sample bundle in a folder of its own, as on a USB stick. */
function stick(): string {
  const dir = tempDir("vmsfx-stick-");
  const app = path.join(dir, "app.vmsfx");
  copyFileSync(inject("bundlePath"), app);
  return app;
}

/**
 * Starts `vmsfx run`, feeds it `input`, and once `marker` has been printed sends `signal`
 * (the user closing the app). Stdin stays open, as on a terminal.
 */
function runThenSignal(app: string, input: string, marker: string, signal: NodeJS.Signals, killAfterMs?: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, "run", app]);
    let stdout = "";
    let stderr = "";
    let sent = false;
    child.stdout.on("data", (d) => {
      stdout += d;
      if (!sent && stdout.includes(marker)) {
        sent = true;
        child.kill(signal);
        if (killAfterMs !== undefined) setTimeout(() => child.kill("SIGKILL"), killAfterMs);
      }
    });
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no exit\n${stdout}\n${stderr}`));
    }, DEADLINE.launch);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.write(input);
  });
}

async function verifyResumePoint(app: string): Promise<"none" | "ok"> {
  const stateDir = app.replace(/\.vmsfx$/, ".vmsfx-state");
  const point = await readResumePoint(stateDir);
  if (!point) return "none";
  const source = await openLayeredSource(await openBundle(app), point, stateDir);
  const r = await verifySnapshot(source);
  await source.close();
  expect(r.failures).toEqual([]);
  return "ok";
}

describe("USB-stick mode: the user's work is kept next to the file", () => {
  it("a signal suspends the guest; the next launch resumes memory, shell and disk where they were", async () => {
    const app = stick();
    const first = await runThenSignal(app, "cd /\nSECRET=kept-in-ram-77\necho disk-change > /mnt/note.txt\necho ready-to-close\n", "\nready-to-close", "SIGTERM");
    expect(first.code).toBe(130);
    expect(first.stderr).toContain("suspended");
    expect(await verifyResumePoint(app)).toBe("ok");
    const second = await vmsfx(["run", app], { input: "echo $SECRET; pwd; cat /mnt/note.txt\npoweroff\n" });
    expect(second.stdout).toContain("kept-in-ram-77");
    expect(second.stdout).toMatch(/^\/\r?$/m);
    expect(second.stdout).toContain("disk-change");
    expect(second.code).toBe(0);
  });

  it("after a poweroff (a quit) the next launch resumes the bundle's own memory with the saved data, no cold boot; --reset goes back to the bundle", async () => {
    const app = stick();
    expect((await vmsfx(["run", app], { input: "echo survives-poweroff > /mnt/p.txt\npoweroff\n" })).code).toBe(0);
    const again = await vmsfx(["run", app, "--timings"], { input: "cat /mnt/p.txt\npoweroff\n", timeoutMs: DEADLINE.launch });
    expect(again.stderr).toContain('"verified"'); // the bundle's memory was read and resumed
    expect(again.stdout).toContain("survives-poweroff");
    expect((await vmsfx(["run", app, "--reset"])).stdout).toContain("Reset");
    const fresh = await vmsfx(["run", app], { input: "cat /mnt/p.txt\npoweroff\n" });
    expect(fresh.stdout).toContain("No such file");
  });

  it("a second launch of the same file while one runs gets a clear error, not corruption", async () => {
    const app = stick();
    const first = spawn(process.execPath, [CLI, "run", app]);
    let out = "";
    first.stdout.on("data", (d) => (out += d));
    await new Promise<void>((resolve) => {
      const t = setInterval(() => out.includes("vmsfx:/") && (clearInterval(t), resolve()), 20);
    });
    const second = await vmsfx(["run", app], { input: "poweroff\n" });
    expect(second.stderr).toMatch(/in use by another launch.*\[VMSFX_STATE_LOCKED\]/);
    expect(second.code).toBe(31);
    first.stdin.end("poweroff\n");
    await new Promise((r) => first.on("close", r));
  });

  it("regression: kill -9 at random moments while saving always leaves a resume point that verifies", async () => {
    const app = stick();
    let saved = 0;
    for (let i = 0; i < 25; i++) {
      const r = await runThenSignal(app, `echo round-${i} >> /mnt/rounds.txt\necho go-${i}\n`, `\ngo-${i}`, "SIGTERM", Math.floor(Math.random() * 200));
      if (r.code === 130) saved++;
      expect(["none", "ok"]).toContain(await verifyResumePoint(app));
      const stateDir = app.replace(/\.vmsfx$/, ".vmsfx-state");
      // Never more than one pack in use; leftovers of a killed save are cleaned by the next one.
      expect(readdirSync(stateDir).filter((f) => f.startsWith("pack-")).length).toBeLessThanOrEqual(2);
    }
    // Whatever survived, the guest resumes from it and its disk reads back.
    const last = await vmsfx(["run", app], { input: "cat /mnt/rounds.txt\npoweroff\n" });
    expect(last.code).toBe(0);
    if (saved > 0) expect(last.stdout).toMatch(/^round-\d+\r?$/m);
  });

  it("on a read-only medium the state goes to the user's data directory, with a notice", async (ctx) => {
    const mnt = tempDir("vmsfx-ro-");
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt]);
    } catch {
      ctx.skip(); // needs root (CI runs as root)
      return;
    }
    try {
      copyFileSync(inject("bundlePath"), path.join(mnt, "app.vmsfx"));
      execFileSync("mount", ["-o", "remount,ro", mnt]);
      const home = tempDir("vmsfx-home-");
      const r = await vmsfx(["run", path.join(mnt, "app.vmsfx")], { input: "echo ro-test > /mnt/ro.txt\npoweroff\n", env: { XDG_DATA_HOME: home } });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/read-only, so your changes are kept in/);
      expect(existsSync(path.join(mnt, "app.vmsfx-state"))).toBe(false);
      const kept = readdirSync(path.join(home, "vmsfx", "state"));
      expect(kept).toHaveLength(1);
      expect(readdirSync(path.join(home, "vmsfx", "state", kept[0]))).toContain("resume.json");
    } finally {
      execFileSync("umount", [mnt]);
    }
  });
});
