import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { CLI, vmsfx } from "../helpers/cli";
import { builtApp, canBuildDebianApps } from "../helpers/app-sample";
import { hostTool } from "../helpers/host-tools";
import { DEADLINE } from "../helpers/deadlines";
import { checkResumePack, readResumePoint } from "../../src/snapshot/resume-point";

/**
 * Issue 12: the data disk of a built app under kill -9. Each round starts the sqlite app with a
 * script that inserts one row and quits, and kills the launcher at a random moment: before the
 * app ran, while it wrote, while the agent unmounted the data disk, or while the quit point was
 * being saved. Afterwards the resume point is always complete, the next clean launch always
 * works, and the rows only ever grow by the rounds that finished (a killed session loses its own
 * row, nothing older).
 */

const ROUNDS = Number(process.env.VMSFX_KILL_APP_ROUNDS ?? 5);
const canBuild = canBuildDebianApps(hostTool("mmdebstrap"));

function killedLaunch(app: string, input: string, delayMs: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, "run", app]);
    child.stdin.end(input);
    child.stdout.resume();
    child.stderr.resume();
    const timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
    const hang = setTimeout(() => child.kill("SIGKILL"), DEADLINE.launch);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(hang);
      resolve({ killed: signal === "SIGKILL", code });
    });
  });
}

async function rowCount(app: string): Promise<number> {
  const r = await vmsfx(["run", app], { input: "select 'count=' || count(*) from r;\n.quit\n" });
  expect(r.code, r.stderr).toBe(0);
  return Number(/^count=(\d+)\r?$/m.exec(r.stdout)?.[1] ?? NaN);
}

describe.skipIf(!canBuild)("kill -9 during an app's session and its quit (issue 12)", () => {
  it(`${ROUNDS} random kills: the data disk's point is complete, older rows are never lost`, async () => {
    const { bundle: app } = builtApp("sqlite");
    const state = app.replace(/\.vmsfx$/, ".vmsfx-state");
    const setup = await vmsfx(["run", app], { input: "create table r(n);\n.quit\n" });
    expect(setup.code, setup.stderr).toBe(0);
    let rows = await rowCount(app);
    expect(rows).toBe(0);
    let survived = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Launch to quit takes 2-4 s here: the kills spread over all of it and a little after.
      const delay = Math.floor(Math.random() * 4500);
      const { killed } = await killedLaunch(app, `insert into r values (${round});\n.quit\n`, delay);
      const point = await readResumePoint(state);
      expect(point, "a resume point, once saved, is never lost").toBeDefined();
      await checkResumePack(state, point!);
      const now = await rowCount(app);
      expect(now === rows || now === rows + 1, `round ${round}: ${rows} rows before, ${now} after (killed: ${killed})`).toBe(true);
      if (!killed) expect(now).toBe(rows + 1);
      if (now > rows) survived++;
      rows = now;
    }
    console.log(`kill-app-quit: ${survived} of ${ROUNDS} killed or finished sessions kept their row`);
    expect(existsSync(path.join(state, "resume.json")) && /"kind":"quit"/.test(readFileSync(path.join(state, "resume.json"), "utf8"))).toBe(true);
  });
});
