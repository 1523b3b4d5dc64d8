import * as tls from "node:tls";
import type { Agent as AgentClass, Dispatcher } from "undici";
import { newAgent, request } from "./undici-parts";
import { checkBody, checkHeaders, header, rangeHeader, totalOf, type Expectation } from "./range-check";
import { hopFor, nextHop, REDIRECTS, type Hop } from "./redirect-policy";
import { netVerdict } from "./net-errors";
import { RemoteError, type Verdict } from "./remote-error";
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from "./retry-policy";
import { startThroughputFloor } from "./throughput-floor";

export { RemoteError, type FailureKind } from "./remote-error";
export { parseContentRange, type ByteRange } from "./range-check";
export { backoffDelay, DEFAULT_RETRY, sleep, withRetries, type RetryPolicy } from "./retry-policy";

/**
 * One HTTP GET with every check a block download needs, over undici (connection pool,
 * keep-alive, connect/headers/body timeouts): no retries (see withRetries), no fail-over (see
 * http-fetcher.ts). Whatever the server does — lies about lengths, ignores Range, drips bytes,
 * redirects in circles, never answers — this either resolves with a body that passed the checks
 * in range-check.ts or rejects with a RemoteError, within bounded time and bounded memory. It
 * never judges the bytes: callers verify them against their hash.
 */

export interface RequestLimits {
  /** Whole request, redirects included: a request never lives longer than this. */
  timeoutMs: number;
  /** No byte received for this long (connecting, before or after the headers): give up. */
  idleTimeoutMs: number;
  /** A body slower than this over any full window fails, so a slow drip cannot stall a launch. */
  minBytesPerSec: number;
  throughputWindowMs: number;
  maxRedirects: number;
}

export const DEFAULT_LIMITS: RequestLimits = {
  timeoutMs: 60_000,
  idleTimeoutMs: 10_000,
  minBytesPerSec: 4096,
  throughputWindowMs: 5_000,
  maxRedirects: 3,
};

export interface GetOptions extends Expectation {
  limits: RequestLimits;
  dispatcher: Dispatcher;
  signal?: AbortSignal;
  /** Sent to the first server only; a redirect to another origin goes without it (redirect-policy.ts). */
  authorization?: string;
}

export interface GetResult {
  body: Buffer;
  /** Size of the whole file, from Content-Range (or the body, for a 200). */
  total?: number;
  /** True when a range was asked for and the server sent the whole file (see `wholeIfIgnored`). */
  whole?: boolean;
}

export async function httpGet(url: string, o: GetOptions): Promise<GetResult> {
  const a = new Attempt(url, o);
  try {
    let hop = a.firstHop();
    for (let hops = 0; ; hops++) {
      const res = await a.send(hop);
      if (REDIRECTS.has(res.statusCode)) {
        discard(res); // a redirect's body is never needed, and could be endless
        const next = nextHop(hop, res.statusCode, header(res.headers, "location"), hops, o.limits.maxRedirects);
        if ("kind" in next) throw a.fail(next);
        hop = next;
        continue;
      }
      const problem = checkHeaders(res.statusCode, res.headers, o);
      if (problem) {
        discard(res); // never leave a half-read answer on a pooled connection
        throw a.fail(problem);
      }
      return await a.read(res);
    }
  } catch (e) {
    throw a.explain(e);
  } finally {
    a.end();
  }
}

/** Closes the answer's connection; undici reports that as an error nobody needs to hear. */
function discard(res: Dispatcher.ResponseData): void {
  res.body.on("error", () => undefined);
  res.body.destroy();
}

/**
 * The state of one request across its redirects. Every failure goes through fail(): the first
 * verdict wins and aborts the request, so whichever of undici's errors follows is not what the
 * user sees.
 */
class Attempt {
  private url: string;
  private answered = false;
  private verdict?: RemoteError;
  private readonly controller = new AbortController();
  private readonly overall: NodeJS.Timeout;
  private readonly onAbort = () => this.fail({ kind: "aborted", reason: "cancelled" });

  constructor(url: string, private readonly o: GetOptions) {
    this.url = url;
    const ms = o.limits.timeoutMs;
    this.overall = setTimeout(() => this.fail({ kind: this.answered ? "interrupted" : "unreachable", reason: `no complete answer within ${ms} ms` }), ms);
    if (o.signal?.aborted) this.onAbort();
    else o.signal?.addEventListener("abort", this.onAbort);
  }

  firstHop(): Hop {
    let target: URL;
    try {
      target = new URL(this.url);
    } catch {
      throw this.fail({ kind: "refused", reason: "is not a valid URL. Check the server address." });
    }
    this.url = target.href;
    if (target.protocol !== "http:" && target.protocol !== "https:") throw this.fail({ kind: "refused", reason: `${target.protocol} is not supported; use an http:// or https:// address` });
    const hop = hopFor(target);
    return this.o.authorization && !hop.authorization ? { ...hop, authorization: this.o.authorization } : hop;
  }

