import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { fromFsError, hasTrait } from "../errors";
import { sha256Hex, MAX_STORED_OVERHEAD } from "../snapshot/block-codec";
import { writeFileAtomic } from "../snapshot/atomic-file";
import type { BlockHash } from "../snapshot/manifest";
import type { BundleSource } from "../snapshot/bundle-reader";
import type { SnapshotSource } from "../snapshot/snapshot-source";
import { HttpFetcher, remoteFromUrl } from "./http-fetcher";

/**
 * A thin bundle seen as a whole snapshot: blocks the file holds are read from it; the others come
 * from the block cache in the state folder, or else from the manifest's remotes. Every fetched
 * block is hash-checked before it is cached or used (and BlockReader checks it again, as it does
 * every block), and the cache is written temp + fsync + rename, so an interrupted fetch never
 * leaves a corrupt entry.
 */
export interface RemoteBackedSource extends SnapshotSource, Pick<BundleSource, "entry" | "readSpan"> {
  /** Fetches, in parallel, every listed block that is neither in the file nor cached. */
  prefetch(blocks: { hash: BlockHash; size: number }[]): Promise<{ fetched: number; bytes: number }>;
  /** A block from the file or the cache only (undefined when only the network has it). */
  readLocal(hash: BlockHash, rawLength: number): Promise<Uint8Array | undefined>;
}

const HASH = /^[0-9a-f]{64}$/;
const PARALLEL = 16;
/**
 * A block that could not be fetched fails again at once for this long: the guest's disk driver
 * retries a failed read several times, and each retry should not wait out the network again.
 */
const FAILED_FOR_MS = 10_000;

export function openRemoteBacked(local: SnapshotSource & Partial<Pick<BundleSource, "entry" | "readSpan">>, remotes: string[], cacheDir: string): RemoteBackedSource {
  // RAM arrives as ~100-500 blocks before the guest can run: with per-request latency, the number
  // of requests in flight is what bounds the wait (measured at 20 ms per request: guest running
  // after 965 ms with 6 sockets, 610 ms with 16).
  const fetcher = new HttpFetcher(remotes.map(remoteFromUrl), { maxSockets: PARALLEL, keepExtra: (h, b) => keep(h, b) });
  const inFile = (h: BlockHash) => (local.entry ? local.entry(h) !== undefined : local.storedSize(h) !== undefined);
  const cachePath = (h: BlockHash) => {
    if (!HASH.test(h)) throw new Error(`not a block name: ${h}`);
    return path.join(cacheDir, h);
  };
  const fromCache = async (h: BlockHash): Promise<Uint8Array | undefined> => {
    const bytes = await fsp.readFile(cachePath(h)).catch(() => undefined);
    if (bytes && sha256Hex(bytes) === h) return bytes;
    if (bytes) await fsp.rm(cachePath(h), { force: true }); // damaged outside vmsfx: fetch again
    return undefined;
  };
  const failed = new Map<BlockHash, { at: number; error: unknown }>();
  // The cache only saves downloads: when it cannot be written (disk full, read-only), the
  // verified block is used from memory, and the next launch fetches it again.
  const keep = async (h: BlockHash, bytes: Uint8Array) => {
    try {
      await fsp.mkdir(cacheDir, { recursive: true }).catch((e) => Promise.reject(fromFsError(e, cacheDir, "creating the block cache")));
      await writeFileAtomic(cachePath(h), bytes);
    } catch (e) {
      if (!hasTrait(e, "storage")) throw e;
    }
  };
  return {
    manifest: local.manifest,
    location: local.location,
    cipher: local.cipher,
    entry: (h) => local.entry?.(h),
    readSpan: (o, l) => local.readSpan!(o, l),
    storedSize: (h) => local.storedSize(h),
    async readStored(hash, rawLength) {
      if (inFile(hash)) return local.readStored(hash, rawLength);
      const cached = await fromCache(hash);
      if (cached) return cached;
      const recent = failed.get(hash);
      if (recent && performance.now() - recent.at < FAILED_FOR_MS) throw recent.error;
      const bytes = await fetcher.fetchBlock(hash, rawLength + MAX_STORED_OVERHEAD, (b) => sha256Hex(b) === hash).catch((error: unknown) => {
        failed.set(hash, { at: performance.now(), error });
        throw error;
      });
      failed.delete(hash);
      await keep(hash, bytes);
      return bytes;
    },
    async readLocal(hash, rawLength) {
      return inFile(hash) ? local.readStored(hash, rawLength) : fromCache(hash);
    },
    async prefetch(blocks) {
      const wanted = [];
      for (const b of blocks) if (!inFile(b.hash) && !(await fromCache(b.hash))) wanted.push(b);
      let bytes = 0;
      const items = wanted.map((b) => ({ hash: b.hash, maxBytes: b.size + MAX_STORED_OVERHEAD, verify: (x: Uint8Array) => sha256Hex(x) === b.hash }));
      for await (const got of fetcher.fetchMany(items, PARALLEL)) {
        await keep(got.hash, got.bytes);
        bytes += got.bytes.byteLength;
      }
      return { fetched: wanted.length, bytes };
    },
    async close() {
      fetcher.close();
      await local.close();
    },
  };
}
