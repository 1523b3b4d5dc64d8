import * as os from "node:os";
import * as path from "node:path";
import { loadAppSpec } from "../build/app-spec";
import { buildApp, type BuildPhase } from "../build/build-app";
import { loadEngineAssets } from "../engine/engine-assets";
import { createProgress, formatBytes } from "../launcher/progress";

/** `vmsfx build app.json -o snap`: an app spec to a snapshot folder (then `vmsfx pack`). */

export interface BuildCommandArgs {
  spec: string;
  out: string;
  level: number;
  blockSize: number;
  diskBlockSize: number;
  verbose: boolean;
  keepDisks?: string;
  json: boolean;
  quiet: boolean;
}

/** The user's vmsfx cache, the same folder build-scripts/lib/host-tools.sh uses. */
export function userCacheDir(): string {
  if (process.env.VMSFX_DOWNLOAD_CACHE) return process.env.VMSFX_DOWNLOAD_CACHE;
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? path.join(process.env.HOME, ".cache") : os.tmpdir());
  return path.join(base, "vmsfx");
}

const SAID: Partial<Record<BuildPhase, string>> = {
  "guest base": "building the guest base (once per machine)",
  packages: "installing Debian packages",
  image: "reading the image",
  files: "copying the spec's files",
  disks: "making the app's disks",
  booting: "booting the guest",
  "starting the app": "starting the app (trial run)",
  "stopping the app": "stopping the app",
  saving: "saving",
  "writing blocks": "writing blocks",
};

export async function buildCommand(a: BuildCommandArgs): Promise<number> {
  const spec = await loadAppSpec(a.spec);
  const assets = await loadEngineAssets();
  const progress = createProgress("build", a.quiet || a.json);
  const t0 = Date.now();
  const r = await buildApp(spec, assets, {
    out: a.out,
    cacheDir: userCacheDir(),
    level: a.level,
    blockSize: a.blockSize,
    diskBlockSize: a.diskBlockSize,
    epoch: Number(process.env.SOURCE_DATE_EPOCH ?? 1704067200),
    onPhase: (p, detail) => {
      const text = SAID[p];
      if (!text) return;
      const line = detail ? `${text}: ${detail}` : text;
      // A log (--verbose) gets every stage as a line; a terminal gets one redrawn line.
      if (a.verbose) process.stderr.write(`vmsfx build: ${line}\n`);
      else progress.note(line);
    },
    onProgress: (done, total) => progress.update(done, total, "bytes"),
    onLog: a.verbose ? (t) => process.stderr.write(t) : undefined,
    keepDisks: a.keepDisks,
  });
  progress.done();
  const s = r.stats;
  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  if (a.json) process.stdout.write(`${JSON.stringify({ out: a.out, name: spec.name, seconds: Number(seconds), bootMs: r.bootMs, program: r.launch.program, data: spec.data, stats: s })}\n`);
  else if (!a.quiet) {
    process.stdout.write(`built ${spec.name} into ${a.out} in ${seconds} s (app ready ${(r.bootMs / 1000).toFixed(1)} s after power-on)\n`);
    process.stdout.write(`  runs ${[r.launch.program, ...r.launch.fixed.slice(1)].join(" ")} as ${r.launch.uid}:${r.launch.gid} in ${r.launch.workdir}; data kept: ${spec.data.join(", ") || "none"}\n`);
    process.stdout.write(`  ${formatBytes(s.rawBytes)} raw -> ${formatBytes(s.storedBytes)} stored in ${s.storedBlocks} blocks\n`);
    process.stdout.write(`next: vmsfx pack ${a.out} --exe -o ${spec.name}\n`);
  }
  return 0;
}
