import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGunzip } from "node:zlib";
import * as tar from "tar-stream";
import { VmsfxError, fromFsError } from "../errors";
import pins from "./node-targets.json";

/**
 * The platforms an executable can be made for, and the official Node runtime for each: the
 * `node-<platform>-<arch>` packages on the npm registry (the nodejs.org builds), at the exact
 * version pinned in node-targets.json together with the sha512 of each tarball. The tarball is
 * checked against that pin before a single byte of it is unpacked or written to the cache, so a
 * registry, mirror or cache that serves other bytes is refused, never half-used.
 */

const runFile = promisify(execFile);

export const TARGET_NAMES = ["linux-x64", "linux-arm64", "win-x64", "darwin-x64"] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** How the runtime's executable format takes the SEA blob (postject) and what is safe to do to it. */
export type BinaryFormat = "elf" | "pe" | "macho";
export const TARGET_FORMAT: Record<TargetName, BinaryFormat> = {
  "linux-x64": "elf",
  "linux-arm64": "elf",
  "win-x64": "pe",
  "darwin-x64": "macho",
};

export interface Pin {
  package: string;
  /** A 24.x release: every pin shares one major version, so one SEA blob layout serves them all. */
  version: string;
  /** The one tarball entry that is extracted: the node executable. */
  entry: string;
  integrity: string;
}

/** The target this machine runs, if it is one we can make (its runtime is the running node). */
export function hostTarget(): TargetName | undefined {
  const name = `${process.platform === "win32" ? "win" : process.platform}-${process.arch}`;
  return (TARGET_NAMES as readonly string[]).includes(name) ? (name as TargetName) : undefined;
}

export function parseTarget(value: string): TargetName {
  if ((TARGET_NAMES as readonly string[]).includes(value)) return value as TargetName;
  throw new VmsfxError("VMSFX_USAGE", `unknown --target "${value}": choose one of ${TARGET_NAMES.join(", ")}.`);
}

/** The pinned runtime's version for a target. */
export function pinnedVersion(target: TargetName): string {
  return pinFor(target).version;
}

function pinFor(target: TargetName): Pin {
  const pin = (pins.targets as Record<string, Pin>)[target];
  if (!pin || !/^sha512-[A-Za-z0-9+/]{86}==$/.test(pin.integrity) || !/^\d+\.\d+\.\d+$/.test(pin.version)) {
    throw new VmsfxError("VMSFX_USAGE", `node-targets.json has no valid sha512 pin for ${target}; this vmsfx build is broken. Reinstall it.`);
  }
  return pin;
}

/**
 * Returns the cached official Node binary for `target`, fetching it first if needed: tarball
 * (npm pack, or a local folder named by VMSFX_NODE_TARBALLS for machines without the registry)
 * → sha512 check against the pin → the one known entry streamed to a temp file in the cache →
 * fsync → rename. An interrupted or refused download leaves nothing under the final name.
 */
export async function officialNodeBinary(target: TargetName, cacheDir: string, onPhase?: (p: string) => void): Promise<string> {
  const pin = pinFor(target);
  const digest = Buffer.from(pin.integrity.slice("sha512-".length), "base64").toString("hex").slice(0, 16);
  const final = path.join(cacheDir, `node-v${pin.version}-${target}-${digest}${TARGET_FORMAT[target] === "pe" ? ".exe" : ""}`);
  if (await fsp.stat(final).then((s) => s.isFile(), () => false)) return final;

  const { bytes, from, fix } = await fetchTarball(pin, onPhase);
  checkIntegrity(bytes, pin, from, fix);

  await fsp.mkdir(cacheDir, { recursive: true }).catch((e) => Promise.reject(fromFsError(e, cacheDir, "creating the cache")));
  const tmp = `${final}.${process.pid}.tmp`;
  try {
    await fsp.rm(tmp, { force: true }); // left by a killed run that had our pid
    await extractEntry(bytes, pin.entry, tmp, from);
    const h = await fsp.open(tmp, "r+");
    await h.sync().finally(() => h.close());
    await fsp.rename(tmp, final);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof VmsfxError) throw e;
    throw fromFsError(e, final, `unpacking ${pin.package}`);
  }
  return final;
}

