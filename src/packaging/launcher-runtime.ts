import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { VmsfxError, fromFsError } from "../errors";
import { SEA_ASSET_WASM, SEA_ASSET_WORKER } from "../launcher/sea-assets";
import { TARGET_FORMAT, TARGET_NAMES, hostTarget, officialNodeBinary, pinnedVersion, type BinaryFormat, type TargetName } from "./node-targets";

/**
 * The launcher runtime: a Node binary with our launcher injected as a single-executable-
 * application blob (Node's SEA + postject). A bundle appended to it makes an app. Building one
 * takes a few seconds, so it is cached by the hash of everything that goes into it. Every target,
 * this machine's own included, gets the official Node of its pinned version (node-targets.ts),
 * downloaded and verified once: an app never carries whatever Node the publisher happens to run.
 * The blob is made by the pinned runtime of this machine's platform, so the Node that runs vmsfx
 * does not matter either.
 *
 * Signatures: the official darwin and Windows binaries are signed, and injecting the blob
 * invalidates that. postject drops the Mach-O's LC_CODE_SIGNATURE itself, and we clear the PE's
 * stale certificate entry, so both runtimes are plainly unsigned. We cannot sign here: a macOS
 * user has to re-sign (`codesign --sign -`) on a Mac; the README's Targets paragraph says what
 * that takes with the bundle appended.
 */

const run = promisify(execFile);
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

async function hashFiles(files: string[], recipe: string): Promise<string> {
  const h = createHash("sha256").update(recipe);
  for (const f of files) {
    await new Promise<void>((resolve, reject) =>
      createReadStream(f)
        .on("data", (c) => h.update(c))
        .on("end", () => resolve())
        .on("error", (e) => reject(fromFsError(e, f, "hashing a launcher input"))),
    );
  }
  return h.digest("hex").slice(0, 24);
}

export interface RuntimeOptions {
  /** dist/ of this vmsfx build: launcher.cjs, engine-worker.cjs, v86.wasm. */
  distDir: string;
  cacheDir: string;
  /** Where downloaded official Node runtimes are kept (by default `cacheDir`). */
  downloadDir?: string;
  /** The platform to build for; by default this machine's, from the running node. */
  target?: TargetName;
  onPhase?: (phase: string) => void;
}

export interface LauncherRuntime {
  path: string;
  target: TargetName;
  /** True when built for this machine's platform: V8 code cache and strip are only safe then. */
  native: boolean;
}

export function defaultCacheDir(distDir: string): string {
  return process.env.VMSFX_CACHE_DIR ?? path.join(distDir, "..", ".cache", "runtime");
}

/**
 * Where downloaded official Node runtimes are kept: the user's cache folder, shared by every
 * checkout and kept across them (each file is named by version, target and pinned digest).
 * VMSFX_CACHE_DIR puts them with the built runtimes instead.
 */
export function defaultDownloadDir(): string {
  if (process.env.VMSFX_CACHE_DIR) return process.env.VMSFX_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? path.join(process.env.HOME, ".cache") : os.tmpdir());
  return path.join(base, "vmsfx", "node");
}

/** Returns a cached launcher runtime for this build and target, building it if needed. */
/**
 * Node options every executable starts with. V8's platform threads (4 by default) each grew a
 * malloc arena of 20-40 MiB compiling v86's wasm and its JIT's modules: one thread cut the
 * launcher's resident memory by about 100 MiB (measured with smaps after the guest answered).
 */
export const LAUNCHER_EXEC_ARGV = ["--v8-pool-size=1"];

