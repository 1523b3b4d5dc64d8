import { describe, expect, it, inject } from "vitest";
import { chmodSync, copyFileSync, readdirSync, statSync } from "node:fs";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";

/** Runs a file the way a user with nothing installed would: no node on PATH, an empty folder. */
function runBare(exe: string, args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(exe, args, { cwd: path.dirname(exe), env: { PATH: "/nonexistent" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${exe} timed out\n${stdout}\n${stderr}`));
    }, 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

describe("one executable", () => {
  it("pack --exe writes a file that resumes the guest from an empty folder with no node on PATH", async () => {
    const built = path.join(tempDir(), "app");
    const r = await vmsfx(["pack", inject("snapshotDir"), "--exe", "-o", built, "--quiet"], { timeoutMs: 120_000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(statSync(built).mode & 0o111).not.toBe(0);
    const dir = tempDir("vmsfx-usb-");
    const app = path.join(dir, "app");
    copyFileSync(built, app);
    chmodSync(app, 0o755);
    expect(readdirSync(dir)).toEqual(["app"]);
    const run = await runBare(app, [], "cat /mnt/hello.txt\npoweroff\n");
    expect(run.stdout).toContain("hello from the vmsfx sample disk");
    expect(run.code).toBe(0);
    const info = await runBare(app, ["--info", "--json"], "");
    expect(JSON.parse(info.stdout)).toMatchObject({ kind: "bundle", guest: { name: "shell" } });
    expect((await runBare(app, ["--verify"], "")).code).toBe(0);
    expect((await runBare(app, ["--help"], "")).stdout).toContain("--fresh");
  });

  it("exe turns an existing bundle into the same kind of executable", async () => {
    const out = path.join(tempDir(), "app");
    expect((await vmsfx(["exe", inject("bundlePath"), "-o", out, "--quiet"], { timeoutMs: 120_000 })).code).toBe(0);
    const run = await runBare(out, [], "echo $((6*7))xyz\npoweroff\n");
    expect(run.stdout).toContain("42xyz");
    expect(run.code).toBe(0);
  });
});
