import { beforeAll, describe, expect, it } from "vitest";
import { chmodSync, copyFileSync } from "node:fs";
import * as path from "node:path";
import { runProgram, vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { DEADLINE } from "../helpers/deadlines";
import { builtApp, canBuildDebianApps } from "../helpers/app-sample";
import { hostTool } from "../helpers/host-tools";

/**
 * The second sample: Debian's i386 Python 3.11 (samples/python/app.json), built with `vmsfx
 * build` from the python3-minimal package; the build's trial run leaves the interpreter's files
 * in the guest's page cache, so every launch starts it warm. Resumed with piped Python.
 */

let bundle = "";
const canBuild = canBuildDebianApps(hostTool("mmdebstrap"));

beforeAll(() => {
  if (canBuild) bundle = builtApp("python").bundle;
});

/** Lines of the guest's output, without the tty's carriage returns. */
const lines = (stdout: string) => stdout.split("\n").map((l) => l.replace(/\r$/, ""));

describe.skipIf(!canBuild)("python sample", () => {
  it("starts at >>> and answers piped Python; exit() quits, keeping /mnt", async () => {
    const r = await vmsfx(["run", bundle, "--state-dir", tempDir()], { input: "6*7\nimport hello\nhello.fib(30)\nexit()\n" });
    expect(r.stderr).not.toMatch(/internal error/);
    const out = lines(r.stdout);
    // The first line goes in at once, at the prompt the snapshot was taken at; each next one at
    // the next ">>> " (the recipe's ready pattern), or after 0.3 s of quiet, which a busy machine
    // can reach mid-command (an import reading the disk): then its echo lands before the prompt.
    expect(out).toContain(">>> 6*7");
    expect(out[out.indexOf(">>> 6*7") + 1]).toBe("42");
    expect(r.stdout).toMatch(/^(>>> )?hello from the vmsfx python sample disk\r?$/m); // a module read from the disk
    expect(r.stdout).toMatch(/^(>>> )?832040\r?$/m);
    expect(r.stdout).not.toContain("Python 3.11"); // python3 -q: no banner at every start
    expect(r.code, r.stderr).toBe(0);
  });

  it("`echo '6*7' | vmsfx run python.vmsfx` prints 42 and exits; the next run goes on in the same session", async () => {
    const state = tempDir();
    const r = await vmsfx(["run", bundle, "--state-dir", state], { input: "6*7\n" });
    expect(lines(r.stdout)).toContain("42");
    // The end of the input suspends the guest at its next prompt.
    expect(r.stderr).toMatch(/vmsfx: suspended; run it again to continue where you left off/);
    expect(r.code, r.stderr).toBe(0);
    // `_` is the REPL's last result: the interpreter that computed 42 is the one that answers.
    const next = await vmsfx(["run", bundle, "--state-dir", state], { input: "_ * 2\n" });
    expect(lines(next.stdout)).toContain("84");
    expect(next.code, next.stderr).toBe(0);
  });

  it("`-- ARGS` runs python3 ARGS in the resumed guest (through the guest agent) and returns its exit status", async () => {
    const r = await vmsfx(["run", bundle, "--state-dir", tempDir(), "--", "-c", "import sys; print(6*7); sys.exit(3)"]);
    expect(lines(r.stdout)).toContain("42");
    expect(r.code).toBe(3);
  });

  it("the one executable answers the same, from an empty folder with no node on PATH", async () => {
    const built = path.join(tempDir(), "python");
    const packed = await vmsfx(["exe", bundle, "-o", built, "--quiet"], { timeoutMs: DEADLINE.launch });
    expect(packed.code).toBe(0);
    const dir = tempDir("vmsfx-usb-");
    const app = path.join(dir, "python");
    copyFileSync(built, app);
    chmodSync(app, 0o755);
    const r = await runProgram(app, [], { input: "6*7\nexit()\n", cwd: dir, env: { PATH: "/nonexistent" }, bareEnv: true });
    expect(lines(r.stdout)).toContain("42");
    expect(r.code, r.stderr).toBe(0);
  });
});
