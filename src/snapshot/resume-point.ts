import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { VmsfxError, fromFsError, hasTrait, isVmsfxError } from "../errors";
import { validateManifest, type BlockHash, type Manifest } from "./manifest";
import { blockHashes } from "./block-maps";
import { writeFileAtomic } from "./atomic-file";
import { sha256Hex } from "./block-codec";

/**
 * A resume point: where the user left off, kept in the state folder next to the app. It is a
 * full manifest whose blocks are either in the bundle (unchanged) or in ONE pack file in the
 * state folder (everything that differs from the bundle). A save writes a new pack — blocks the
 * guest changed this session plus, copied byte for byte, the previous pack's blocks still in use
 * — fsyncs it, then switches `resume.json` with temp + fsync + rename, then deletes the old pack.
 * A crash at any moment leaves the old resume point or the new one, each complete.
 *
 * `resume.json` carries the SHA-256 of its own body and of the pack, so damage (a bad sector on
 * a USB stick, a hand edit) is found when the app opens, before any of it reaches the guest.
 */

export const RESUME_FILE = "resume.json";
const PACK_RE = /^pack-[0-9a-f]{16}\.bin$/;

/**
 * "suspended": the whole machine, memory included. "powered-off": the guest shut down; the next
 * launch cold-boots with the saved disks. "quit": an app (manifest `app`) ended with its data disk
 * unmounted; the next launch resumes the bundle's own memory with the saved data disk.
 */
export type ResumeKind = "suspended" | "powered-off" | "quit";

export interface ResumePoint {
  format: "vmsfx-resume";
  version: 1;
  /** SHA-256 of the bundle manifest this applies to: a different bundle never resumes it. */
  bundleManifestSha256: string;
  savedAt: string;
  kind: ResumeKind;
  /** sha256/bytes: the whole pack file (absent in resume points saved before they were recorded). */
  pack: { file: string; sha256?: string; bytes?: number; blocks: Record<BlockHash, [number, number]> } | null;
  manifest: Manifest;
}

function bad(file: string, what: string): VmsfxError {
  return new VmsfxError("VMSFX_MANIFEST_INVALID", `${file}: the saved resume point is damaged (${what}). Start over from the app's original state with --reset (it asks first).`, {
    reason: `${RESUME_FILE}: ${what}`,
  });
}

// resume.json is `{"sha256":"<hex>","point":<body>}` with the hash over the exact body bytes,
// so checking it needs no canonical re-serialization.
const ENVELOPE = /^\{"sha256":"([0-9a-f]{64})","point":/;

function envelope(point: ResumePoint): Buffer {
  const body = JSON.stringify(point);
  return Buffer.from(`{"sha256":"${sha256Hex(Buffer.from(body))}","point":${body}}`);
}

/** Reads and validates the resume point; undefined when there is none. */
export async function readResumePoint(stateDir: string): Promise<ResumePoint | undefined> {
  const file = path.join(stateDir, RESUME_FILE);
  const text = await fsp.readFile(file, "utf8").catch((e) => {
    if (e?.code === "ENOENT") return undefined;
    throw fromFsError(e, file, "reading the resume point");
  });
  if (text === undefined) return undefined;
  let body = text;
  const sealed = ENVELOPE.exec(text);
  if (sealed) {
    if (!text.endsWith("}")) throw bad(file, "cut short");
    body = text.slice(sealed[0].length, -1);
    if (sha256Hex(Buffer.from(body)) !== sealed[1]) throw bad(file, "its checksum does not match");
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(body);
  } catch {
    throw bad(file, "not JSON");
  }
  if (raw?.format !== "vmsfx-resume" || raw.version !== 1) throw bad(file, "unknown format");
  if (typeof raw.bundleManifestSha256 !== "string" || !/^[0-9a-f]{64}$/.test(raw.bundleManifestSha256)) throw bad(file, "bundle reference");
  if (raw.kind !== "suspended" && raw.kind !== "powered-off" && raw.kind !== "quit") throw bad(file, "kind");
  let manifest: Manifest;
  try {
    manifest = validateManifest(raw.manifest);
  } catch (e) {
    throw bad(file, (e as Error).message);
  }
  let pack: ResumePoint["pack"] = null;
  if (raw.pack !== null) {
    const p = raw.pack as { file?: unknown; sha256?: unknown; bytes?: unknown; blocks?: unknown };
    if (typeof p?.file !== "string" || !PACK_RE.test(p.file) || typeof p.blocks !== "object" || p.blocks === null) throw bad(file, "pack reference");
    if (p.sha256 !== undefined && (typeof p.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(p.sha256))) throw bad(file, "pack checksum");
    if (p.bytes !== undefined && !(Number.isSafeInteger(p.bytes) && (p.bytes as number) >= 0)) throw bad(file, "pack size");
    for (const [h, v] of Object.entries(p.blocks)) {
      if (!/^[0-9a-f]{64}$/.test(h) || !Array.isArray(v) || v.length !== 2 || !v.every((n) => Number.isSafeInteger(n) && n >= 0)) throw bad(file, "pack index");
      if (typeof p.bytes === "number" && v[0] + v[1] > p.bytes) throw bad(file, "pack index");
    }
    pack = { file: p.file, sha256: p.sha256 as string | undefined, bytes: p.bytes as number | undefined, blocks: p.blocks as Record<string, [number, number]> };
  }
  return { format: "vmsfx-resume", version: 1, bundleManifestSha256: raw.bundleManifestSha256, savedAt: String(raw.savedAt), kind: raw.kind, pack, manifest };
}

/** Proves the pack is the one resume.json names: size, then SHA-256 of the whole file (streamed). */
export async function checkResumePack(stateDir: string, point: ResumePoint): Promise<void> {
  const pack = point.pack;
  if (!pack || pack.sha256 === undefined) return;
  const file = path.join(stateDir, pack.file);
  const h = await fsp.open(file, "r").catch((e) => {
    if (e?.code === "ENOENT") throw new VmsfxError("VMSFX_BLOCK_MISSING", `${file}: the saved changes' block file is gone`);
    throw fromFsError(e, file, "opening the resume point");
  });
  try {
    const size = (await h.stat()).size;
    if (pack.bytes !== undefined && size !== pack.bytes) throw new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${file}: ${size} bytes where ${pack.bytes} were saved`);
    const hash = createHash("sha256");
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let at = 0; at < size; ) {
      const { bytesRead } = await h.read(buf, 0, Math.min(buf.byteLength, size - at), at);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    if (hash.digest("hex") !== pack.sha256) throw new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${file}: does not match its SHA-256`);
  } finally {
    await h.close();
  }
}

