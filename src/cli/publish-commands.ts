import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { loadEngineAssets } from "../engine/engine-assets";
import { capture } from "../snapshot/capture";
import { checkRecipeFiles, loadRecipe } from "../snapshot/recipe";
import { openSnapshotDir } from "../snapshot/snapshot-dir";
import { writeBundle } from "../snapshot/bundle-writer";
import { createProgress, formatBytes } from "../launcher/progress";
import { validatePolicy, type Policy } from "../policy/policy";
import { signManifest } from "../policy/signature";
import { BlockCipher } from "../policy/encryption";
import { secretFrom } from "../policy/secret-input";
import type { WriteBundleOptions } from "../snapshot/bundle-writer";
import { manifestBlocks, serializeManifest, validateRemotes, type BlockHash, type Manifest } from "../snapshot/manifest";
import { blockRefs, hotRefs, RESUME_PARTS, type MapPart } from "../snapshot/block-maps";
import { sha256Hex } from "../snapshot/block-codec";
import { publishSnapshot } from "../remote/publish";
import { publishToRegistry } from "../remote/oci-publish";
import { pinRegistryRemote } from "../remote/oci-pin";
import { formatOciReference, isOciUrl, parseOciReference } from "../snapshot/oci-reference";
import { defaultCacheDir, defaultDownloadDir, launcherRuntime, type LauncherRuntime } from "../packaging/launcher-runtime";
import type { TargetName } from "../packaging/node-targets";
import { makeExecutable } from "../packaging/make-executable";

/** The publisher's commands (capture, pack); each returns the process exit code. */

const out = (s: string) => process.stdout.write(s + "\n");

export async function captureCommand(a: { recipe: string; out: string; blockSize: number; diskBlockSize: number; level: number; verbose: boolean; json: boolean; quiet: boolean }): Promise<number> {
  const recipe = await loadRecipe(a.recipe);
  await checkRecipeFiles(recipe);
  const assets = await loadEngineAssets();
  const progress = createProgress("capture", a.quiet || a.json);
  const t0 = Date.now();
  const phaseTimer = setInterval(() => progress.note(`booting ${recipe.name} (${Math.round((Date.now() - t0) / 1000)} s)`), 1000);
  try {
    const r = await capture(recipe, assets, {
      out: a.out,
      blockSize: a.blockSize,
      diskBlockSize: a.diskBlockSize,
      level: a.level,
      echo: a.verbose ? (b) => process.stderr.write(b) : undefined,
      onPhase: (p) => {
        if (p !== "booting") clearInterval(phaseTimer);
        progress.note(p);
      },
      onProgress: (done, total) => progress.update(done, total, "bytes"),
    });
    const s = r.stats;
    progress.done();
    if (a.json) out(JSON.stringify({ out: a.out, bootMs: r.bootMs, stats: s }));
    else if (!a.quiet) {
      out(`captured ${recipe.name} into ${a.out}: ready after ${(r.bootMs / 1000).toFixed(1)} s`);
      out(`  ${formatBytes(s.rawBytes)} raw -> ${formatBytes(s.storedBytes)} stored in ${s.storedBlocks} blocks (${s.zeroBlocks} zero blocks skipped, ${s.dedupBlocks} duplicates stored once)`);
    }
    return 0;
  } finally {
    clearInterval(phaseTimer);
  }
}

function runtimeFor(progress: ReturnType<typeof createProgress>, target: TargetName | undefined): Promise<LauncherRuntime> {
  return launcherRuntime({ distDir: __dirname, cacheDir: defaultCacheDir(__dirname), downloadDir: defaultDownloadDir(), target, onPhase: (p) => progress.note(p) });
}

/** What a user on the target platform needs to know to start the file. */
function howToRun(out: string, rt: LauncherRuntime): string {
  const name = path.basename(out);
  if (rt.native) return `an executable: run ./${name}`;
  if (rt.target === "win-x64") return `a ${rt.target} executable${name.toLowerCase().endsWith(".exe") ? "" : `; Windows starts it only with an .exe name (${name}.exe)`}`;
  // The injected blob invalidates the official binary's signature; we cannot sign here.
  if (rt.target === "darwin-x64") return `a ${rt.target} executable; unsigned: see the README (Targets) before running it on a Mac`;
  return `a ${rt.target} executable`;
}

export interface ThinOptions {
  thin?: boolean;
  /** Comma-separated URLs of published folders or bundles. */
  remote?: string;
  /** What a thin bundle keeps: nothing but the device state, RAM too, or RAM plus the recorded hot disk blocks. */
  include?: "none" | "memory" | "hot";
}

/**
 * Which blocks a thin bundle keeps: the device state always (tiny, needed first), and an app's
 * fresh data disk (a few KiB: a quit keeps that disk whole without waiting on the network, which
 * is what lets the user's data move on to a new version, `--update` included).
 */
