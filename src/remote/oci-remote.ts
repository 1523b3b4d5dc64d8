import type { BlockHash } from "../snapshot/manifest";
import { sha256 } from "../snapshot/bundle-layout";
import { HttpClient } from "./http-request";
import { parseArtifact, type VmsfxArtifact } from "./oci-artifact";
import { locateBlocks, parsePackIndex, type Pack, type PackedBlock, type PackIndex } from "./pack-layout";
import { getManifest, readBlob, readSmallBlob } from "./registry-blobs";
import { RegistryClient, type RegistryOptions } from "./registry-client";
import { formatOciReference, manifestRef, type OciReference } from "../snapshot/oci-reference";
import { RemoteError } from "./remote-error";

/**
 * A registry as a thin bundle's server (remote kind "oci"). The pinned artifact's pack index is
 * read once; then each block is a byte range of its pack. Blocks asked for together are read
 * together: requests in the same turn are grouped by pack, and neighbours become one range
 * (fewer requests, which registries count). A registry that ignores Range sends a whole pack:
 * every block of it is handed to `keepExtra` (the block cache), each checked by its hash first.
 * The fetcher checks every block it gets against its name, as for any server.
 */

export interface OciRemoteOptions extends Pick<RegistryOptions, "credentials" | "env"> {
  /** Verified blocks that came along unasked (a whole pack): worth caching. */
  keepExtra?: (hash: BlockHash, bytes: Uint8Array) => Promise<void>;
}

interface Layout {
  artifact: VmsfxArtifact;
  index: PackIndex;
  at: Map<BlockHash, { pack: Pack; block: PackedBlock }>;
}

interface Waiter {
  pack: Pack;
  block: PackedBlock;
  resolve(bytes: Uint8Array): void;
  reject(e: unknown): void;
}

/** Neighbours this close are read in one range (the gap is read and dropped)… */
const MERGE_GAP = 64 << 10;
/** …up to this much per request. */
const MAX_RANGE = 8 << 20;

export class OciRemote {
  readonly client: RegistryClient;
  readonly where: string;
  private layout?: Promise<Layout>;
  private queue: Waiter[] = [];
  private readonly closing = new AbortController();

  constructor(
    readonly ref: OciReference,
    private readonly http: HttpClient,
    private readonly o: OciRemoteOptions = {},
  ) {
    this.client = new RegistryClient(ref, { credentials: o.credentials, env: o.env });
    this.where = formatOciReference(ref);
  }

  async fetchBlock(hash: BlockHash, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    const at = (await this.layoutOnce()).at.get(hash);
    if (!at) throw new RemoteError("not-found", this.where, `does not hold block ${hash.slice(0, 12)}…`);
    if (at.block.length > maxBytes) throw new RemoteError("too-large", this.where, `lists block ${hash.slice(0, 12)}… as ${at.block.length} bytes, more than the ${maxBytes} expected`);
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => this.flush());
      this.queue.push({ ...at, resolve, reject });
      signal?.addEventListener("abort", () => reject(new RemoteError("aborted", this.where, "cancelled")), { once: true });
    });
  }

  /** What the tag names now (for `--update`): the app's manifest and signature, and the reference pinned to it. */
  async latest(signal?: AbortSignal): Promise<{ manifestBytes: Buffer; signature?: Buffer; pinned: string }> {
    const tagged = { ...this.ref, digest: undefined };
    const { bytes, digest } = await getManifest(this.client, manifestRef(tagged));
    const a = parseArtifact(bytes, formatOciReference(tagged));
    const manifestBytes = await readSmallBlob(this.client, this.http, a.manifest.digest, a.manifest.size, signal);
    const signature = a.signature ? await readSmallBlob(this.client, this.http, a.signature.digest, a.signature.size, signal) : undefined;
    return { manifestBytes, ...(signature ? { signature } : {}), pinned: formatOciReference({ ...this.ref, digest }) };
  }

  close(): void {
    this.closing.abort();
    this.client.close();
  }

  /** The artifact and its pack index, read once; a failure that may pass is tried again next time. */
  private layoutOnce(): Promise<Layout> {
    if (!this.layout) {
      this.layout = readLayout(this.client, this.http, this.ref, this.closing.signal);
      this.layout.catch((e: unknown) => {
        if (!(e instanceof RemoteError) || e.retryable) this.layout = undefined;
      });
    }
    return this.layout;
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    const byPack = new Map<string, Waiter[]>();
    for (const w of batch) byPack.set(w.pack.digest, [...(byPack.get(w.pack.digest) ?? []), w]);
    for (const waiters of byPack.values()) for (const run of runsOf(waiters)) void this.readRun(run);
  }

  private async readRun(run: Waiter[]): Promise<void> {
    const pack = run[0].pack;
    const start = run[0].block.offset;
    const last = run[run.length - 1].block;
    const end = last.offset + last.length - 1;
    try {
      const got = await readBlob(this.client, this.http, pack.digest, { range: { start, end }, maxBytes: end - start + 1, size: pack.size, signal: this.closing.signal });
      const base = got.whole ? 0 : start;
      for (const w of run) w.resolve(got.body.subarray(w.block.offset - base, w.block.offset - base + w.block.length));
      if (got.whole) await this.keepRest(pack, got.body, new Set(run.map((w) => w.block.hash)));
    } catch (e) {
      for (const w of run) w.reject(e);
    }
  }

  /** A whole pack arrived: its other blocks go to the cache, each only if its bytes match its name. */
  private async keepRest(pack: Pack, body: Buffer, asked: Set<BlockHash>): Promise<void> {
    if (!this.o.keepExtra) return;
    for (const b of pack.blocks) {
      if (asked.has(b.hash)) continue;
      const bytes = body.subarray(b.offset, b.offset + b.length);
      if (sha256(bytes) === b.hash) await this.o.keepExtra(b.hash, bytes).catch(() => undefined);
    }
  }
}

/** Waiters of one pack, by offset, cut into runs of neighbours that one range request reads. */
export function runsOf<T extends { block: PackedBlock }>(waiters: T[]): T[][] {
  const sorted = [...waiters].sort((a, b) => a.block.offset - b.block.offset);
  const runs: T[][] = [];
  for (const w of sorted) {
    const run = runs[runs.length - 1];
    const first = run?.[0].block;
    const prev = run?.[run.length - 1].block;
    if (run && prev && first && w.block.offset <= prev.offset + prev.length + MERGE_GAP && w.block.offset + w.block.length - first.offset <= MAX_RANGE) run.push(w);
    else runs.push([w]);
  }
  return runs;
}

async function readLayout(client: RegistryClient, http: HttpClient, ref: OciReference, signal: AbortSignal): Promise<Layout> {
  const where = formatOciReference(ref);
  const { bytes } = await getManifest(client, manifestRef(ref));
  const artifact = parseArtifact(bytes, where);
  const index = parsePackIndex(await readSmallBlob(client, http, artifact.index.digest, artifact.index.size, signal), where);
  return { artifact, index, at: locateBlocks(index) };
}
