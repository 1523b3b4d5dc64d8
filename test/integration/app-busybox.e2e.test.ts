import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT, vmsfx } from "../helpers/cli";
import { builtApp, canBuildDebianApps, type BuiltApp, resumeKind } from "../helpers/app-sample";
import { hostTool } from "../helpers/host-tools";

/**
 * Issue 12: the smallest app `vmsfx build` makes, from a spec with neither packages nor an image
 * (the base's busybox plus the spec's files). It needs neither mmdebstrap nor an image tool, so
 * it runs wherever the tests run. The app is a counter kept under /data, run as uid 1000.
 */


describe("an app on busybox alone: spec files, user, env, workdir, data (issue 12)", () => {
  let app: BuiltApp;
  beforeAll(() => {
    app = builtApp("hello", path.join(ROOT, "test/fixtures/apps/hello"));
  });
  afterAll(() => rmSync(path.dirname(app.bundle), { recursive: true, force: true }));

  it("runs as the spec's user in its folder with its environment; the data folder is the user's", async () => {
    const r = await vmsfx(["run", app.bundle], { input: "first\n" });
    expect(r.stdout, r.stderr).toMatch(/^hello run=0 uid=1000 cwd=\/opt greeting=hi there args=\r?$/m);
    expect(r.stdout).toMatch(/^got: first\r?$/m);
    expect(r.code, r.stderr).toBe(0);
    expect(resumeKind(app.bundle.replace(/\.vmsfx$/, ".vmsfx-state"))).toBe("quit");
  });

  it("the launch after the app ended finds its data; arguments after -- reach it; its status is the launcher's", async () => {
    const r = await vmsfx(["run", app.bundle, "--", "one", "two words"], { input: "second\n" });
    expect(r.stdout, r.stderr).toMatch(/^hello run=1 uid=1000 .* args=one two words\r?$/m);
    expect(r.code).toBe(0);
    const failed = await vmsfx(["run", app.bundle, "--", "fail"]);
    expect(failed.stdout).toMatch(/hello run=2 /);
    expect(failed.code, failed.stderr).toBe(4);
    expect(resumeKind(app.bundle.replace(/\.vmsfx$/, ".vmsfx-state"))).toBe("quit");
  });

  it("regression: a snapshot folder run with --state-dir continues from its saved point (it used to start from the folder's own state every time)", async () => {
    const state = path.join(path.dirname(app.bundle), "folder-state");
    const first = await vmsfx(["run", app.snapshot, "--state-dir", state], { input: "x\n" });
    expect(first.stdout, first.stderr).toMatch(/hello run=0 /);
    const second = await vmsfx(["run", app.snapshot, "--state-dir", state], { input: "y\n" });
    expect(second.stdout, second.stderr).toMatch(/hello run=1 /);
    expect(resumeKind(state)).toBe("quit");
  });

  it("a new version of the app (the file replaced by a rebuilt one) keeps the user's data", async () => {
    // Version two differs in its environment only: a new build, a new manifest, the same data paths.
    const spec = path.join(ROOT, ".cache/e2e-specs/hello2");
    rmSync(spec, { recursive: true, force: true });
    cpSync(path.join(ROOT, "test/fixtures/apps/hello"), spec, { recursive: true });
    const json = JSON.parse(readFileSync(path.join(spec, "app.json"), "utf8"));
    writeFileSync(path.join(spec, "app.json"), JSON.stringify({ ...json, env: { GREETING: "version two" } }));
    const v2 = builtApp("hello2", spec);
    const file = path.join(path.dirname(app.bundle), "versions.vmsfx");
    copyFileSync(app.bundle, file);
    expect((await vmsfx(["run", file], { input: "a\n" })).stdout).toMatch(/hello run=0 .*greeting=hi there/);
    expect((await vmsfx(["run", file], { input: "b\n" })).stdout).toMatch(/hello run=1 .*greeting=hi there/);
    copyFileSync(v2.bundle, file);
    const updated = await vmsfx(["run", file], { input: "c\n" });
    expect(updated.stdout, updated.stderr).toMatch(/hello run=2 .*greeting=version two/);
    expect(updated.stderr).toContain("this is a new version of the app; your data (/data) comes with it");
    expect(updated.code).toBe(0);
    const after = await vmsfx(["run", file], { input: "d\n" });
    expect(after.stdout, after.stderr).toMatch(/hello run=3 .*greeting=version two/);
    expect(after.stderr).not.toContain("new version");
    expect(resumeKind(path.join(path.dirname(file), "versions.vmsfx-state"))).toBe("quit");
    rmSync(path.dirname(v2.bundle), { recursive: true, force: true });
  });

  it.skipIf(!canBuildDebianApps(hostTool("mmdebstrap")))("apps built on one machine share the base: the same kernel and initrd blocks", () => {
    const boot = (snap: string) => JSON.parse(readFileSync(path.join(snap, "manifest.json"), "utf8")).boot;
    const other = builtApp("sqlite");
    rmSync(path.dirname(other.bundle), { recursive: true, force: true });
    const [a, b] = [boot(app.snapshot), boot(other.snapshot)];
    expect(a.kernel.blocks).toEqual(b.kernel.blocks);
    expect(a.initrd.blocks).toEqual(b.initrd.blocks);
    expect(a.kernel.blocks.filter(Boolean).length).toBeGreaterThan(10);
  });

  it("inspect says it is an app and names its data", async () => {
    const r = await vmsfx(["inspect", app.bundle]);
    expect(r.stdout).toMatch(/app {7}built with vmsfx build: .*\(hdb: \/data\)/);
  });
});
