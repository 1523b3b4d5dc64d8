import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { brokenUpdateSuite, hostSourceLines } from "./apt-sources";

/**
 * An app's file system from Debian i386 packages, resolved with their dependencies by Debian's
 * own tooling (mmdebstrap, with the host's apt sources), as one tar. Kept in the user's cache
 * under the hash of everything that shapes it, so a second build runs nothing; the downloaded
 * .debs are kept there too, so a new package set downloads only what is new.
 *
 * The host runs the packages' maintainer scripts: mmdebstrap needs root (or its unshare mode
 * with subordinate ids), an x86-64 or i386 Linux host, and Debian's mmdebstrap and arch-test.
 */

export interface DebianRootfsOptions {
  packages: string[];
  /** The user's cache folder for vmsfx (`~/.cache/vmsfx`). */
  cacheDir: string;
  /** Debian release; by default the host's (its apt sources are the ones used). */
  suite?: string;
  /** One line at a time of what mmdebstrap says, for progress on a terminal. */
  onLine?: (line: string) => void;
}

/** Bump when the command below changes what it produces. */
const RECIPE = 1;
const DROP = ["/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*", "/usr/share/lintian/*"];

/** Returns the path of the cached rootfs tar, building it first when needed. */
export async function debianRootfs(opts: DebianRootfsOptions): Promise<string> {
  const suite = opts.suite ?? (await hostSuite());
  const version = await toolVersion();
  const packages = [...new Set(opts.packages)].sort();
  const key = createHash("sha256").update(JSON.stringify({ RECIPE, suite, arch: "i386", variant: "essential", packages, DROP, version })).digest("hex").slice(0, 24);
  const dir = path.join(opts.cacheDir, "rootfs");
  const out = path.join(dir, `debian-${suite}-i386-${key}.tar`);
  if (await fsp.stat(out).then((s) => s.isFile(), () => false)) return out;
  const debs = path.join(opts.cacheDir, "debs-mmdebstrap");
  await fsp.mkdir(debs, { recursive: true }).catch((e) => Promise.reject(fromFsError(e, debs, "creating the package cache")));
  await fsp.mkdir(dir, { recursive: true }).catch((e) => Promise.reject(fromFsError(e, dir, "creating the cache")));
  // mmdebstrap tells the format by the name; say it too.
  const tmp = `${out}.${process.pid}.tmp.tar`;
  const args = [
    "--arch=i386",
    "--variant=essential",
    "--format=tar",
    `--include=${packages.join(",")}`,
    ...DROP.map((p) => `--dpkgopt=path-exclude=${p}`),
    "--skip=essential/unlink",
    // A dropped connection to the mirror is tried again by apt itself.
    '--aptopt=Acquire::Retries "3"',
    `--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
    `--setup-hook=sync-in ${shellQuote(debs)} /var/cache/apt/archives/`,
    `--customize-hook=sync-out /var/cache/apt/archives ${shellQuote(debs)}`,
    // Copied from the host by mmdebstrap; they are this machine's, not the app's.
    `--customize-hook=rm -f "$1"/etc/resolv.conf "$1"/etc/hostname "$1"/var/cache/apt/archives/*.deb`,
    suite,
    tmp,
  ];
  try {
    await runWithoutBrokenUpdates(args, suite, packages, opts.onLine);
    await fsp.rename(tmp, out);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
  return out;
}

/**
 * An update suite whose index the mirror serves inconsistently is left out, as apt would, and
 * the build says so loudly: the app then lacks that suite's updates until the mirror is mended
 * and the cached file system is removed.
 */
async function runWithoutBrokenUpdates(args: string[], release: string, packages: string[], onLine?: (line: string) => void): Promise<void> {
  try {
    return await runMmdebstrap(args, packages, onLine);
  } catch (e) {
    const broken = e instanceof VmsfxError && e.code === "VMSFX_BUILD_FAILED" ? brokenUpdateSuite(e.message, release) : undefined;
    const sources = broken ? await hostSourceLines([broken]) : [];
    if (!broken || !sources.some((l) => l.split(" ")[2] === release)) throw e;
    process.stderr.write(`vmsfx: warning: the Debian mirror serves an inconsistent index for ${broken} (i386); building from ${sources.map((l) => l.split(" ")[2]).join(", ")} without its updates, as apt itself would. Remove ${args.at(-1)!.replace(/\.\d+\.tmp\.tar$/, "")} to build again with them.\n`);
    return runMmdebstrap([...args, ...sources], packages, onLine);
  }
}

async function runMmdebstrap(args: string[], packages: string[], onLine?: (line: string) => void): Promise<void> {
  const tail: string[] = [];
  const unknown: string[] = [];
  // A fixed date: the same packages give the same tar.
  const env = { ...process.env, SOURCE_DATE_EPOCH: process.env.SOURCE_DATE_EPOCH ?? "1704067200" };
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn("mmdebstrap", args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let partial = "";
    const onData = (d: Buffer) => {
      const lines = (partial + d.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) {
        const m = /Unable to locate package (\S+)|Package '?([^' ]+)'? has no installation candidate/.exec(l);
        if (m) unknown.push(m[1] ?? m[2]);
        tail.push(l);
        if (tail.length > 20) tail.shift();
        onLine?.(l);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (e: NodeJS.ErrnoException) => reject(e.code === "ENOENT" ? new VmsfxError("VMSFX_FILE_NOT_FOUND", "mmdebstrap is not installed: building an app from Debian packages needs it (sudo apt-get install mmdebstrap arch-test).") : e));
    child.on("close", resolve);
  });
  if (code === 0) return;
  const text = tail.join("\n");
  if (unknown.length) {
    throw new VmsfxError("VMSFX_PACKAGE_UNKNOWN", `Debian has no i386 package ${unknown.map((u) => JSON.stringify(u)).join(", ")} (asked for: ${packages.join(", ")}). Check the name with \`apt-cache policy NAME:i386\`; \`apt-get update\` refreshes the host's package lists.`);
  }
  throw new VmsfxError("VMSFX_BUILD_FAILED", `mmdebstrap could not build the app's file system (exit ${code}). Its last lines:\n${text}`);
}

async function hostSuite(): Promise<string> {
  const text = await fsp.readFile("/etc/os-release", "utf8").catch(() => "");
  const m = /^VERSION_CODENAME=("?)([a-z]+)\1$/m.exec(text);
  return m?.[2] ?? "bookworm";
}

async function toolVersion(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn("mmdebstrap", ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", () => resolve("none"));
    child.on("close", () => resolve(out.trim()));
  });
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
