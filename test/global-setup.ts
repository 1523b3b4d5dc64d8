import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { TestProject } from "vitest/node";
import type { HostTool, HostToolName } from "./helpers/host-tools";

declare module "vitest" {
  export interface ProvidedContext {
    snapshotDir: string;
    bundlePath: string;
    hostTools: Partial<Record<HostToolName, HostTool>>;
  }
}

/**
 * Set-up of the end-to-end tier (the unit tier has none): the CLI bundle (dist/), the system
 * tools the tests use, and the shell sample built once with the real `vmsfx build` (on the guest
 * base, from Debian's packages) and packed, which every end-to-end file shares. Downloads are
 * cached in the user's cache folder, so a new clone downloads nothing; the build is kept in
 * .cache/e2e/ under the hash of everything that shapes it, so a second run in the same checkout
 * boots no guest here (a fresh clone always builds).
 */

const ROOT = path.resolve(__dirname, "..");
const say = (line: string) => process.stderr.write(`vmsfx tests: ${line}\n`);
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });

/** What each tool is for, for the one line said when it cannot be had. */
const NEEDED_BY: Record<HostToolName, string> = {
  nginx: "the tests that serve thin bundles from a real nginx",
  chromium: "the browser-window (--gui) tests",
  "qemu-aarch64": "the linux-arm64 executable tests",
  "arm64-sysroot": "the linux-arm64 executable tests",
  umoci: "the tests that read images made by real OCI tools",
  skopeo: "the tests that read images made by real OCI tools",
  mmdebstrap: "the tests that build an app's file system from Debian packages",
  "docker-registry": "the tests that publish to and pull from a real OCI registry",
  openssl: "the registry tests with token authentication",
};

function provideHostTools(): Partial<Record<HostToolName, HostTool>> {
  const out = execFileSync("bash", ["build-scripts/host-tools.sh"], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  const tools = JSON.parse(out.trim().split("\n").pop()!) as Partial<Record<HostToolName, HostTool>>;
  for (const [name, tool] of Object.entries(tools) as [HostToolName, HostTool][]) {
    if (!tool.path) say(`${name} is not installed and could not be installed here (no root, no password-less sudo, or VMSFX_NO_INSTALL=1), so ${NEEDED_BY[name]} are skipped; to run them: ${tool.install}`);
  }
  return tools;
}

/** The hash of every input of the shared build: vmsfx itself, the guest base's sources, the sample. */
function captureKey(): string {
  const h = createHash("sha256");
  const under = (dir: string) => readdirSync(path.join(ROOT, dir), { recursive: true, encoding: "utf8" }).sort().map((f) => path.join(ROOT, dir, f));
  const files = [
    ...["vmsfx.cjs", "engine-worker.cjs", "v86.wasm"].map((f) => path.join(ROOT, "dist", f)),
    path.join(ROOT, "build-scripts/guest-base.sh"),
    path.join(ROOT, "build-scripts/lib/guest-debs.sh"),
    ...under("build-scripts/guest-base"),
    ...under("samples/shell"),
  ];
  for (const f of files) if (statSync(f).isFile()) h.update(path.relative(ROOT, f)).update(readFileSync(f));
  return h.digest("hex").slice(0, 16);
}

/**
 * Capture and pack the sample once per set of inputs (a half-made capture never counts), and
 * give this run its own copy: tests run the bundle in place, and a state folder left next to it
 * by one run must not be what the next run resumes.
 */
function sharedCapture(): { snapshotDir: string; bundlePath: string } {
  const parent = path.join(ROOT, ".cache/e2e");
  const done = path.join(parent, captureKey());
  if (existsSync(path.join(done, "app.vmsfx"))) {
    say(`reusing the build of the shell sample in ${path.relative(ROOT, done)}`);
  } else {
    rmSync(parent, { recursive: true, force: true });
    const work = `${done}.${process.pid}.tmp`;
    mkdirSync(work, { recursive: true });
    say("building the shell sample with vmsfx build (boots a real guest)");
    run(process.execPath, ["bin/vmsfx", "build", "samples/shell/app.json", "-o", path.join(work, "snap"), "--quiet"]);
    run(process.execPath, ["bin/vmsfx", "pack", path.join(work, "snap"), "-o", path.join(work, "app.vmsfx"), "--quiet"]);
    renameSync(work, done);
  }
  const mine = mkdtempSync(path.join(os.tmpdir(), "vmsfx-e2e-"));
  cpSync(done, mine, { recursive: true });
  return { snapshotDir: path.join(mine, "snap"), bundlePath: path.join(mine, "app.vmsfx") };
}

export default function setup(project: TestProject): void {
  run("npm", ["run", "--silent", "build"]);
  project.provide("hostTools", provideHostTools());
  const capture = sharedCapture();
  project.provide("snapshotDir", capture.snapshotDir);
  project.provide("bundlePath", capture.bundlePath);
}
