import { VmsfxError } from "../errors";
import type { BlockHash } from "../snapshot/manifest";
import { MAX_MANIFEST_LENGTH } from "../snapshot/bundle-layout";
import { HttpClient, RemoteError, type ClientOptions, type FailureKind } from "./http-request";
import { openRemoteBundle, type RemoteBundle } from "./remote-bundle";
import { OciRemote } from "./oci-remote";
import { isOciUrl, parseOciReference } from "../snapshot/oci-reference";

/**
 * Fetches the blocks a thin bundle does not hold from its servers ("remotes"), in the order the
 * manifest lists them. Two layouts:
 *   published: `<url>/blocks/<sha256>` (stored bytes), `<url>/manifest.json`, `<url>/signature`
 *   bundle:    a whole bundle file; footer and TOC are read once, then each block by range
 * A block is returned only after the caller's `verify` accepted it: bytes that fail it are
 * dropped and the next remote is asked. Network trouble (resets, timeouts, 5xx) is retried with
 * backoff on the same remote first; answers that will not improve (404, wrong bytes, a server
 * that ignores Range) move on at once. When no remote could provide a block the error is one
 * MissingBlocksError that says how many blocks and bytes are missing and why.
 */

export type RemoteSpec = { kind: "published"; url: string } | { kind: "bundle"; url: string } | { kind: "oci"; url: string };

/** The caller's integrity check (normally: SHA-256 of the bytes equals the block's name). */
export type Verify = (bytes: Uint8Array) => boolean;

export interface FetchItem {
  hash: BlockHash;
  /** Cap for this block's response; also what it counts for in the missing-bytes total. */
  maxBytes: number;
  verify: Verify;
}

export interface FetchedBlock {
  hash: BlockHash;
  bytes: Uint8Array;
  /** The remote that served it (for progress and messages). */
  remote: string;
}

export interface FetcherOptions extends Partial<ClientOptions> {
  /** fetchMany: bytes requested or fetched but not yet taken by the consumer. */
  maxInFlightBytes?: number;
  /** A remote that did not answer at all is skipped for this long, so offline fails fast. */
  downForMs?: number;
  /** Verified blocks a server sent unasked (a registry that ignores Range sends whole packs). */
  keepExtra?: (hash: BlockHash, bytes: Uint8Array) => Promise<void>;
}

/**
 * `offline` (VMSFX_OFFLINE) when no server answered at all: the user's connection. Otherwise
 * (VMSFX_REMOTE_FAILED) servers answered but lacked or mangled blocks: the publisher's side.
 */
export class MissingBlocksError extends VmsfxError {
  constructor(
    readonly blocks: number,
    readonly bytes: number,
    readonly offline: boolean,
    readonly reasons: string[],
    what = `${blocks} block${blocks === 1 ? "" : "s"} (${formatBytes(bytes)}) of this app`,
  ) {
    super(
      offline ? "VMSFX_OFFLINE" : "VMSFX_REMOTE_FAILED",
      offline
        ? `${what} ${blocks === 1 ? "is" : "are"} not on this computer and none of its servers answered: ${reasons.join("; ")}. Check the internet connection (or proxy and firewall) and try again.`
        : `${what} ${blocks === 1 ? "is" : "are"} not on this computer and its servers could not provide ${blocks === 1 ? "it" : "them"}: ${reasons.join("; ")}. Try again later; if this persists, the server copy is incomplete or damaged and the app's publisher must publish it again.`,
    );
  }
}

const HASH = /^[0-9a-f]{64}$/;
const MAX_RESPONSE = 64 << 20;
const MAX_SIGNATURE = 4096;

interface Remote {
  spec: RemoteSpec;
  /** Base with a trailing slash, so relative names resolve inside it. */
  base: string;
  downUntil: number;
  downReason?: string;
  bundle?: Promise<RemoteBundle>;
  oci?: OciRemote;
}

interface Failure {
  remote: string;
  kind: FailureKind | "invalid";
  reason: string;
}

export class HttpFetcher {
  private readonly client: HttpClient;
  private readonly remotes: Remote[];
  private readonly closing = new AbortController();
  private readonly maxInFlightBytes: number;
  private readonly downForMs: number;
  private readonly keepExtra?: FetcherOptions["keepExtra"];

  constructor(remotes: RemoteSpec[], opts: FetcherOptions = {}) {
    if (remotes.length === 0) throw new VmsfxError("VMSFX_USAGE", "a thin bundle needs at least one remote URL (pack it with --remote URL).");
    this.keepExtra = opts.keepExtra;
    this.remotes = remotes.map((spec) => {
      if (spec.kind === "oci") return { spec, base: spec.url, downUntil: 0, oci: undefined };
      const u = new URL(spec.url); // throws on junk early, not per block
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new VmsfxError("VMSFX_USAGE", `${spec.url}: remotes must be http://, https:// or oci:// addresses.`);
      return { spec, base: spec.kind === "published" && !spec.url.endsWith("/") ? `${spec.url}/` : spec.url, downUntil: 0 };
    });
    this.client = new HttpClient(opts);
    this.maxInFlightBytes = opts.maxInFlightBytes ?? 32 << 20;
    this.downForMs = opts.downForMs ?? 30_000;
  }