export async function launcherRuntime(opts: RuntimeOptions): Promise<LauncherRuntime> {
  const host = hostTarget();
  const target = opts.target ?? host;
  if (!target) {
    throw new VmsfxError("VMSFX_USAGE", `this machine (${process.platform}-${process.arch}) is not a target vmsfx can build for; name one with --target (${TARGET_NAMES.join(", ")}).`);
  }
  if (!host) {
    throw new VmsfxError("VMSFX_USAGE", `this machine (${process.platform}-${process.arch}) has no pinned Node runtime to make the launcher's blob with; pack on ${TARGET_NAMES.join(", ")}.`);
  }
  const native = target === host;
  const format = TARGET_FORMAT[target];
  const inputs = {
    launcher: path.join(opts.distDir, "launcher.cjs"),
    worker: path.join(opts.distDir, SEA_ASSET_WORKER),
    wasm: path.join(opts.distDir, SEA_ASSET_WASM),
  };
  for (const f of Object.values(inputs)) {
    await fsp.access(f).catch(() => {
      throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `${f} is missing: the vmsfx build is incomplete. Run \`npm run build\`.`);
    });
  }
  const downloads = opts.downloadDir ?? opts.cacheDir;
  const nodeBinary = await officialNodeBinary(target, downloads, opts.onPhase);
  const blobMaker = native ? nodeBinary : await officialNodeBinary(host, downloads, opts.onPhase);
  // V8's code cache skips compiling the launcher at every start, but it is only valid on the
  // platform and Node build that made it: Node's docs require it off for cross-platform blobs.
  const useCodeCache = native && pinnedVersion(target) === pinnedVersion(host);
  // Debug symbols are a fifth of the binary and nothing at run time needs them; the host strip
  // only understands the host's own format, and stripping a signed Mach-O or a PE is not ours to do.
  const strip = native && format === "elf";
  // `steps` names this build procedure: bump it when the steps below change what they produce.
  const recipe = JSON.stringify({ target, useCodeCache, strip, execArgv: LAUNCHER_EXEC_ARGV, steps: 2 });
  const key = await hashFiles([nodeBinary, blobMaker, inputs.launcher, inputs.worker, inputs.wasm], recipe);
  const cached = path.join(opts.cacheDir, `launcher-${target}-${key}${format === "pe" ? ".exe" : ""}`);
  if (await fsp.stat(cached).then((s) => s.isFile(), () => false)) return { path: cached, target, native };

  opts.onPhase?.(`building the launcher runtime (${target})`);
  await fsp.mkdir(opts.cacheDir, { recursive: true }).catch((e) => Promise.reject(fromFsError(e, opts.cacheDir, "creating the cache")));
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), "vmsfx-runtime-"));
  try {
    const blob = path.join(work, "sea.blob");
    const config = {
      main: inputs.launcher,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache,
      execArgv: LAUNCHER_EXEC_ARGV,
      assets: { [SEA_ASSET_WASM]: inputs.wasm, [SEA_ASSET_WORKER]: inputs.worker },
    };
    const configPath = path.join(work, "sea-config.json");
    await fsp.writeFile(configPath, JSON.stringify(config));
    // This platform's pinned runtime makes the blob. Without code cache a blob is the same on
    // every platform, and its layout is the same across one major version (every pin is 24.x).
    await run(blobMaker, ["--experimental-sea-config", configPath], { cwd: work });
    const exe = path.join(work, "runtime");
    await fsp.copyFile(nodeBinary, exe);
    await fsp.chmod(exe, 0o755);
    if (strip) await run("strip", ["--strip-all", exe]).catch(() => undefined);
    await inject(exe, blob, format);
    if (format === "pe") await dropStalePeSignature(exe);
    const tmpTarget = `${cached}.${process.pid}.tmp`;
    await fsp.copyFile(exe, tmpTarget);
    await fsp.chmod(tmpTarget, 0o755);
    await fsp.rename(tmpTarget, cached);
    // Each vmsfx build makes new runtimes (~100 MB each); keep only the newest per target.
    for (const f of await fsp.readdir(opts.cacheDir)) {
      const stale = f.startsWith(`launcher-${target}-`) && path.join(opts.cacheDir, f) !== cached && !f.endsWith(".tmp");
      if (stale) await fsp.rm(path.join(opts.cacheDir, f), { force: true }).catch(() => undefined);
    }
    return { path: cached, target, native };
  } catch (e) {
    if (e instanceof VmsfxError) throw e;
    throw new VmsfxError("VMSFX_IO", `could not build the launcher runtime for ${target}: ${(e as Error).message.split("\n")[0]}`, { cause: e });
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

/**
 * postject's own CLI, in a child process: its ELF library prints harmless warnings about the
 * stripped section names, which only matter (and are shown) if the injection fails. ELF gets a
 * note and PE an RT_RCDATA resource named NODE_SEA_BLOB; on Mach-O, Node looks the blob up as
 * section __NODE_SEA_BLOB of segment NODE_SEA, so the segment must be named.
 */
async function inject(exe: string, blob: string, format: BinaryFormat): Promise<void> {
  const postject = require.resolve("postject/dist/cli.js");
  const args = [postject, exe, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SEA_FUSE];
  if (format === "macho") args.push("--macho-segment-name", "NODE_SEA");
  await run(process.execPath, args, { maxBuffer: 64 << 20 });
}

/**
 * The official node.exe is Authenticode-signed. postject rebuilds the PE and puts the new .rsrc
 * where the certificate table was, but leaves the security directory pointing there, so a
 * signature check would read part of our blob as a certificate. Clearing that directory entry
 * (what `signtool remove` does) leaves a plainly unsigned program; the loader never reads it.
 */
async function dropStalePeSignature(exe: string): Promise<void> {
  const h = await fsp.open(exe, "r+");
  try {
    const head = Buffer.alloc(4096);
    await h.read(head, 0, head.length, 0);
    const pe = head.readUInt32LE(0x3c);
    if (pe > head.length - 256 || head.readUInt32LE(pe) !== 0x00004550) throw new Error("postject did not leave a PE file");
    const optional = pe + 24;
    const dataDirs = optional + (head.readUInt16LE(optional) === 0x20b ? 112 : 96); // PE32+ : PE32
    const SECURITY = 4;
    if (head.readUInt32LE(dataDirs - 4) <= SECURITY) return; // NumberOfRvaAndSizes: no such entry
    await h.write(Buffer.alloc(8), 0, 8, dataDirs + SECURITY * 8);
  } finally {
    await h.close();
  }
}
