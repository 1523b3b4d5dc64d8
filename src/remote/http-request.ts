import * as http from "node:http";
import * as https from "node:https";
import * as tls from "node:tls";
import { VmsfxError } from "../errors";

/**
 * One HTTP GET with every check a block download needs, and nothing else: no retries (see
 * withRetries), no fail-over (see http-fetcher.ts). Whatever the server does — lies about
 * lengths, ignores Range, drips bytes, redirects in circles, never answers — this either resolves
 * with a body that passed the checks below or rejects with a RemoteError, within bounded time
 * and bounded memory. It never judges the bytes: callers verify them against their hash.
 */

export interface RequestLimits {
  /** Whole request, redirects included: a request never lives longer than this. */
  timeoutMs: number;
  /** No byte received for this long (before or after the headers): give up. */
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

export type ByteRange = { start: number; end: number } | { suffix: number };

export interface GetOptions {
  limits: RequestLimits;
  /** Hard cap on the body: the socket is destroyed as soon as more would arrive. */
  maxBytes: number;
  /** Ask for a range; the answer must then be a 206 for exactly that range. */
  range?: ByteRange;
  /** Size of the whole file as learned earlier: a Content-Range saying otherwise means it changed. */
  expectedTotal?: number;
  agents: { http: http.Agent; https: https.Agent };
  signal?: AbortSignal;
}

export interface GetResult {
  body: Buffer;
  /** Size of the whole file, from Content-Range (or the body, for a 200). */
  total?: number;
}

/**
 * unreachable: nothing answered (refused, DNS, no headers in time). interrupted: the answer broke
 * off. server: 5xx/408/429. The rest are answers that will not get better by asking again.
 */
export type FailureKind = "unreachable" | "interrupted" | "server" | "not-found" | "refused" | "protocol" | "too-large" | "mismatch" | "aborted";

const RETRYABLE: ReadonlySet<FailureKind> = new Set(["unreachable", "interrupted", "server"]);

/** TODO(errors.ts): VMSFX_IO until a network code exists (see the report that added this file). */
export class RemoteError extends VmsfxError {
  readonly retryable: boolean;
  constructor(
    readonly kind: FailureKind,
    readonly url: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super("VMSFX_IO", `${url}: ${reason}`, options);
    this.retryable = RETRYABLE.has(kind);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function httpGet(url: string, o: GetOptions): Promise<GetResult> {
  return new Promise<GetResult>((resolve, reject) => {
    let current: URL;
    try {
      current = new URL(url);
    } catch {
      reject(new RemoteError("refused", url, "is not a valid URL. Check the server address."));
      return;
    }
    let req: http.ClientRequest | undefined;
    let settled = false;
    let gotHeaders = false;
    let windowBytes = 0;
    let idle: NodeJS.Timeout | undefined;
    let meter: NodeJS.Timeout | undefined;
    const overall = setTimeout(() => fail(gotHeaders ? "interrupted" : "unreachable", `no complete answer within ${o.limits.timeoutMs} ms`), o.limits.timeoutMs);
    const onAbort = () => fail("aborted", "cancelled");
    const cleanup = () => {
      clearTimeout(overall);
      clearTimeout(idle);
      clearInterval(meter);
      o.signal?.removeEventListener("abort", onAbort);
    };
    const fail = (kind: FailureKind, reason: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      cleanup();
      req?.destroy(); // never leave a half-read socket in the keep-alive pool
      reject(new RemoteError(kind, current.href, reason, { cause }));
    };
    // Timers run before pending socket reads in Node's loop, so after a stall of the process
    // itself (GC, a busy main thread) a timer could blame the server for bytes that already
    // arrived. Each verdict is therefore taken in setImmediate, after those reads were delivered.
    let activity = 0;
    const touch = () => {
      activity++;
      clearTimeout(idle);
      const seen = activity;
      idle = setTimeout(() => setImmediate(() => {
        if (activity === seen) fail(gotHeaders ? "interrupted" : "unreachable", `stalled: nothing received for ${o.limits.idleTimeoutMs} ms`);
      }), o.limits.idleTimeoutMs);
    };
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener("abort", onAbort);

    const send = (target: URL, hops: number) => {
      if (target.protocol !== "http:" && target.protocol !== "https:") return fail("refused", `${target.protocol} is not supported; use an http:// or https:// address`);
      current = target;
      gotHeaders = false;
      touch();
      const headers: http.OutgoingHttpHeaders = { "accept-encoding": "identity", "user-agent": "vmsfx" };
      if (o.range) headers.range = "start" in o.range ? `bytes=${o.range.start}-${o.range.end}` : `bytes=-${o.range.suffix}`;
      const mod = target.protocol === "https:" ? https : http;
      const agent = target.protocol === "https:" ? o.agents.https : o.agents.http;
      const mine = mod.get(target, { agent, headers }, (res) => {
        if (settled || req !== mine) return void res.destroy();
        gotHeaders = true;
        touch();
        const status = res.statusCode ?? 0;
        if (REDIRECTS.has(status)) return redirect(res, target, hops);
        const problem = checkHeaders(res, o);
        if (problem) return fail(problem[0], problem[1]);
        readBody(res);
      });
      req = mine;
      mine.on("error", (e: NodeJS.ErrnoException) => {
        if (req !== mine) return; // an earlier hop we already left
        // A certificate problem is an answer, not an outage: retrying will not fix it.
        if (isTlsError(e)) return fail("refused", `its TLS certificate is not trusted (${e.code}); check the address, or the system's certificate store (NODE_EXTRA_CA_CERTS)`, e);
        fail(gotHeaders ? "interrupted" : "unreachable", describeNetError(e), e);
      });
    };

    const redirect = (res: http.IncomingMessage, from: URL, hops: number) => {
      res.destroy(); // a redirect's body is never needed, and could be endless
      const location = res.headers.location;
      if (!location) return fail("protocol", `answered ${res.statusCode} without a Location`);
      if (hops >= o.limits.maxRedirects) return fail("protocol", `more than ${o.limits.maxRedirects} redirects (a redirect loop?). Check the server address`);
      let next: URL;
      try {
        next = new URL(location, from);
      } catch {
        return fail("protocol", "redirects to an invalid address");
      }
      if (next.protocol !== "http:" && next.protocol !== "https:") return fail("protocol", `redirects to ${next.protocol} which is not supported; refused`);
      // Same server, or anywhere over https: a plain-http redirect to another host could be
      // anyone on the path. (Blocks are hash-checked anyway; this keeps requests honest.)
      if (next.origin !== from.origin && next.protocol !== "https:") return fail("protocol", `redirects to ${next.origin}, another server over plain http; refused`);
      send(next, hops + 1);
    };

    const readBody = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      let received = 0;
      meter = setInterval(() => setImmediate(() => {
        const floor = (o.limits.minBytesPerSec * o.limits.throughputWindowMs) / 1000;
        if (windowBytes < floor) fail("interrupted", `too slow: ${windowBytes} bytes in ${o.limits.throughputWindowMs} ms (minimum ${o.limits.minBytesPerSec} bytes/s)`);
        windowBytes = 0;
      }), o.limits.throughputWindowMs);
      res.on("data", (chunk: Buffer) => {
        if (settled) return;
        received += chunk.byteLength;
        windowBytes += chunk.byteLength;
        if (received > o.maxBytes) return fail("too-large", `sent more than the ${o.maxBytes} bytes expected; stopped reading`);
        chunks.push(chunk);
        touch();
      });
      res.on("error", (e) => fail("interrupted", `the answer broke off after ${received} bytes (${describeNetError(e)})`, e));
      res.on("close", () => {
        if (!res.complete) fail("interrupted", `the answer broke off after ${received} bytes`);
      });
      res.on("end", () => {
        if (settled) return;
        const body = Buffer.concat(chunks, received);
        const declared = res.headers["content-length"];
        if (declared !== undefined && Number(declared) !== received) return fail("interrupted", `sent ${received} of the ${declared} bytes it announced`);
        const cr = parseContentRange(res.headers["content-range"]);
        if (res.statusCode === 206 && cr && cr.end - cr.start + 1 !== received) return fail("protocol", `sent ${received} bytes for a ${cr.end - cr.start + 1}-byte range`);
        settled = true;
        cleanup();
        resolve({ body, total: cr ? cr.total : res.statusCode === 200 ? received : undefined });
      });
    };

    send(current, 0);
  });
}

/** Everything decidable from the status line and headers, before one body byte is read. */
function checkHeaders(res: http.IncomingMessage, o: GetOptions): [FailureKind, string] | undefined {
  const status = res.statusCode ?? 0;
  if (status === 404 || status === 410) return ["not-found", `not found (${status})`];
  if (status >= 500 || status === 408 || status === 429) return ["server", `server error ${status}`];
  if (status === 416) return ["refused", "answered 416 (range not satisfiable): the file there is shorter than its table of contents says"];
  if (status !== 200 && status !== 206) return ["refused", `answered ${status}`];
  const encoding = res.headers["content-encoding"];
  if (encoding && encoding !== "identity") return ["protocol", `sent a ${encoding}-encoded body although none was accepted`];
  const declared = res.headers["content-length"] === undefined ? undefined : Number(res.headers["content-length"]);
  if (declared !== undefined && !(Number.isSafeInteger(declared) && declared >= 0)) return ["protocol", "sent an invalid Content-Length"];
  if (o.range && status === 200) {
    // The server ignored Range. Only a suffix request for more than the whole file is then
    // equivalent (the whole file is the answer); anything else would be the wrong bytes.
    if ("suffix" in o.range && declared !== undefined && declared <= o.range.suffix) return undefined;
    return ["protocol", "ignores Range requests (answered 200 instead of 206); serve the bundle from a server that supports them, or publish it as a folder"];
  }
  if (declared !== undefined && declared > o.maxBytes) return ["too-large", `announced ${declared} bytes where at most ${o.maxBytes} were expected; not read`];
  if (!o.range) return status === 200 ? undefined : ["protocol", `answered ${status} to a plain request`];
  const cr = parseContentRange(res.headers["content-range"]);
  if (!cr) return ["protocol", `answered 206 with an unusable Content-Range (${res.headers["content-range"] ?? "none"})`];
  if (o.expectedTotal !== undefined && cr.total !== o.expectedTotal) return ["protocol", `the file changed on the server (now ${cr.total} bytes, was ${o.expectedTotal}); try again`];
  const want = "start" in o.range ? o.range : { start: Math.max(0, cr.total - o.range.suffix), end: cr.total - 1 };
  if (cr.start !== want.start || cr.end !== want.end) return ["protocol", `answered bytes ${cr.start}-${cr.end} for bytes ${want.start}-${want.end}`];
  if (declared !== undefined && declared !== cr.end - cr.start + 1) return ["protocol", "sent a Content-Length that does not match its Content-Range"];
  if (cr.end - cr.start + 1 > o.maxBytes) return ["too-large", `answered a range larger than ${o.maxBytes} bytes`];
  return undefined;
}

export function parseContentRange(v: string | undefined): { start: number; end: number; total: number } | undefined {
  const m = v && /^bytes (\d{1,15})-(\d{1,15})\/(\d{1,15})$/.exec(v.trim());
  if (!m) return undefined;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return start <= end && end < total ? { start, end, total } : undefined;
}

function isTlsError(e: NodeJS.ErrnoException): boolean {
  return /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/.test(e.code ?? "");
}

function describeNetError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "server name not found";
    case "ECONNRESET":
      return "connection reset";
    case "ETIMEDOUT":
      return "connection timed out";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "no route to the server";
    default:
      return e.code ? `${e.code}` : e.message;
  }
}

