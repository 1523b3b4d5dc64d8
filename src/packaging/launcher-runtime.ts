import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { VmsfxError, fromFsError } from "../errors";
import { SEA_ASSET_WASM, SEA_ASSET_WORKER } from "../launcher/sea-assets";

/**
 * The launcher runtime: a Node binary with our launcher injected as a single-executable-
 * application blob (Node's SEA + postject). A bundle appended to it makes an app. Building one
 * takes a few seconds, so it is cached by the hash of everything that goes into it.
 */

const run = promisify(execFile);
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

async function hashFiles(files: string[]): Promise<string> {
  const h = createHash("sha256");
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
  /** The Node binary to build from; the running one by default (target linux-x64 here). */
  nodeBinary?: string;
  onPhase?: (phase: string) => void;
}

export function defaultCacheDir(distDir: string): string {
  return process.env.VMSFX_CACHE_DIR ?? path.join(distDir, "..", ".cache", "runtime");
}

/** Returns the path of a cached launcher runtime for this build, building it if needed. */
export async function launcherRuntime(opts: RuntimeOptions): Promise<string> {
  const nodeBinary = opts.nodeBinary ?? process.execPath;
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
  const key = await hashFiles([nodeBinary, inputs.launcher, inputs.worker, inputs.wasm]);
  const target = path.join(opts.cacheDir, `launcher-${process.platform}-${process.arch}-${key}`);
  if (await fsp.stat(target).then((s) => s.isFile(), () => false)) return target;

  opts.onPhase?.("building the launcher runtime");
  await fsp.mkdir(opts.cacheDir, { recursive: true }).catch((e) => Promise.reject(fromFsError(e, opts.cacheDir, "creating the cache")));
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), "vmsfx-runtime-"));
  try {
    const blob = path.join(work, "sea.blob");
    const config = {
      main: inputs.launcher,
      output: blob,
      disableExperimentalSEAWarning: true,
      // V8's code cache skips compiling the launcher at every start; it ties the blob to this
      // exact Node build, which the runtime is made from anyway.
      useCodeCache: true,
      assets: { [SEA_ASSET_WASM]: inputs.wasm, [SEA_ASSET_WORKER]: inputs.worker },
    };
    const configPath = path.join(work, "sea-config.json");
    await fsp.writeFile(configPath, JSON.stringify(config));
    await run(nodeBinary, ["--experimental-sea-config", configPath], { cwd: work });
    const exe = path.join(work, "runtime");
    await fsp.copyFile(nodeBinary, exe);
    await fsp.chmod(exe, 0o755);
    // Debug symbols are a fifth of the binary and nothing at run time needs them.
    await run("strip", ["--strip-all", exe]).catch(() => undefined);
    // postject's own CLI, in a child process: its ELF library prints harmless warnings about
    // the stripped section names, which only matter (and are shown) if the injection fails.
    const postject = require.resolve("postject/dist/cli.js");
    await run(process.execPath, [postject, exe, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SEA_FUSE]);
    const tmpTarget = `${target}.${process.pid}.tmp`;
    await fsp.copyFile(exe, tmpTarget);
    await fsp.chmod(tmpTarget, 0o755);
    await fsp.rename(tmpTarget, target);
    return target;
  } catch (e) {
    if (e instanceof VmsfxError) throw e;
    throw new VmsfxError("VMSFX_IO", `could not build the launcher runtime: ${(e as Error).message.split("\n")[0]}`, { cause: e });
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}
