import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { MAX_BLOCK, type BlockHash } from "../snapshot/manifest";
import { MAX_STORED_OVERHEAD } from "../snapshot/block-codec";
import { sha256 } from "../snapshot/bundle-layout";
import { BLOCKS_DIR, MANIFEST_FILE } from "../snapshot/snapshot-dir";
import { writeFileAtomic } from "../snapshot/atomic-file";
import { planFor, type Plan, type PlanItem } from "./publish-source";

/**
 * `publish`: a static layout of a snapshot that any web server, CDN or S3-compatible bucket
 * serves as it is, for thin bundles to fetch their missing blocks from:
 *
 *   <out>/index.json          PublishIndex: written LAST, atomically; it is what advertises a publish
 *   <out>/manifest.json       the bundle's manifest entry, byte for byte (an encrypted bundle's public header)
 *   <out>/signature           the bundle's signature entry, byte for byte (only when signed)
 *   <out>/blocks/<sha256>     every block's stored bytes, exactly as in the source
 *
 * Blocks are content-addressed and never change, so a folder can take one publish after another:
 * a newer snapshot only adds the blocks it does not share with what is there. Old blocks are
 * never deleted (a client still fetching the previous snapshot keeps working).
 *
 * Order of writes: all blocks (each temp + fsync + rename), then manifest.json and signature, then
 * index.json. A publish that fails on a block (a corrupted source, a full disk) leaves the previous
 * manifest, signature and index untouched. A client should read index.json first and check that
 * manifest.json (and signature) match the hashes it names; during the instant between the
 * manifest's and the index's rename, or after a crash exactly there, they may not, and the client
 * should retry or refuse rather than mix them.
 *
 * Nothing here decrypts or needs a key: stored bytes are copied as they are, each verified
 * against its name (the SHA-256 of the stored bytes, ciphertext for an encrypted bundle).
 * No name from the input is ever used as a path: block files are named by hashes that match
 * /^[0-9a-f]{64}$/, and every other name is one of the constants below.
 */

export const PUBLISH_INDEX_FORMAT = "vmsfx-published";
export const PUBLISH_INDEX_VERSION = 1;
export const INDEX_FILE = "index.json";
export const SIGNATURE_FILE = "signature";
export const PUBLISHED_MANIFEST_FILE = MANIFEST_FILE;
export const PUBLISHED_BLOCKS_DIR = BLOCKS_DIR;

export interface PublishIndex {
  format: typeof PUBLISH_INDEX_FORMAT;
  version: typeof PUBLISH_INDEX_VERSION;
  /** SHA-256 of manifest.json's bytes (the bundle's manifest entry). */
  manifestSha256: string;
  /** SHA-256 of the signature file's bytes; absent when the snapshot is not signed. */
  signatureSha256?: string;
  /** manifest.json is an encryption header: blocks are sealed and the key is needed to use them. */
  encrypted: boolean;
  /** When this publish finished (ISO 8601). */
  createdAt: string;
  /** Blocks the manifest names (each once), all present in blocks/, and their stored bytes. */
  blocks: number;
  bytes: number;
}

export interface PublishOptions {
  /** Called after each block, copied or skipped. */
  onProgress?: (done: number, total: number) => void;
  /** Blocks copied at once (default 4): hides per-file fsync latency. */
  concurrency?: number;
}

export interface PublishResult {
  /** Blocks of this snapshot in the folder after the publish (as index.json says). */
  blocks: number;
  /** Their stored bytes. */
  bytes: number;
  /** Blocks already present with the right hash, not written again. */
  skipped: number;
  /** Blocks written by this publish (= blocks - skipped) and their bytes. */
  written: number;
  writtenBytes: number;
  manifestSha256: string;
}

const HASH_RE = /^[0-9a-f]{64}$/;
/** The largest stored block any vmsfx writes; an existing file bigger than this is not even read. */
const MAX_STORED_BLOCK = MAX_BLOCK + MAX_STORED_OVERHEAD;