  /** One block, verified, from the first remote that can provide it. */
  async fetchBlock(hash: BlockHash, expectedMaxBytes: number, verify: Verify, signal?: AbortSignal): Promise<Uint8Array> {
    return (await this.fetchOne({ hash, maxBytes: expectedMaxBytes, verify }, signal)).bytes;
  }

  /**
   * Many blocks, yielded as they complete (not in order). At most `concurrency` requests run at
   * once (and never more than maxSockets), and at most maxInFlightBytes are reserved for blocks
   * requested or fetched but not yet taken. Blocks no remote could provide are collected; after
   * the others are yielded, one MissingBlocksError reports them all.
   */
  async *fetchMany(items: Iterable<FetchItem>, concurrency = this.client.options.maxSockets): AsyncGenerator<FetchedBlock> {
    const todo = [...items];
    const stop = new AbortController();
    const done: { item: FetchItem; cost: number; block?: FetchedBlock; error?: unknown }[] = [];
    const missing: { item: FetchItem; error: MissingBlocksError }[] = [];
    let next = 0;
    let running = 0;
    let reserved = 0;
    let wake: (() => void) | undefined;
    const limit = Math.max(1, Math.min(concurrency, this.client.options.maxSockets));
    const start = () => {
      while (next < todo.length && running < limit) {
        const item = todo[next];
        const cost = Math.min(item.maxBytes, this.maxInFlightBytes);
        if (reserved > 0 && reserved + cost > this.maxInFlightBytes) return;
        next++;
        running++;
        reserved += cost;
        this.fetchOne(item, stop.signal).then(
          (block) => done.push({ item, cost, block }),
          (error) => done.push({ item, cost, error }),
        ).finally(() => {
          running--;
          wake?.();
        });
      }
    };
    try {
      start();
      while (next < todo.length || running > 0 || done.length > 0) {
        const r = done.shift();
        if (!r) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        if (r.block) yield r.block; // the reservation is released only once the consumer took it
        else if (r.error instanceof MissingBlocksError) missing.push({ item: r.item, error: r.error });
        else throw r.error;
        reserved -= r.cost;
        start();
      }
    } finally {
      stop.abort(); // the consumer stopped early, or an unexpected error: cancel what still runs
    }
    if (missing.length > 0) {
      const reasons = [...new Set(missing.flatMap((m) => m.error.reasons))];
      const shown = reasons.length > 6 ? [...reasons.slice(0, 5), `and ${reasons.length - 5} more`] : reasons;
      const bytes = missing.reduce((s, m) => s + m.item.maxBytes, 0);
      throw new MissingBlocksError(missing.length, bytes, missing.every((m) => m.error.offline), shown);
    }
  }

  /**
   * The manifest and signature from the first remote that has them. A bundle remote's manifest
   * is checked against its TOC; a published one is only as good as `verify` (compare it with a
   * known hash, or check its signature), which is why callers should pass one.
   */
  async fetchManifest(verify?: (manifest: Buffer, signature?: Buffer) => boolean, signal?: AbortSignal): Promise<{ manifestBytes: Buffer; signature?: Buffer; remote: string }> {
    const failures: Failure[] = [];
    for (const r of this.remotes) {
      try {
        const s = this.signal(signal);
        let manifestBytes: Buffer;
        let signature: Buffer | undefined;
        let remote = r.spec.url;
        if (r.spec.kind === "oci") {
          // A registry's tag moves to each new version: the reference pinned to what it names now is this version's server.
          const got = await this.ociOf(r).latest(s);
          [manifestBytes, signature, remote] = [got.manifestBytes, got.signature, got.pinned];
        } else if (r.spec.kind === "bundle") {
          const b = await this.bundleOf(r);
          [manifestBytes, signature] = [await b.readManifest(s), await b.readSignature(s)];
        } else {
          manifestBytes = (await this.client.get(new URL("manifest.json", r.base).href, { maxBytes: MAX_MANIFEST_LENGTH, signal: s })).body;
          signature = await this.client.get(new URL("signature", r.base).href, { maxBytes: MAX_SIGNATURE, signal: s }).then(
            (res) => res.body,
            (e) => (e instanceof RemoteError && e.kind === "not-found" ? undefined : Promise.reject(e)),
          );
        }
        if (verify && !safely(() => verify(manifestBytes, signature))) throw new RemoteError("mismatch", r.spec.url, "sent a manifest that does not match this app's");
        return { manifestBytes, signature, remote };
      } catch (e) {
        failures.push(this.failed(r, e, signal));
      }
    }
    throw missingError(failures, "the manifest of this app", 1, 0);
  }

  /** Cancels everything in flight and closes idle connections. */
  close(): void {
    this.closing.abort();
    this.client.close();
    for (const r of this.remotes) {
      r.bundle?.then((b) => b.close(), () => {});
      r.oci?.close();
    }
  }