/** The esbuild-installer rule: hash the exact bytes that will be unpacked, compare, then unpack. */
function checkIntegrity(bytes: Buffer, pin: Pin, from: string, fix: string): void {
  const actual = `sha512-${createHash("sha512").update(bytes).digest("base64")}`;
  if (actual !== pin.integrity) {
    throw new VmsfxError(
      "VMSFX_DOWNLOAD_INTEGRITY",
      `${from} is not the pinned ${pin.package}@${pin.version} (its sha512 is ${actual.slice(0, 24)}…, expected ${pin.integrity.slice(0, 24)}…); nothing was unpacked. ${fix}`,
    );
  }
}

async function fetchTarball(pin: Pin, onPhase?: (p: string) => void): Promise<{ bytes: Buffer; from: string; fix: string }> {
  const spec = `${pin.package}@${pin.version}`;
  const fileName = `${pin.package}-${pin.version}.tgz`;
  // The whole tarball is held in memory (30-45 MB): what is hashed is exactly what is unpacked,
  // with no window in which the file could change between the check and the extraction.
  const mirror = process.env.VMSFX_NODE_TARBALLS;
  if (mirror) {
    const file = path.join(mirror, fileName);
    const bytes = await fsp.readFile(file).catch((e) => {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `${file} is missing (VMSFX_NODE_TARBALLS is set). Fetch it with \`npm pack ${spec} --pack-destination ${mirror}\`, or unset VMSFX_NODE_TARBALLS to use the npm registry.`);
      }
      throw fromFsError(e, file, "reading the Node tarball");
    });
    return { bytes, from: file, fix: `Replace it: \`npm pack ${spec} --pack-destination ${mirror}\`.` };
  }
  onPhase?.(`downloading ${spec} from the npm registry`);
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), "vmsfx-node-"));
  try {
    // The ordinary npm client: it honours the user's registry, proxy and CA settings. It runs in
    // an empty folder so no project's package.json or scripts are involved.
    await runFile("npm", ["pack", spec, "--pack-destination", work, "--ignore-scripts", "--silent"], {
      cwd: work,
      maxBuffer: 16 << 20,
      shell: process.platform === "win32",
    }).catch((e: NodeJS.ErrnoException & { stderr?: string }) => {
      if (e.code === "ENOENT") throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `npm was not found: it is needed to download ${spec}. Install npm, or put ${fileName} in a folder and point VMSFX_NODE_TARBALLS at it.`);
      const why = (e.stderr ?? e.message).trim().split("\n").filter(Boolean).pop() ?? "npm pack failed";
      throw new VmsfxError("VMSFX_IO", `could not download ${spec} (${why}). Check the network and \`npm config get registry\`, or fetch it elsewhere with \`npm pack ${spec}\` and point VMSFX_NODE_TARBALLS at its folder.`);
    });
    const file = path.join(work, fileName);
    const bytes = await fsp.readFile(file).catch((e) => Promise.reject(fromFsError(e, file, `reading what npm pack ${spec} wrote`)));
    const fix = "Try again; if it persists, the registry npm is set to (`npm config get registry`) serves other bytes than the public npm registry.";
    return { bytes, from: `${spec} from the npm registry`, fix };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

/**
 * Streams the single entry named `entry` to `dest`. No name from the tarball is used as a path:
 * every other entry is read past, and the file is created with `wx` at a name we chose.
 */
async function extractEntry(tgz: Buffer, entry: string, dest: string, from: string): Promise<void> {
  const extract = tar.extract();
  const feeding = pipeline(Readable.from([tgz]), createGunzip(), extract);
  feeding.catch(() => undefined); // reported through the entry loop below, or awaited at the end
  let found = false;
  try {
    for await (const e of extract) {
      if (!found && e.header.name === entry && e.header.type === "file") {
        found = true;
        await pipeline(e, createWriteStream(dest, { flags: "wx", mode: 0o755 }));
        const { size } = await fsp.stat(dest);
        if (size !== e.header.size) throw new VmsfxError("VMSFX_IO", `${from}: ${entry} unpacked to ${size} bytes, its header says ${e.header.size}. Try again.`);
      } else {
        e.resume();
      }
    }
    await feeding;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof VmsfxError || (code && !code.startsWith("Z_"))) throw e; // a failed write: the caller maps it
    // The bytes matched the pin, so a broken archive means the pin itself names a bad tarball.
    throw new VmsfxError("VMSFX_DOWNLOAD_INTEGRITY", `${from} could not be unpacked (${(e as Error).message}); node-targets.json pins a bad tarball. Reinstall vmsfx.`, { cause: e });
  }
  if (!found) throw new VmsfxError("VMSFX_DOWNLOAD_INTEGRITY", `${from} has no ${entry}: node-targets.json names the wrong entry for this package. Reinstall vmsfx.`);
}
