import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError, hasTrait } from "../errors";
import { manifestBlocks, parseManifest, serializeManifest, type EngineIdentity, type Manifest } from "../snapshot/manifest";
import { sha256Hex } from "../snapshot/block-codec";
import { writeFileAtomic } from "../snapshot/atomic-file";
import { isLockedManifest, type BundleSource } from "../snapshot/bundle-reader";
import { checkSignature, parseSignature } from "../policy/signature";
import { checkEngineIdentity } from "../engine/engine-assets";
import { HttpFetcher, remoteFromUrl } from "./http-fetcher";
import { isOciUrl, ociReferenceProblem, parseOciReference } from "../snapshot/oci-reference";

/**
 * Updates of a thin bundle: the publisher publishes a newer snapshot to the same place
 * (`vmsfx publish`), and `run --update` takes its manifest when it is signed by the same key as
 * the bundle. The accepted manifest is kept in the state folder (`update.json`, written
 * atomically) and replaces the bundle's from then on; its blocks come from the file when they
 * are unchanged, else from the cache or the remotes, so only what changed is downloaded.
 * Nothing of an update is trusted until its signature is checked, and it is checked again on
 * every launch, so a planted update.json is refused like a tampered bundle.
 */

export const UPDATE_FILE = "update.json";

export interface AcceptedUpdate {
  manifest: Manifest;
  manifestBytes: Buffer;
  signature: Buffer;
  /** SHA-256 of `manifestBytes`: names this version (resume points belong to one version). */
  sha256: string;
}

export type UpdateCheck = { status: "current" } | { status: "updated"; update: AcceptedUpdate; remote: string };

/** The signer a bundle's updates must come from: the bundle's own. */
function signerOf(bundle: BundleSource, where: string): string {
  if (!bundle.signature) {
    throw new VmsfxError("VMSFX_UPDATE_REFUSED", `${where}: this app is not signed, so an update could not be told apart from a forgery. Ask its publisher for a signed build (vmsfx pack --sign).`);
  }
  return parseSignature(bundle.signature, where).key;
}

/** Same snapshot, whatever servers each copy lists: the published manifest carries none. */
function sameVersion(a: Manifest, b: Manifest): boolean {
  return serializeManifest({ ...a, remotes: undefined }).equals(serializeManifest({ ...b, remotes: undefined }));
}

/**
 * A registry serves each version from its own artifact: the update's blocks come from the one
 * its tag named when it was taken (`pinned`), which replaces the app's reference to that repository.
 */
function repin(remotes: string[] | undefined, pinned: string | undefined): string[] | undefined {
  if (!remotes || !pinned || !isOciUrl(pinned)) return remotes;
  const repo = (u: string) => {
    const r = parseOciReference(u);
    return `${r.registry}/${r.repository}`;
  };
  return remotes.map((u) => (isOciUrl(u) && repo(u) === repo(pinned) ? pinned : u));
}

function accept(bundle: BundleSource, manifestBytes: Buffer, signature: Buffer | undefined, where: string, engine: EngineIdentity, requireSigner?: string, pinned?: string): AcceptedUpdate {
  if (!signature) throw new VmsfxError("VMSFX_UPDATE_REFUSED", `${where}: the update is not signed, so it was not taken. Its publisher must publish a signed bundle.`);
  checkSignature(manifestBytes, parseSignature(signature, where), where, requireSigner ?? signerOf(bundle, where));
  const published = parseManifest(manifestBytes);
  // The update keeps this app's servers: a published manifest names none of its own.
  const manifest = { ...published, remotes: published.remotes ?? repin(bundle.manifest.remotes, pinned) };
  checkEngineIdentity(manifest.engine, engine, where);
  return { manifest, manifestBytes, signature, sha256: sha256Hex(manifestBytes) };
}

/**
 * Asks the app's servers for their manifest. Returns "current" when it is the snapshot already in
 * use; otherwise checks and stores it. Throws VMSFX_UPDATE_REFUSED (unsigned, encrypted, no
 * servers), VMSFX_SIGNATURE_INVALID / VMSFX_SIGNER_MISMATCH, VMSFX_ENGINE_MISMATCH, or the
 * fetcher's VMSFX_OFFLINE / VMSFX_REMOTE_FAILED.
 */
export async function checkForUpdate(bundle: BundleSource, inUse: Manifest, stateDir: string, engine: EngineIdentity, requireSigner?: string): Promise<UpdateCheck> {
  const where = bundle.location;
  const remotes = inUse.remotes;
  if (!remotes?.length) throw new VmsfxError("VMSFX_UPDATE_REFUSED", `${where}: this app names no server to update from (it was not packed with --thin --remote).`);
  if (isLockedManifest(bundle.manifestBytes)) throw new VmsfxError("VMSFX_UPDATE_REFUSED", `${where}: updates of encrypted apps are not supported yet; get the new version from its publisher.`);
  signerOf(bundle, where);
  const fetcher = new HttpFetcher(remotes.map(remoteFromUrl));
  try {
    const got = await fetcher.fetchManifest();
    const from = `${got.remote} (update)`;
    if (isLockedManifest(got.manifestBytes)) throw new VmsfxError("VMSFX_UPDATE_REFUSED", `${from}: the published version is encrypted; updates of encrypted apps are not supported yet.`);
    const pinned = isOciUrl(got.remote) ? got.remote : undefined;
    const update = accept(bundle, got.manifestBytes, got.signature, from, engine, requireSigner, pinned);
    if (sameVersion(update.manifest, inUse)) return { status: "current" };
    const file = path.join(stateDir, UPDATE_FILE);
    const record = { format: "vmsfx-update", manifest: update.manifestBytes.toString("base64"), signature: update.signature.toString("base64"), ...(pinned ? { remote: pinned } : {}) };
    await writeFileAtomic(file, Buffer.from(JSON.stringify(record))).catch((e) => Promise.reject(fromFsError(e, file, "keeping the update")));
    return { status: "updated", update, remote: got.remote };
  } finally {
    fetcher.close();
  }
}