  private async fetchOne(item: FetchItem, signal?: AbortSignal): Promise<FetchedBlock> {
    if (!HASH.test(item.hash)) throw new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `"${item.hash.slice(0, 80)}" is not a block name (64 hex digits); the manifest is malformed.`);
    const failures: Failure[] = [];
    for (const r of this.remotes) {
      if (r.downUntil > Date.now()) {
        failures.push({ remote: r.spec.url, kind: "unreachable", reason: r.downReason ?? "did not answer" });
        continue;
      }
      try {
        return { hash: item.hash, bytes: await this.fromRemote(r, item, this.signal(signal)), remote: r.spec.url };
      } catch (e) {
        failures.push(this.failed(r, e, signal));
      }
    }
    throw missingError(failures, undefined, 1, item.maxBytes);
  }

  private async fromRemote(r: Remote, item: FetchItem, signal: AbortSignal): Promise<Uint8Array> {
    const max = Math.min(item.maxBytes, MAX_RESPONSE);
    let bytes: Uint8Array;
    if (r.spec.kind === "published") {
      bytes = (await this.client.get(new URL(`blocks/${item.hash}`, r.base).href, { maxBytes: max, signal })).body;
    } else if (r.spec.kind === "oci") {
      bytes = await this.ociOf(r).fetchBlock(item.hash, max, signal);
    } else {
      const b = await this.bundleOf(r);
      const e = b.entry(item.hash);
      if (!e) throw new RemoteError("not-found", b.url, `does not hold block ${item.hash.slice(0, 12)}…`);
      if (e.length > max) throw new RemoteError("too-large", b.url, `lists block ${item.hash.slice(0, 12)}… as ${e.length} bytes, more than the ${max} expected`);
      bytes = e.length === 0 ? new Uint8Array(0) : (await this.client.get(b.url, { range: b.rangeOf(e), maxBytes: e.length, expectedTotal: b.fileSize, signal })).body;
    }
    // Wrong bytes are never retried here: a remote that served them once is not trusted for this block.
    if (!safely(() => item.verify(bytes))) throw new RemoteError("mismatch", r.spec.url, `sent bytes that do not match block ${item.hash.slice(0, 12)}… (SHA-256 differs)`);
    return bytes;
  }

  /**
   * Opened once per remote and shared by every block; reopened later only if opening failed for
   * a reason that may pass. Only close() cancels it: one caller giving up must not fail the others.
   */
  private bundleOf(r: Remote): Promise<RemoteBundle> {
    if (!r.bundle) {
      r.bundle = openRemoteBundle(r.spec.url, { client: this.client, signal: this.closing.signal });
      r.bundle.catch((e) => {
        if (e instanceof RemoteError && (e.retryable || e.kind === "aborted")) r.bundle = undefined;
      });
    }
    return r.bundle;
  }

  private ociOf(r: Remote): OciRemote {
    r.oci ??= new OciRemote(parseOciReference(r.spec.url), this.client, { keepExtra: this.keepExtra });
    return r.oci;
  }

  private signal(extra?: AbortSignal): AbortSignal {
    return extra ? AbortSignal.any([this.closing.signal, extra]) : this.closing.signal;
  }

  /** Records why a remote failed; cancellation is not a remote's failure and propagates. */
  private failed(r: Remote, e: unknown, signal?: AbortSignal): Failure {
    if (this.closing.signal.aborted || signal?.aborted) throw e instanceof RemoteError && e.kind === "aborted" ? e : new RemoteError("aborted", r.spec.url, "cancelled", { cause: e });
    if (e instanceof RemoteError) {
      if (e.kind === "unreachable") {
        r.downUntil = Date.now() + this.downForMs;
        r.downReason = e.reason;
      }
      return { remote: r.spec.url, kind: e.kind, reason: e.reason };
    }
    // Quoted after the remote's URL, so its reason: what went wrong, without the place or advice.
    if (e instanceof VmsfxError) return { remote: r.spec.url, kind: "invalid", reason: e.reason };
    throw e; // a bug, not a server's fault: let it surface
  }
}

function missingError(failures: Failure[], what: string | undefined, blocks: number, bytes: number): MissingBlocksError {
  const reasons = failures.map((f) => `${f.remote} (${f.reason})`);
  const offline = failures.every((f) => f.kind === "unreachable");
  return new MissingBlocksError(blocks, bytes, offline, reasons, what);
}

function safely(check: () => boolean): boolean {
  try {
    return check() === true;
  } catch {
    return false; // a verifier that throws has not vouched for the bytes
  }
}

export function formatBytes(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/**
 * The manifest lists remotes as plain URLs. Convention: oci:// (oci+http://) is a registry; a URL ending in "/" is a published
 * folder; anything else is a bundle file (`.vmsfx` or a one-file executable) read by range.
 */
export function remoteFromUrl(url: string): RemoteSpec {
  if (isOciUrl(url)) return { kind: "oci", url };
  return new URL(url).pathname.endsWith("/") ? { kind: "published", url } : { kind: "bundle", url };
}