export interface RetryPolicy {
  /** Further attempts after the first, on retryable failures only. */
  retries: number;
  backoffMs: number;
  backoffMaxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, backoffMs: 250, backoffMaxMs: 4_000 };

/** Exponential, with "equal jitter": half fixed, half random, so clients that failed together spread out. */
export function backoffDelay(attempt: number, p: RetryPolicy, random = Math.random): number {
  const cap = Math.min(p.backoffMaxMs, p.backoffMs * 2 ** attempt);
  return cap / 2 + random() * (cap / 2);
}

export async function withRetries<T>(p: RetryPolicy, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof RemoteError) || !e.retryable || n >= p.retries) throw e;
      await sleep(backoffDelay(n, p), signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RemoteError("aborted", "(remote)", "cancelled"));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(t);
      reject(new RemoteError("aborted", "(remote)", "cancelled"));
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}

export interface ClientOptions {
  limits: RequestLimits;
  retry: RetryPolicy;
  /** Sockets per server; keep-alive, so a burst of block requests reuses a few connections. */
  maxSockets: number;
  /** Extra trusted certificate authorities for https remotes (PEM), besides the system's. */
  ca?: string | Buffer;
}

export interface GetRequest {
  maxBytes: number;
  range?: ByteRange;
  expectedTotal?: number;
  signal?: AbortSignal;
}

/** Agents and limits shared by every request of one launch; close() drops the idle sockets. */
export class HttpClient {
  readonly options: ClientOptions;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly gate: Gate;

  constructor(o: Partial<ClientOptions> = {}) {
    this.options = { limits: { ...DEFAULT_LIMITS, ...o.limits }, retry: { ...DEFAULT_RETRY, ...o.retry }, maxSockets: o.maxSockets ?? 6, ca: o.ca };
    const agent = { keepAlive: true, maxSockets: this.options.maxSockets, maxFreeSockets: this.options.maxSockets };
    this.agents = { http: new http.Agent(agent), https: new https.Agent(o.ca ? { ...agent, ca: [...tls.rootCertificates, o.ca] } : agent) };
    this.gate = new Gate(this.options.maxSockets);
  }

  /** One GET, retried with backoff on network errors, resets, timeouts and 5xx. */
  get(url: string, r: GetRequest): Promise<GetResult> {
    // The gate keeps requests out of the agent's own queue: a request's timers start when it is
    // sent, so one queued behind busy sockets must not be counting down already.
    return withRetries(this.options.retry, r.signal, () => this.gate.run(() => httpGet(url, { ...r, limits: this.options.limits, agents: this.agents })));
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
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