/** The update accepted earlier, checked again; undefined when there is none. */
export async function loadAcceptedUpdate(bundle: BundleSource, stateDir: string, engine: EngineIdentity, requireSigner?: string): Promise<AcceptedUpdate | undefined> {
  const file = path.join(stateDir, UPDATE_FILE);
  const bytes = await fsp.readFile(file).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? undefined : Promise.reject(fromFsError(e, file, "reading the update"))));
  if (!bytes) return undefined;
  let record: { format?: unknown; manifest?: unknown; signature?: unknown; remote?: unknown };
  try {
    record = JSON.parse(bytes.toString("utf8"));
  } catch {
    record = {};
  }
  if (record.format !== "vmsfx-update" || typeof record.manifest !== "string" || typeof record.signature !== "string") {
    throw new VmsfxError("VMSFX_UPDATE_REFUSED", `${file} is damaged. Delete it to use the version in the app file, or run with --update to fetch the update again.`);
  }
  // `remote` only says where blocks are fetched from (each is checked by its hash): a bad one costs downloads, never trust.
  const pinned = typeof record.remote === "string" && isOciUrl(record.remote) && !ociReferenceProblem(record.remote) ? record.remote : undefined;
  return accept(bundle, Buffer.from(record.manifest, "base64"), Buffer.from(record.signature, "base64"), file, engine, requireSigner, pinned);
}

/**
 * After an update the cache keeps only blocks of the new version: without this, every update
 * would leave the old version's blocks behind for good. (The new version's blocks that the
 * cache already had are what made the update cheap; they stay.)
 */
async function pruneCache(cacheDir: string, m: Manifest): Promise<void> {
  const keep = new Set<string>();
  for (const b of manifestBlocks(m)) keep.add(b.hash);
  for (const f of await fsp.readdir(cacheDir).catch(() => [] as string[])) {
    if (/^[0-9a-f]{64}$/.test(f) && !keep.has(f)) await fsp.rm(path.join(cacheDir, f), { force: true }).catch(() => undefined);
  }
}

/** The bundle as its accepted update describes it: blocks still come from the file first. */
export function withUpdate(bundle: BundleSource, u: AcceptedUpdate): BundleSource {
  return {
    manifest: u.manifest,
    manifestBytes: u.manifestBytes,
    signature: u.signature,
    location: bundle.location,
    cipher: bundle.cipher,
    footer: bundle.footer,
    toc: bundle.toc,
    bundleStart: bundle.bundleStart,
    fileSize: bundle.fileSize,
    readStored: (h, n) => bundle.readStored(h, n),
    storedSize: (h) => bundle.storedSize(h),
    readSpan: (o, l) => bundle.readSpan(o, l),
    entry: (h) => bundle.entry(h),
    close: () => bundle.close(),
  };
}

export interface AppVersion<S> {
  /** The bundle, or the bundle as its accepted update describes it. */
  source: S | BundleSource;
  manifest: Manifest;
  manifestBytes?: Uint8Array;
  signature?: Uint8Array;
  /** Names this version: resume points are kept per version. */
  sha256: string;
}

function isBundle<S extends { kind: string }>(s: S): s is S & BundleSource {
  return s.kind === "bundle";
}

/**
 * Which snapshot this launch runs: the bundle's own, or the update accepted earlier; with
 * `update`, first asks the servers for a newer one. `say` tells the user what happened.
 */
export async function chooseVersion<S extends { kind: string; manifest: Manifest; manifestBytes?: Uint8Array; signature?: Uint8Array }>(
  bundle: S,
  fileSha256: string,
  o: { stateDir: string; update: boolean; engine: EngineIdentity; requireSigner?: string; say: (line: string) => void },
): Promise<AppVersion<S>> {
  const own: AppVersion<S> = { source: bundle, manifest: bundle.manifest, manifestBytes: bundle.manifestBytes, signature: bundle.signature, sha256: fileSha256 };
  if (!isBundle(bundle)) {
    if (o.update) throw new VmsfxError("VMSFX_UPDATE_REFUSED", "--update works on a packed thin bundle (vmsfx pack --thin --remote), not a snapshot folder.");
    return own;
  }
  const b: BundleSource = bundle;
  let accepted = await loadAcceptedUpdate(b, o.stateDir, o.engine, o.requireSigner);
  if (o.update) {
    // Being offline must not keep the user from the version they have; a bad update must.
    const r = await checkForUpdate(b, accepted?.manifest ?? bundle.manifest, o.stateDir, o.engine, o.requireSigner).catch((e: unknown) => {
      if (!hasTrait(e, "recoverable")) throw e;
      o.say(`vmsfx: could not check for an update (${e.reason}); running the version already here.`);
      return { status: "unchecked" } as const;
    });
    if (r.status === "current") o.say("vmsfx: this app is up to date.");
    else if (r.status === "updated") {
      accepted = r.update;
      await pruneCache(path.join(o.stateDir, "cache"), accepted.manifest);
      o.say(`vmsfx: updated to the version published at ${r.remote} (only blocks not already here are downloaded).`);
    }
  }
  if (!accepted) return own;
  return { source: withUpdate(b, accepted), manifest: accepted.manifest, manifestBytes: accepted.manifestBytes, signature: accepted.signature, sha256: accepted.sha256 };
}
