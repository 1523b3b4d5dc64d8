import { describe, expect, it, inject } from "vitest";
import { copyFileSync } from "node:fs";
import * as path from "node:path";
import { CLI, runProgram, vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { DEADLINE } from "../helpers/deadlines";

/**
 * Regression (issue 11): `printf 'echo ok-$((40+2))\npoweroff\n' | vmsfx run app | grep -q ok-42`
 * closed the output after the first match; the launcher suspended the guest, which had already
 * been handed `poweroff`. The next launch ran that `poweroff` first, echoed its own two lines
 * into a shutting-down guest, never ran them, and exited 0.
 * Now a launch whose reader has gone delivers nothing more and lets the line in flight finish
 * before it suspends; and a guest that shuts down before reading its input says so (exit 32).
 */

const SCRIPT = "printf 'echo ok-$((40+2))\\npoweroff\\n'";
const sh = (command: string, cwd: string) => runProgram("bash", ["-c", command], { cwd, timeoutMs: DEADLINE.launch });

describe("regression: input typed into a launch could vanish (issue 11)", () => {
  it("after `| grep -q` closed the first launch's output, the next launch runs its own input", async () => {
    const dir = tempDir();
    copyFileSync(inject("bundlePath"), path.join(dir, "app.vmsfx"));
    const vmsfxRun = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} run app.vmsfx`;
    // Twice: which side of the race the closing output lands on varies; either side must hold.
    for (let round = 0; round < 2; round++) {
      const first = await sh(`set -o pipefail; ${SCRIPT} | ${vmsfxRun} | grep -q ok-42; echo "grep=\${PIPESTATUS[2]}"`, dir);
      expect(first.stdout, first.stderr).toContain("grep=0");
      expect(first.stderr).not.toMatch(/internal error/);
      const second = await sh(`${SCRIPT} | ${vmsfxRun}`, dir);
      expect(second.stdout, second.stderr).toMatch(/^ok-42\r?$/m);
      expect(second.stderr).not.toContain("VMSFX_INPUT_NOT_READ");
      expect(second.code, second.stderr).toBe(0);
    }
  });

  it("an app that quits (here: the guest powers off) before reading all of its input says which line did not run: exit 32", async () => {
    const r = await vmsfx(["run", inject("bundlePath"), "--state-dir", tempDir()], { input: "poweroff\necho never-$((6*7))\n" });
    expect(r.stdout).not.toMatch(/^never-42/m);
    expect(r.stderr).toMatch(/the app quit before it read all of its input: 1 line, starting with "echo never-\$\(\(6\*7\)\)" did not run\..*\[VMSFX_INPUT_NOT_READ\]/);
    expect(r.code).toBe(32);
  });

  it("a line typed ahead while a command runs is read when the prompt comes back: no false alarm", async () => {
    const r = await vmsfx(["run", inject("bundlePath"), "--state-dir", tempDir()], { input: "sleep 1\necho after-$((6*7))\npoweroff\n" });
    expect(r.stdout).toMatch(/^after-42\r?$/m);
    expect(r.stderr).not.toContain("VMSFX_INPUT_NOT_READ");
    expect(r.code, r.stderr).toBe(0);
  });
});
