import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    snapshotDir: string;
    bundlePath: string;
  }
}

/**
 * The end-to-end tests share one real capture of the sample guest: the CLI bundle (dist/) and
 * the sample (.cache/samples/shell) are built incrementally (a rerun downloads nothing), then the
 * guest is booted and captured once, through the real CLI, and packed.
 */
export default function setup(project: TestProject): void {
  const root = path.resolve(__dirname, "..");
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  run("npm", ["run", "--silent", "build"]);
  run("bash", ["build-scripts/build-sample.sh", "shell"]);
  const work = mkdtempSync(path.join(os.tmpdir(), "vmsfx-e2e-"));
  const snapshotDir = path.join(work, "snap");
  const bundlePath = path.join(work, "app.vmsfx");
  run(process.execPath, ["bin/vmsfx", "capture", "samples/shell/vm.json", "-o", snapshotDir, "--quiet"]);
  run(process.execPath, ["bin/vmsfx", "pack", snapshotDir, "-o", bundlePath, "--quiet"]);
  project.provide("snapshotDir", snapshotDir);
  project.provide("bundlePath", bundlePath);
}