/** Validates an index.json a client fetched (or one found in the output folder). */
export function parsePublishIndex(bytes: Uint8Array, where: string): PublishIndex {
  const bad = (what: string) => new VmsfxError("VMSFX_MANIFEST_INVALID", `${where}: ${what}. It is not a folder written by \`vmsfx publish\`, or it is damaged; publish again.`);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch {
    throw bad("index.json is not valid JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad("index.json is not an object");
  const o = raw as Record<string, unknown>;
  if (o.format !== PUBLISH_INDEX_FORMAT) throw bad(`index.json's format is not "${PUBLISH_INDEX_FORMAT}"`);
  if (o.version !== PUBLISH_INDEX_VERSION) {
    throw new VmsfxError("VMSFX_UNSUPPORTED_VERSION", `${where}: published with index version ${JSON.stringify(o.version)}; this vmsfx reads version ${PUBLISH_INDEX_VERSION}. Use a matching vmsfx release.`);
  }
  const hash = (v: unknown, name: string) => {
    if (typeof v !== "string" || !HASH_RE.test(v)) throw bad(`index.json's ${name} is not a lowercase hex SHA-256`);
    return v;
  };
  const count = (v: unknown, name: string) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw bad(`index.json's ${name} is not a count`);
    return v;
  };
  if (typeof o.encrypted !== "boolean") throw bad("index.json's encrypted is not a boolean");
  if (typeof o.createdAt !== "string" || o.createdAt.length > 64) throw bad("index.json's createdAt is not a date");
  return {
    format: PUBLISH_INDEX_FORMAT,
    version: PUBLISH_INDEX_VERSION,
    manifestSha256: hash(o.manifestSha256, "manifestSha256"),
    signatureSha256: o.signatureSha256 === undefined ? undefined : hash(o.signatureSha256, "signatureSha256"),
    encrypted: o.encrypted,
    createdAt: o.createdAt,
    blocks: count(o.blocks, "blocks"),
    bytes: count(o.bytes, "bytes"),
  };
}

/** The size of `file` when it exists and holds exactly the block named `hash`; else undefined. */
async function alreadyThere(file: string, hash: BlockHash, storedLength: number | undefined): Promise<number | undefined> {
  const st = await fsp.lstat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  if (storedLength !== undefined ? st.size !== storedLength : st.size > MAX_STORED_BLOCK) return undefined;
  const bytes = await fsp.readFile(file).catch(() => undefined);
  return bytes && sha256(bytes) === hash ? bytes.byteLength : undefined;
}

/** Reads a file if it exists (for "unchanged, leave it" checks); undefined when it does not. */
async function readIfPresent(file: string): Promise<Buffer | undefined> {
  return fsp.readFile(file).catch((e) => {
    if (e?.code === "ENOENT") return undefined;
    throw fromFsError(e, file, "reading");
  });
}

/** Writes `data` to `file` unless it already holds exactly these bytes (keeps CDN caches and mtimes). */
async function putFile(file: string, data: Uint8Array): Promise<void> {
  const old = await readIfPresent(file);
  if (old && old.equals(data)) return;
  await writeFileAtomic(file, data);
}

/**
 * Publishes a snapshot directory or a bundle (plain or executable) into `outDir`. Re-publishing
 * into the same folder only copies blocks that are not there yet. A thin bundle publishes only
 * where the blocks it left out are already present (a published layout is always complete); an
 * encrypted one publishes the blocks its TOC lists, since without the key nothing can tell which
 * of the manifest's blocks are missing. Throws a VmsfxError:
 * VMSFX_BLOCK_HASH_MISMATCH / VMSFX_BLOCK_MISSING for a damaged or incomplete source,
 * VMSFX_IO when `outDir` holds an index.json that vmsfx did not write, and the usual file errors;
 * on any failure index.json, manifest.json and signature are left as they were.
 */
export async function publishSnapshot(input: string, outDir: string, opts: PublishOptions = {}): Promise<PublishResult> {
  const plan = await planFor(input);
  try {
    const indexFile = path.join(outDir, INDEX_FILE);
    await refuseForeignIndex(indexFile, outDir);
    const blocksDir = path.join(outDir, PUBLISHED_BLOCKS_DIR);
    await fsp.mkdir(blocksDir, { recursive: true }).catch((e) => Promise.reject(fromFsError(e, blocksDir, "creating the publish folder")));
    const copied = await copyBlocks(plan, blocksDir, opts);

    // Every block is in place: now the manifest, its signature, and last the index advertising them.
    await putFile(path.join(outDir, PUBLISHED_MANIFEST_FILE), plan.manifestBytes);
    const signatureFile = path.join(outDir, SIGNATURE_FILE);
    if (plan.signature) await putFile(signatureFile, plan.signature);
    else await fsp.rm(signatureFile, { force: true }).catch((e) => Promise.reject(fromFsError(e, signatureFile, "removing the previous signature")));
    const manifestSha256 = sha256(plan.manifestBytes);
    const total = plan.items.length;
    const index: PublishIndex = {
      format: PUBLISH_INDEX_FORMAT,
      version: PUBLISH_INDEX_VERSION,
      manifestSha256,
      signatureSha256: plan.signature ? sha256(plan.signature) : undefined,
      encrypted: plan.encrypted,
      createdAt: new Date().toISOString(),
      blocks: total,
      bytes: copied.bytes,
    };
    await writeFileAtomic(indexFile, Buffer.from(JSON.stringify(index, null, 2) + "\n", "utf8"));
    return { blocks: total, bytes: copied.bytes, skipped: copied.skipped, written: total - copied.skipped, writtenBytes: copied.writtenBytes, manifestSha256 };
  } finally {
    await plan.close();
  }
}

/** Never overwrite a file vmsfx did not write: an index.json already there must be ours. */
async function refuseForeignIndex(indexFile: string, outDir: string): Promise<void> {
  const oldIndex = await readIfPresent(indexFile).catch(() => undefined);
  if (!oldIndex) return;
  try {
    parsePublishIndex(oldIndex, indexFile);
  } catch {
    throw new VmsfxError("VMSFX_IO", `${outDir} already holds an index.json that vmsfx publish did not write. Publish into an empty folder or one made by \`vmsfx publish\`.`);
  }
}

/** Copies every planned block not already there, each checked against its name, a few at a time. */
async function copyBlocks(plan: Plan, blocksDir: string, opts: PublishOptions): Promise<{ bytes: number; skipped: number; writtenBytes: number }> {
  const total = plan.items.length;
  const counts = { bytes: 0, skipped: 0, writtenBytes: 0 };
  let done = 0;
  const copyOne = async ({ hash, rawLength, storedLength }: PlanItem): Promise<void> => {
    if (!HASH_RE.test(hash)) {
      throw new VmsfxError("VMSFX_BUNDLE_CORRUPT", `${plan.location}: names a block "${hash.slice(0, 70)}" that is not a SHA-256. The file is damaged; nothing was published.`);
    }
    const target = path.join(blocksDir, hash);
    const present = await alreadyThere(target, hash, storedLength);
    if (present !== undefined) {
      counts.skipped++;
      counts.bytes += present;
    } else {
      const stored = await plan.readStored(hash, rawLength);
      if (sha256(stored) !== hash) {
        throw new VmsfxError(
          "VMSFX_BLOCK_HASH_MISMATCH",
          `${plan.location}: block ${hash.slice(0, 12)}… does not match its SHA-256. The source is corrupted; nothing was published (${INDEX_FILE} is unchanged). Capture, pack or copy it again.`,
        );
      }
      await writeFileAtomic(target, stored);
      counts.bytes += stored.byteLength;
      counts.writtenBytes += stored.byteLength;
    }
    opts.onProgress?.(++done, total);
  };

  // A small pool: positioned reads and per-file fsyncs overlap. The first failure stops it.
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < total) {
      const item = plan.items[next++];
      try {
        await copyOne(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, total)) }, worker));
  if (failure) throw failure.error;
  return counts;
}