/** Folders of damaged resume points kept for inspection; older ones are removed. */
export const KEEP_CORRUPT = 3;

export interface OpenedResumePoint {
  point?: ResumePoint;
  /** Set when a damaged resume point was moved aside: say so, then start from the bundle's state. */
  notice?: string;
  /** Where the damaged resume point now is. */
  setAside?: string;
}

/**
 * The launcher's way in: a resume point that is damaged is moved to `<state>/corrupt-<time>/`
 * (kept for inspection, never deleted by vmsfx beyond the newest few), and the launch goes on
 * from the bundle's own state with a notice. Errors reading the disk itself are still thrown.
 */
export async function openResumePoint(stateDir: string): Promise<OpenedResumePoint> {
  let point: ResumePoint | undefined;
  try {
    point = await readResumePoint(stateDir);
    if (point) await checkResumePack(stateDir, point);
    return { point };
  } catch (e) {
    // Damage means "this resume point is unusable", unlike an error reading the disk itself.
    if (!hasTrait(e, "damage")) throw e;
    const setAside = await setAsideResumePoint(stateDir, point, "corrupt");
    const why = e.reason;
    const notice = `vmsfx: the changes saved in ${stateDir} are damaged (${why}). They were moved to ${setAside} for inspection; this launch starts from the app's own state.`;
    return { notice, setAside };
  }
}

/**
 * Moves a resume point (resume.json and its pack) into `<state>/<why>-<time>/`: a damaged one
 * ("corrupt"), or one made by another version of the app ("other-version"), which the user may
 * still want. Only the newest few of each kind are kept.
 */
export async function setAsideResumePoint(stateDir: string, point: ResumePoint | undefined, why: "corrupt" | "other-version"): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-:.]/g, "");
  let dir = path.join(stateDir, `${why}-${stamp}`);
  for (let n = 2; await fsp.stat(dir).then(() => true, () => false); n++) dir = path.join(stateDir, `${why}-${stamp}-${n}`);
  try {
    await fsp.mkdir(dir);
    await fsp.rename(path.join(stateDir, RESUME_FILE), path.join(dir, RESUME_FILE));
    // The pack named by a readable resume.json, or else every pack: none is usable without it.
    const packs = point?.pack ? [point.pack.file] : (await fsp.readdir(stateDir)).filter((f) => PACK_RE.test(f));
    for (const f of packs) await fsp.rename(path.join(stateDir, f), path.join(dir, f)).catch((e) => (e?.code === "ENOENT" ? undefined : Promise.reject(e)));
  } catch (e) {
    throw fromFsError(e, dir, "moving a resume point aside");
  }
  const old = (await fsp.readdir(stateDir)).filter((f) => f.startsWith(`${why}-`)).sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  for (const f of old.slice(0, Math.max(0, old.length - KEEP_CORRUPT))) await fsp.rm(path.join(stateDir, f), { recursive: true, force: true }).catch(() => undefined);
  return dir;
}

export interface SaveInput {
  stateDir: string;
  bundleManifestSha256: string;
  kind: ResumeKind;
  manifest: Manifest;
  /** Whether the bundle itself holds a block (those are never copied into the pack). */
  inBundle: (hash: BlockHash) => boolean;
  /** Blocks made this session, stored form. */
  fresh: Map<BlockHash, Uint8Array>;
  /** The resume point this session started from, whose pack may hold blocks still in use. */
  previous?: ResumePoint;
}

