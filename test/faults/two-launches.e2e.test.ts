import { describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { openStateDir } from "../../src/launcher/state-dir";
import { startRun, stateDirOf, stick, verifyResumePoint, type Session } from "./fault-helpers";

/**
 * One launch at a time holds an app's state folder; every other one gets VMSFX_STATE_LOCKED
 * (exit 31) — also when they all start at the same moment, and when they all find the lock of a
 * crashed launch and race to take it over.
 */

/**
 * Starts `n` launches at once and waits until each has either ended or shown its prompt. Only a
 * launch that shows the prompt counts as running: on a loaded machine a refused launch may take
 * long to reach its exit, and that must never look like a second winner.
 */
async function raceLaunches(app: string, n: number): Promise<{ running: Session[]; refused: { code: number | null; stderr: string }[] }> {
  const all = Array.from({ length: n }, () => startRun(app));
  const outcome = await Promise.all(
    all.map((s) => Promise.race([s.done.then(() => "ended" as const), s.until("vmsfx:/").then(() => "running" as const, () => "ended" as const)])),
  );
  const running = all.filter((_, i) => outcome[i] === "running");
  const refused = await Promise.all(all.filter((_, i) => outcome[i] === "ended").map(async (s) => ({ code: (await s.done).code, stderr: s.stderr() })));
  return { running, refused };
}

async function expectOneWinner(app: string, n: number): Promise<void> {
  const { running, refused } = await raceLaunches(app, n);
  expect(running.length, running.map((s) => s.stderr()).join("\n---\n")).toBe(1);
  for (const r of refused) {
    expect(r.code, r.stderr).toBe(31);
    expect(r.stderr).toMatch(/in use by another launch of this app.*\[VMSFX_STATE_LOCKED\]/);
  }
  running[0].send("echo winner-ran > /mnt/winner.txt\npoweroff\n");
  expect((await running[0].done).code).toBe(0);
  expect(await verifyResumePoint(app)).toBe("ok");
}

describe("two launches at once", () => {
  it("in one process: of 16 concurrent takers exactly one gets the folder; after release the next does", async () => {
    const app = path.join(tempDir(), "app.vmsfx");
    const results = await Promise.allSettled(Array.from({ length: 16 }, () => openStateDir(app)));
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const r of results.filter((r) => r.status === "rejected")) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: "VMSFX_STATE_LOCKED", exitCode: 31 });
    await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof openStateDir>>>).value.release();
    await (await openStateDir(app)).release();
  });

  it("four launches started together: one runs, three get exit 31", async () => {
    await expectOneWinner(stick(), 4);
  });

  it("four launches that all find a crashed launch's lock: exactly one takes it over", async () => {
    const app = stick();
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
    mkdirSync(stateDirOf(app));
    for (let round = 0; round < 3; round++) {
      writeFileSync(path.join(stateDirOf(app), "lock"), `${dead} ${os.hostname()}\n`);
      await expectOneWinner(app, 4);
    }
  });

  it("a lock held on another computer (a shared stick) is refused with what to do", async () => {
    const app = stick();
    mkdirSync(stateDirOf(app));
    writeFileSync(path.join(stateDirOf(app), "lock"), `12345 some-other-host\n`);
    const r = await vmsfx(["run", app], { input: "poweroff\n" });
    expect(r.code).toBe(31);
    expect(r.stderr).toMatch(/in use on another computer \(some-other-host\).*delete .*lock.*\[VMSFX_STATE_LOCKED\]/);
  });
});
