import { describe, expect, it, inject } from "vitest";
import { chmodSync, copyFileSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import { runProgram, vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { DEADLINE } from "../helpers/deadlines";

/** Runs a file the way a user with nothing installed would: no node on PATH, its own folder. */
const runBare = (exe: string, args: string[], input: string) => runProgram(exe, args, { input, cwd: path.dirname(exe), env: { PATH: "/nonexistent" }, bareEnv: true, timeoutMs: DEADLINE.launch });

describe("one executable", () => {
  it("pack --exe writes a file that resumes the guest from an empty folder with no node on PATH", async () => {
    const built = path.join(tempDir(), "app");
    const r = await vmsfx(["pack", inject("snapshotDir"), "--exe", "-o", built, "--quiet"], { timeoutMs: DEADLINE.launch });
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
    expect((await vmsfx(["exe", inject("bundlePath"), "-o", out, "--quiet"], { timeoutMs: DEADLINE.launch })).code).toBe(0);
    const run = await runBare(out, [], "echo $((6*7))xyz\npoweroff\n");
    expect(run.stdout).toContain("42xyz");
    expect(run.code).toBe(0);
  });
});