export interface SaveResult {
  packBytes: number;
  newBytes: number;
  blocks: number;
}

export async function saveResumePoint(input: SaveInput): Promise<SaveResult> {
  const { stateDir } = input;
  // Packs of saves killed before their switch are nobody's: drop them now, so repeated crashes
  // never leave more than the current pack and the one being written. Only when resume.json is
  // readable: the pack it names must survive this save failing too.
  const current = await readResumePoint(stateDir).catch(() => null);
  if (current !== null) await collectGarbage(stateDir, current?.pack?.file);
  const needed = new Set([...blockHashes(input.manifest)].filter((h) => !input.inBundle(h)));
  let pack: ResumePoint["pack"] = null;
  let packBytes = 0;
  let newBytes = 0;
  if (needed.size > 0) {
    const name = `pack-${randomBytes(8).toString("hex")}.bin`;
    const tmp = path.join(stateDir, `.${name}.tmp`);
    const blocks: Record<BlockHash, [number, number]> = {};
    const digest = createHash("sha256");
    const old = input.previous?.pack ? await fsp.open(path.join(stateDir, input.previous.pack.file), "r").catch(() => undefined) : undefined;
    try {
      const h = await fsp.open(tmp, "wx", 0o644);
      try {
        for (const hash of needed) {
          let bytes = input.fresh.get(hash);
          if (bytes) newBytes += bytes.byteLength;
          else {
            const at = input.previous?.pack?.blocks[hash];
            if (!at || !old) throw new VmsfxError("VMSFX_BLOCK_MISSING", `${stateDir}: block ${hash.slice(0, 12)}… of the previous resume point is gone; the state folder was changed from outside. Use --reset.`);
            bytes = Buffer.alloc(at[1]);
            await old.read(bytes, 0, at[1], at[0]);
            // Copying a damaged block would make it look sound under the new pack's checksum.
            if (sha256Hex(bytes) !== hash) throw new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${path.join(stateDir, input.previous!.pack!.file)}: saved block ${hash.slice(0, 12)}… is damaged, so this session cannot be saved on top of it. The next launch sets the damaged state aside and starts from the app's own state (or use --reset).`);
          }
          blocks[hash] = [packBytes, bytes.byteLength];
          digest.update(bytes);
          await h.write(bytes);
          packBytes += bytes.byteLength;
        }
        await h.sync();
      } finally {
        await h.close();
      }
      await fsp.rename(tmp, path.join(stateDir, name));
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw saveFailed(e, stateDir);
    } finally {
      await old?.close();
    }
    pack = { file: name, sha256: digest.digest("hex"), bytes: packBytes, blocks };
  }
  const point: ResumePoint = {
    format: "vmsfx-resume",
    version: 1,
    bundleManifestSha256: input.bundleManifestSha256,
    savedAt: new Date().toISOString(),
    kind: input.kind,
    pack,
    manifest: input.manifest,
  };
  try {
    await writeFileAtomic(path.join(stateDir, RESUME_FILE), envelope(point));
  } catch (e) {
    // The previous resume point is still the current one: the new pack is nobody's.
    if (pack) await fsp.rm(path.join(stateDir, pack.file), { force: true }).catch(() => undefined);
    throw saveFailed(e, stateDir);
  }
  await collectGarbage(stateDir, pack?.file);
  return { packBytes, newBytes, blocks: needed.size };
}

/** A failed save never touches the previous resume point; the message says so. */
function saveFailed(e: unknown, stateDir: string): VmsfxError {
  const err = isVmsfxError(e) ? e : fromFsError(e, stateDir, "saving the resume point");
  const kept = "This session's changes could not be kept; the previously saved state is unchanged.";
  if (err.code === "VMSFX_DISK_FULL") return new VmsfxError("VMSFX_DISK_FULL", `${stateDir}: no space left while saving where you left off. ${kept} Free some space before the next launch.`, { cause: e });
  if (err.code === "VMSFX_IO") return new VmsfxError("VMSFX_IO", `${stateDir}: could not save where you left off (${err.message}). ${kept}`, { cause: e });
  return err;
}

/** Packs and temp files no resume point refers to (left by older saves or a crash). */
export async function collectGarbage(stateDir: string, live: string | undefined): Promise<void> {
  for (const f of await fsp.readdir(stateDir).catch(() => [] as string[])) {
    if ((PACK_RE.test(f) && f !== live) || /^\.(pack-.*|resume\.json\..*)\.tmp$/.test(f)) await fsp.rm(path.join(stateDir, f), { force: true }).catch(() => undefined);
  }
}

export async function discardResumePoint(stateDir: string): Promise<void> {
  await fsp.rm(path.join(stateDir, RESUME_FILE), { force: true });
  await collectGarbage(stateDir, undefined);
}