export function thinSelection(m: Manifest, include: ThinOptions["include"] = "memory"): Set<BlockHash> {
  if (include === "hot" && !m.hot) throw new VmsfxError("VMSFX_USAGE", "--include hot needs a recorded hot set: run `vmsfx record <snapshot>` first.");
  const parts: readonly MapPart[] = include === "none" ? ["state"] : RESUME_PARTS;
  const dataDisk = m.app ? m.disks.find((d) => d.slot === m.app!.dataDisk)?.map.blocks ?? [] : [];
  const refs = [...blockRefs(m, (part) => parts.includes(part)), ...(include === "hot" ? hotRefs(m) : [])].map((r) => r.hash);
  return new Set([...refs, ...dataDisk.filter((h): h is BlockHash => h !== null)]);
}

export interface RestrictOptions {
  /** Publisher's private key: the bundle is signed. */
  sign?: string;
  /** A policy JSON file (samples/policies/): usage restrictions, enforced before the guest runs. */
  policy?: string;
  encrypt?: boolean;
  passphraseFile?: string;
  keyFile?: string;
}

/** What pack adds for a restricted snapshot: policy into the manifest, signature, encryption. */
async function restrictions(a: RestrictOptions, manifestName: string, snapshotId: string): Promise<{ policy?: Policy; options: Pick<WriteBundleOptions, "sign" | "encrypt" | "include"> }> {
  let policy: Policy | undefined;
  if (a.policy) {
    const text = await fsp.readFile(a.policy, "utf8").catch((e) => Promise.reject(fromFsError(e, a.policy!, "reading the policy")));
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new VmsfxError("VMSFX_POLICY_INVALID", `${a.policy}: not valid JSON (${(e as Error).message}). See samples/policies/.`);
    }
    policy = validatePolicy(raw, a.policy);
    if (!a.sign) throw new VmsfxError("VMSFX_USAGE", "--policy needs --sign <key>: restrictions in an unsigned bundle could be edited by anyone, so the launcher refuses them. Make a key with `vmsfx keygen -o publisher.key`.");
  }
  const options: Pick<WriteBundleOptions, "sign" | "encrypt" | "include"> = {};
  if (a.sign) {
    const keyFile = a.sign;
    await signManifest(Buffer.from("probe"), keyFile); // fail early on a bad key, before any work
    options.sign = async (bytes) => Buffer.from(JSON.stringify(await signManifest(bytes, keyFile)));
  }
  if (a.encrypt || a.passphraseFile || a.keyFile) {
    const secret = await secretFrom({ keyFile: a.keyFile, passphraseFile: a.passphraseFile }, "Passphrase for the bundle: ", true);
    const { cipher, kdf } = await BlockCipher.derive(secret, undefined, snapshotId);
    options.encrypt = {
      cipher,
      header: (sealed) => Buffer.from(JSON.stringify({ format: "vmsfx-encrypted", version: 1, public: { guest: manifestName }, kdf, check: cipher.check, manifest: Buffer.from(sealed).toString("base64") })),
    };
  }
  return { policy, options };
}

/** `--insecure`: a registry reference spoken to over plain HTTP. */
function insecure(url: string, on: boolean | undefined): string {
  return on && /^oci:\/\//i.test(url) ? url.replace(/^oci:/i, "oci+http:") : url;
}

/** Registry remotes pinned to the artifact that holds this snapshot's left-out blocks (oci-pin.ts). */
async function pinRemotes(remotes: string[], m: Manifest, keep: Set<BlockHash>, progress: ReturnType<typeof createProgress>): Promise<string[]> {
  const leftOut = [...manifestBlocks(m)].map((b) => b.hash).filter((h) => !keep.has(h));
  const out: string[] = [];
  for (const r of remotes) {
    if (!isOciUrl(r)) out.push(r);
    else {
      progress.note(`checking ${r}`);
      out.push(await pinRegistryRemote(r, leftOut));
    }
  }
  return validateRemotes(out);
}

