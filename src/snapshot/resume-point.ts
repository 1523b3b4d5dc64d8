import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { VmsfxError, fromFsError } from "../errors";
import { allMaps, validateManifest, type BlockHash, type Manifest } from "./manifest";
import { writeFileAtomic } from "./atomic-file";

/**
 * A resume point: where the user left off, kept in the state folder next to the app. It is a
 * full manifest whose blocks are either in the bundle (unchanged) or in ONE pack file in the
 * state folder (everything that differs from the bundle). A save writes a new pack — blocks the
 * guest changed this session plus, copied byte for byte, the previous pack's blocks still in use
 * — fsyncs it, then switches `resume.json` with temp + fsync + rename, then deletes the old pack.
 * A crash at any moment leaves the old resume point or the new one, each complete.
 */

export const RESUME_FILE = "resume.json";
const PACK_RE = /^pack-[0-9a-f]{16}\.bin$/;

export type ResumeKind = "suspended" | "powered-off";

export interface ResumePoint {
  format: "vmsfx-resume";
  version: 1;
  /** SHA-256 of the bundle manifest this applies to: a different bundle never resumes it. */
  bundleManifestSha256: string;
  savedAt: string;
  /** "powered-off": the guest shut down; next launch cold-boots with the saved disks. */
  kind: ResumeKind;
  pack: { file: string; blocks: Record<BlockHash, [number, number]> } | null;
  manifest: Manifest;
}

function bad(file: string, what: string): VmsfxError {
  return new VmsfxError("VMSFX_MANIFEST_INVALID", `${file}: the saved resume point is damaged (${what}). Start over from the app's original state with --reset (it asks first).`);
}

/** Reads and validates the resume point; undefined when there is none. */
export async function readResumePoint(stateDir: string): Promise<ResumePoint | undefined> {
  const file = path.join(stateDir, RESUME_FILE);
  const text = await fsp.readFile(file, "utf8").catch((e) => {
    if (e?.code === "ENOENT") return undefined;
    throw fromFsError(e, file, "reading the resume point");
  });
  if (text === undefined) return undefined;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch {
    throw bad(file, "not JSON");
  }
  if (raw?.format !== "vmsfx-resume" || raw.version !== 1) throw bad(file, "unknown format");
  if (typeof raw.bundleManifestSha256 !== "string" || !/^[0-9a-f]{64}$/.test(raw.bundleManifestSha256)) throw bad(file, "bundle reference");
  if (raw.kind !== "suspended" && raw.kind !== "powered-off") throw bad(file, "kind");
  let manifest: Manifest;
  try {
    manifest = validateManifest(raw.manifest);
  } catch (e) {
    throw bad(file, (e as Error).message);
  }
  let pack: ResumePoint["pack"] = null;
  if (raw.pack !== null) {
    const p = raw.pack as { file?: unknown; blocks?: unknown };
    if (typeof p?.file !== "string" || !PACK_RE.test(p.file) || typeof p.blocks !== "object" || p.blocks === null) throw bad(file, "pack reference");
    for (const [h, v] of Object.entries(p.blocks)) {
      if (!/^[0-9a-f]{64}$/.test(h) || !Array.isArray(v) || v.length !== 2 || !v.every((n) => Number.isSafeInteger(n) && n >= 0)) throw bad(file, "pack index");
    }
    pack = { file: p.file, blocks: p.blocks as Record<string, [number, number]> };
  }
  return { format: "vmsfx-resume", version: 1, bundleManifestSha256: raw.bundleManifestSha256, savedAt: String(raw.savedAt), kind: raw.kind, pack, manifest };
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
  const needed = new Set<BlockHash>();
  for (const map of allMaps(input.manifest)) for (const h of map.blocks) if (h && !input.inBundle(h)) needed.add(h);
  let pack: ResumePoint["pack"] = null;
  let packBytes = 0;
  let newBytes = 0;
  if (needed.size > 0) {
    const name = `pack-${randomBytes(8).toString("hex")}.bin`;
    const tmp = path.join(stateDir, `.${name}.tmp`);
    const blocks: Record<BlockHash, [number, number]> = {};
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
          }
          blocks[hash] = [packBytes, bytes.byteLength];
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
      throw e instanceof VmsfxError ? e : fromFsError(e, stateDir, "saving the resume point");
    } finally {
      await old?.close();
    }
    pack = { file: name, blocks };
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
  await writeFileAtomic(path.join(stateDir, RESUME_FILE), Buffer.from(JSON.stringify(point)));
  await collectGarbage(stateDir, pack?.file);
  return { packBytes, newBytes, blocks: needed.size };
}

/** Packs and temp files no resume point refers to (left by older saves or a crash). */
export async function collectGarbage(stateDir: string, live: string | undefined): Promise<void> {
  for (const f of await fsp.readdir(stateDir).catch(() => [] as string[])) {
    if ((PACK_RE.test(f) && f !== live) || /^\.pack-.*\.tmp$/.test(f)) await fsp.rm(path.join(stateDir, f), { force: true }).catch(() => undefined);
  }
}

export async function discardResumePoint(stateDir: string): Promise<void> {
  await fsp.rm(path.join(stateDir, RESUME_FILE), { force: true });
  await collectGarbage(stateDir, undefined);
}
