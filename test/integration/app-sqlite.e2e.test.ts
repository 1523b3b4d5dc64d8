import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import { runProgram, vmsfx } from "../helpers/cli";
import { builtApp, canBuildDebianApps, type BuiltApp, timingsOf, resumeKind } from "../helpers/app-sample";
import { hostTool } from "../helpers/host-tools";
import { tempDir } from "../helpers/synthetic-snapshot";

/**
 * Issue 12: an app built with `vmsfx build` from Debian packages (samples/sqlite: sqlite3 with
 * its database under /data). Quitting the app keeps only the data disk, and the next launch
 * resumes the bundle's own memory with it: no cold boot, the rows still there. Suspending keeps
 * the whole session, memory included, as for every bundle.
 */

const canBuild = canBuildDebianApps(hostTool("mmdebstrap"));



describe.skipIf(!canBuild)("an app built from Debian packages: sqlite3 with its data (issue 12)", () => {
  let app: BuiltApp;
  let dir: string;
  beforeAll(() => {
    app = builtApp("sqlite");
    dir = path.dirname(app.bundle);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the first launch starts the app with the user's input; .quit keeps only the data disk", async () => {
    const state = path.join(dir, "first-state");
    const r = await vmsfx(["run", app.bundle, "--state-dir", state, "--timings"], { input: "create table notes(t text);\ninsert into notes values ('kept-after-quit');\nselect 'rows=' || count(*) from notes;\n.quit\n" });
    expect(r.stdout, r.stderr).toMatch(/^rows=1\r?$/m);
    expect(r.code, r.stderr).toBe(0);
    // Resumed from the capture, not cold-booted: the app started after the resume.
    const t = timingsOf(r.stderr);
    expect(t.verified, r.stderr).toBeGreaterThan(0);
    expect(t.appStarted).toBeGreaterThan(t.running);
    expect(resumeKind(state)).toBe("quit");
    // RAM was not kept: the point holds a few changed data disk blocks.
    expect(t.savedPackBytes).toBeLessThan(1 << 20);

    const again = await vmsfx(["run", app.bundle, "--state-dir", state, "--timings"], { input: "select t from notes;\n.quit\n" });
    expect(again.stdout, again.stderr).toMatch(/^kept-after-quit\r?$/m);
    expect(again.code, again.stderr).toBe(0);
    const t2 = timingsOf(again.stderr);
    expect(t2.verified, "the launch after a quit resumes; it does not cold-boot").toBeGreaterThan(0);
    expect(t2.appStarted).toBeGreaterThan(0);
    expect(resumeKind(state)).toBe("quit");
  });

  it("the app's exit status is the launcher's, and the data is still saved", async () => {
    const state = path.join(dir, "status-state");
    const r = await vmsfx(["run", app.bundle, "--state-dir", state], { input: "create table t(x);\n.exit 7\n" });
    expect(r.code, r.stderr).toBe(7);
    expect(resumeKind(state)).toBe("quit");
    const again = await vmsfx(["run", app.bundle, "--state-dir", state], { input: ".tables\n.quit\n" });
    expect(again.stdout).toMatch(/^t\s*\r?$/m);
  });

  it("input after the app quit is said not to have run: exit 32, the data kept", async () => {
    const state = path.join(dir, "unread-state");
    const r = await vmsfx(["run", app.bundle, "--state-dir", state], { input: "create table u(x);\n.quit\nselect 'never';\n" });
    expect(r.stdout).not.toMatch(/^never\r?$/m);
    expect(r.stderr).toMatch(/the app quit before it read all of its input: 1 line, starting with "select 'never';" did not run\. Its data is kept.*\[VMSFX_INPUT_NOT_READ\]/);
    expect(r.code).toBe(32);
    expect(resumeKind(state)).toBe("quit");
  });

  it("the end of piped input suspends the running app; the next launch continues that session, memory included", async () => {
    const state = path.join(dir, "suspend-state");
    // A temporary table lives only in the running sqlite3 process.
    const first = await vmsfx(["run", app.bundle, "--state-dir", state], { input: "create temp table scratch(x);\ninsert into scratch values (42);\n" });
    expect(first.code, first.stderr).toBe(0);
    expect(resumeKind(state)).toBe("suspended");
    const second = await vmsfx(["run", app.bundle, "--state-dir", state], { input: "select 'scratch=' || x from scratch;\n.quit\n" });
    expect(second.stdout, second.stderr).toMatch(/^scratch=42\r?$/m);
    expect(second.code, second.stderr).toBe(0);
    expect(resumeKind(state)).toBe("quit");
  });

  it("pack --exe: the one-file app keeps its data next to itself across quits", async () => {
    const exe = path.join(dir, "sqlite-app");
    const packed = await vmsfx(["pack", app.snapshot, "--exe", "-o", exe, "--quiet"]);
    expect(packed.code, packed.stderr).toBe(0);
    const stick = tempDir();
    const onStick = path.join(stick, "sqlite-app");
    writeFileSync(onStick, readFileSync(exe), { mode: 0o755 });
    const env = { PATH: "/nonexistent", HOME: stick };
    const first = await runProgram(onStick, [], { cwd: stick, bareEnv: true, env, input: "create table n(x);\ninsert into n values ('on-the-stick');\n.quit\n" });
    expect(first.code, first.stderr).toBe(0);
    expect(resumeKind(path.join(stick, "sqlite-app.vmsfx-state"))).toBe("quit");
    const second = await runProgram(onStick, [], { cwd: stick, bareEnv: true, env, input: "select x from n;\n.quit\n" });
    expect(second.stdout, second.stderr).toMatch(/^on-the-stick\r?$/m);
    expect(second.code, second.stderr).toBe(0);
  });
});

// On busybox alone (no packages): the same build path, without mmdebstrap's 96 MB to merge.
describe("vmsfx build: errors a publisher meets (issue 12)", () => {
  const spec = (dir: string, body: Record<string, unknown>) => {
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, "app.json");
    writeFileSync(file, JSON.stringify({ name: "broken", ready: { serial: "ready> $" }, diskMiB: 16, dataMiB: 16, ...body }));
    return file;
  };

  it("a program that is not in the app's file system is refused before anything boots: exit 20", async () => {
    const dir = tempDir();
    const r = await vmsfx(["build", spec(dir, { run: ["no-such-program-vmsfx"] }), "-o", path.join(dir, "snap"), "--level", "1"]);
    expect(r.stderr).toMatch(/"run" starts with "no-such-program-vmsfx", which is in none of the app's PATH folders .*\[VMSFX_RECIPE_INVALID\]/);
    expect(r.code).toBe(20);
  });

  it("an app that exits before it is ready fails the build with its last console lines: exit 21", async () => {
    const dir = tempDir();
    const r = await vmsfx(["build", spec(dir, { run: ["/bin/sh", "-c", "echo the-app-gave-up >&2; exit 3"] }), "-o", path.join(dir, "snap"), "--level", "1"]);
    expect(r.stderr).toMatch(/app\.json: the app exited with status 3 before it was ready\. Last console lines:\n.*the-app-gave-up.*\[VMSFX_CAPTURE_TIMEOUT\]/s);
    expect(r.code).toBe(21);
  });
});