  async send(hop: Hop): Promise<Dispatcher.ResponseData> {
    if (this.verdict) throw this.verdict;
    this.url = hop.url.href;
    this.answered = false;
    const headers: Record<string, string> = { "accept-encoding": "identity", "user-agent": "vmsfx" };
    if (this.o.range) headers.range = rangeHeader(this.o.range);
    if (hop.authorization) headers.authorization = hop.authorization;
    const res = await request(this.o.dispatcher, { origin: hop.url.origin, path: `${hop.url.pathname}${hop.url.search}`, method: "GET", headers, signal: this.controller.signal });
    this.answered = true;
    if (this.verdict) {
      discard(res);
      throw this.verdict;
    }
    return res;
  }

  async read(res: Dispatcher.ResponseData): Promise<GetResult> {
    const floor = startThroughputFloor(this.o.limits, (reason) => this.fail({ kind: "interrupted", reason }));
    const whole = !!this.o.range && res.statusCode === 200 && this.o.wholeIfIgnored !== undefined;
    const max = whole ? this.o.wholeIfIgnored! : this.o.maxBytes;
    const chunks: Buffer[] = [];
    let received = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        received += chunk.byteLength;
        floor.add(chunk.byteLength);
        if (received > max) throw this.fail({ kind: "too-large", reason: `sent more than the ${max} bytes expected; stopped reading` });
        chunks.push(chunk);
      }
    } catch (e) {
      if (this.verdict) throw this.verdict;
      const v = netVerdict(e, true, this.o.limits.idleTimeoutMs);
      throw this.fail(v.kind === "interrupted" && !v.reason.startsWith("stalled") ? { kind: "interrupted", reason: `the answer broke off after ${received} bytes (${v.reason})` } : v, e);
    } finally {
      floor.stop();
    }
    const bad = checkBody(res.statusCode, res.headers, received);
    if (bad) throw this.fail(bad);
    return { body: Buffer.concat(chunks, received), total: totalOf(res.statusCode, res.headers, received), ...(whole ? { whole } : {}) };
  }

  fail(v: Verdict, cause?: unknown): RemoteError {
    if (!this.verdict) {
      this.verdict = new RemoteError(v.kind, this.url, v.reason, { cause, ...(v.retryAfterMs === undefined ? {} : { retryAfterMs: v.retryAfterMs }), ...(v.status === undefined ? {} : { status: v.status }) });
      this.controller.abort(this.verdict);
    }
    return this.verdict;
  }

  /** Any error, as the RemoteError the user sees. */
  explain(e: unknown): RemoteError {
    if (this.verdict) return this.verdict;
    if (e instanceof RemoteError) return e;
    return this.fail(netVerdict(e, this.answered, this.o.limits.idleTimeoutMs), e);
  }

  end(): void {
    clearTimeout(this.overall);
    this.o.signal?.removeEventListener("abort", this.onAbort);
  }
}

export interface ClientOptions {
  limits: RequestLimits;
  retry: RetryPolicy;
  /** Connections per server; keep-alive, so a burst of block requests reuses a few connections. */
  maxSockets: number;
  /** Extra trusted certificate authorities for https remotes (PEM), besides the system's. */
  ca?: string | Buffer;
}

export interface GetRequest extends Expectation {
  signal?: AbortSignal;
  authorization?: string;
}

/** The connection pool and limits shared by every request of one launch; close() ends them. */
export class HttpClient {
  readonly options: ClientOptions;
  private readonly dispatcher: AgentClass;
  private readonly gate: Gate;

  constructor(o: Partial<ClientOptions> = {}) {
    this.options = { limits: { ...DEFAULT_LIMITS, ...o.limits }, retry: { ...DEFAULT_RETRY, ...o.retry }, maxSockets: o.maxSockets ?? 6, ca: o.ca };
    const idle = this.options.limits.idleTimeoutMs;
    this.dispatcher = newAgent({
      connections: this.options.maxSockets, // per origin
      pipelining: 1,
      headersTimeout: idle,
      bodyTimeout: idle,
      connect: { timeout: idle, ...(o.ca ? { ca: [...tls.rootCertificates, o.ca] } : {}) },
    });
    this.gate = new Gate(this.options.maxSockets);
  }

  /** One GET, retried with backoff on network errors, resets, timeouts and 5xx (after Retry-After, capped). */
  get(url: string, r: GetRequest): Promise<GetResult> {
    // The gate keeps requests out of the pool's own queue: a request's timers start when it is
    // sent, so one queued behind busy connections must not be counting down already.
    return withRetries(this.options.retry, r.signal, () => this.gate.run(() => httpGet(url, { ...r, limits: this.options.limits, dispatcher: this.dispatcher })));
  }

  close(): void {
    this.dispatcher.destroy().catch(() => undefined);
  }
}

/** A counting semaphore; a released slot passes straight to the next waiter. */
class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly size: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.size) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