export async function packCommand(a: { snapshot: string; out: string; exe: boolean; target?: TargetName; json: boolean; quiet: boolean; insecure?: boolean } & RestrictOptions & ThinOptions): Promise<number> {
  if (a.thin && !a.remote) throw new VmsfxError("VMSFX_USAGE", "--thin needs --remote <URL>[,<URL>...]: where the blocks left out can be fetched (see `vmsfx publish`).");
  if (a.remote && !a.thin) throw new VmsfxError("VMSFX_USAGE", "--remote only applies to --thin bundles.");
  if (a.target && !a.exe) throw new VmsfxError("VMSFX_USAGE", "--target only applies to executables: add --exe (or use `vmsfx exe <bundle> --target ...` on a packed bundle).");
  const st = await fsp.stat(a.snapshot).catch(() => undefined);
  if (!st?.isDirectory()) throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `${a.snapshot}: not a snapshot directory. Make one with \`vmsfx capture <recipe> -o <dir>\`.`);
  const dir = await openSnapshotDir(a.snapshot);
  const progress = createProgress("pack", a.quiet || a.json);
  try {
    // The snapshot as captured names it; policy and remotes added here do not.
    const { policy, options } = await restrictions(a, dir.manifest.guest.name, sha256Hex(serializeManifest(dir.manifest)));
    const keep = a.thin ? thinSelection(dir.manifest, a.include) : undefined;
    const remotes = keep ? await pinRemotes(validateRemotes(a.remote!.split(",").map((u) => insecure(u.trim(), a.insecure)).filter(Boolean)), dir.manifest, keep, progress) : undefined;
    const source = policy || remotes ? { ...dir, manifest: { ...dir.manifest, ...(policy && { policy }), ...(remotes && { remotes }) } } : dir;
    if (keep) options.include = (h) => keep.has(h);
    const rt = a.exe ? await runtimeFor(progress, a.target) : undefined;
    const r = await writeBundle(source, a.out, { ...options, prefixFile: rt?.path, mode: a.exe ? 0o755 : 0o644, onProgress: (d, t) => progress.update(d, t) });
    progress.done();
    if (a.json) out(JSON.stringify({ out: a.out, bytes: r.bytes, blocks: r.blocks, ...(rt && { target: rt.target }) }));
    else if (!a.quiet) out(`packed ${a.out}: ${formatBytes(r.bytes)}, ${r.blocks} blocks${rt ? ` (${howToRun(a.out, rt)})` : ""}`);
    return 0;
  } finally {
    await dir.close();
  }
}

export async function exeCommand(a: { bundle: string; out: string; target?: TargetName; json: boolean; quiet: boolean }): Promise<number> {
  const progress = createProgress("exe", a.quiet || a.json);
  const rt = await runtimeFor(progress, a.target);
  const r = await makeExecutable(rt.path, a.bundle, a.out);
  progress.done();
  if (a.json) out(JSON.stringify({ out: a.out, target: rt.target, ...r }));
  else if (!a.quiet) out(`wrote ${a.out}: ${formatBytes(r.bytes)} (runtime ${formatBytes(r.runtimeBytes)}, bundle ${formatBytes(r.bytes - r.runtimeBytes)}), ${howToRun(a.out, rt)}`);
  return 0;
}


export async function publishCommand(a: { input: string; out?: string; to?: string; insecure?: boolean; mountFrom?: string[]; json: boolean; quiet: boolean }): Promise<number> {
  if (!a.out === !a.to) throw new VmsfxError("VMSFX_USAGE", "publish needs either -o FOLDER (a static folder) or --to oci://REGISTRY/REPO:TAG (a registry), not both.");
  if (a.to) return publishToRegistryCommand({ ...a, to: a.to });
  if (a.insecure || a.mountFrom?.length) throw new VmsfxError("VMSFX_USAGE", "--insecure and --mount-from apply to --to oci://… only.");
  const folder = a.out!;
  const progress = createProgress("publish", a.quiet || a.json);
  const r = await publishSnapshot(a.input, folder, { onProgress: (d, t) => progress.update(d, t) });
  progress.done();
  if (a.json) out(JSON.stringify({ out: folder, ...r }));
  else if (!a.quiet) out(`published ${a.input} to ${folder}: ${r.blocks} blocks (${formatBytes(r.bytes)}), ${r.written} new (${formatBytes(r.writtenBytes)}), ${r.skipped} already there. Serve ${folder} with any web server.`);
  return 0;
}

async function publishToRegistryCommand(a: { input: string; to: string; insecure?: boolean; mountFrom?: string[]; json: boolean; quiet: boolean }): Promise<number> {
  const ref = parseOciReference(insecure(a.to, a.insecure));
  const progress = createProgress("publish", a.quiet || a.json);
  const t0 = performance.now();
  const r = await publishToRegistry(a.input, ref, { mountFrom: a.mountFrom, onPhase: (p) => progress.note(p), onProgress: (d, t) => progress.update(d, t) });
  progress.done();
  const seconds = (performance.now() - t0) / 1000;
  if (a.json) out(JSON.stringify({ to: a.to, seconds: Math.round(seconds * 100) / 100, ...r }));
  else if (!a.quiet) {
    out(`published ${a.input} to ${r.reference} in ${seconds.toFixed(1)} s: ${r.packs} packs, ${formatBytes(r.uploadedBytes)} uploaded, ${r.reused} of ${r.blobs} blobs already there (${formatBytes(r.reusedBytes)} not sent).`);
    out(`next: vmsfx pack SNAPSHOT --thin --remote ${formatOciReference({ ...ref, digest: undefined })} -o app.vmsfx`);
  }
  return 0;
}
