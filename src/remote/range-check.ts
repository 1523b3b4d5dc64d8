import type { Verdict } from "./remote-error";
import { parseRetryAfter } from "./retry-after";

/**
 * What is ours on top of HTTP: a range answer must be exactly the range asked for, of the file
 * size learned earlier, or it is refused before one body byte is read. Bytes are judged later
 * by their hash; these checks keep a lying server from wasting a download or our memory.
 */

export type ByteRange = { start: number; end: number } | { suffix: number };

export interface Expectation {
  /** Hard cap on the body. */
  maxBytes: number;
  /** A range was asked for; the answer must then be a 206 for exactly that range. */
  range?: ByteRange;
  /** Size of the whole file as learned earlier: a Content-Range saying otherwise means it changed. */
  expectedTotal?: number;
  /**
   * A server that ignores Range may answer with the whole file (a 200) of at most this many
   * bytes, and the caller takes what it needs from it (a registry's pack: every block is still
   * checked by its hash). Without it, such an answer is refused.
   */
  wholeIfIgnored?: number;
}

export type Headers = Record<string, string | string[] | undefined>;

export function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

export function rangeHeader(r: ByteRange): string {
  return "start" in r ? `bytes=${r.start}-${r.end}` : `bytes=-${r.suffix}`;
}

/** Everything decidable from the status line and headers, before one body byte is read. */
export function checkHeaders(status: number, h: Headers, o: Expectation, now = Date.now()): Verdict | undefined {
  const bad = statusProblem(status, h, now);
  if (bad) return bad;
  const encoding = header(h, "content-encoding");
  if (encoding && encoding !== "identity") return protocol(`sent a ${encoding}-encoded body although none was accepted`);
  const length = header(h, "content-length");
  const declared = length === undefined ? undefined : Number(length);
  if (declared !== undefined && !(Number.isSafeInteger(declared) && declared >= 0)) return protocol("sent an invalid Content-Length");
  if (o.range && status === 200 && o.wholeIfIgnored !== undefined) {
    if (declared !== undefined && declared > o.wholeIfIgnored) return { kind: "too-large", reason: `ignored Range and announced ${declared} bytes where at most ${o.wholeIfIgnored} were expected; not read` };
    return undefined;
  }
  if (o.range && status === 200) {
    // The server ignored Range. Only a suffix request for more than the whole file is then
    // equivalent (the whole file is the answer); anything else would be the wrong bytes.
    if ("suffix" in o.range && declared !== undefined && declared <= o.range.suffix) return undefined;
    return protocol("ignores Range requests (answered 200 instead of 206); serve the bundle from a server that supports them, or publish it as a folder");
  }
  if (declared !== undefined && declared > o.maxBytes) return { kind: "too-large", reason: `announced ${declared} bytes where at most ${o.maxBytes} were expected; not read` };
  if (!o.range) return status === 200 ? undefined : protocol(`answered ${status} to a plain request`);
  return checkContentRange(parseContentRange(header(h, "content-range")), h, declared, o.range, o);
}

function statusProblem(status: number, h: Headers, now: number): Verdict | undefined {
  if (status === 404 || status === 410) return { kind: "not-found", reason: `not found (${status})`, status };
  if (status >= 500 || status === 408 || status === 429) {
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(header(h, "retry-after"), now) : undefined;
    return { kind: "server", reason: `server error ${status}`, status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
  if (status === 416) return { kind: "refused", reason: "answered 416 (range not satisfiable): the file there is shorter than its table of contents says", status };
  if (status !== 200 && status !== 206) return { kind: "refused", reason: `answered ${status}`, status };
  return undefined;
}

function checkContentRange(cr: ContentRange | undefined, h: Headers, declared: number | undefined, range: ByteRange, o: Expectation): Verdict | undefined {
  if (!cr) return protocol(`answered 206 with an unusable Content-Range (${header(h, "content-range") ?? "none"})`);
  if (o.expectedTotal !== undefined && cr.total !== o.expectedTotal) return protocol(`the file changed on the server (now ${cr.total} bytes, was ${o.expectedTotal}); try again`);
  const want = "start" in range ? range : { start: Math.max(0, cr.total - range.suffix), end: cr.total - 1 };
  if (cr.start !== want.start || cr.end !== want.end) return protocol(`answered bytes ${cr.start}-${cr.end} for bytes ${want.start}-${want.end}`);
  if (declared !== undefined && declared !== cr.end - cr.start + 1) return protocol("sent a Content-Length that does not match its Content-Range");
  if (cr.end - cr.start + 1 > o.maxBytes) return { kind: "too-large", reason: `answered a range larger than ${o.maxBytes} bytes` };
  return undefined;
}

/** After the body: a 206 must have carried exactly its range (a chunked one has no Content-Length). */
export function checkBody(status: number, h: Headers, received: number): Verdict | undefined {
  const declared = header(h, "content-length");
  if (declared !== undefined && Number(declared) !== received) return { kind: "interrupted", reason: `sent ${received} of the ${declared} bytes it announced` };
  const cr = parseContentRange(header(h, "content-range"));
  if (status === 206 && cr && cr.end - cr.start + 1 !== received) return protocol(`sent ${received} bytes for a ${cr.end - cr.start + 1}-byte range`);
  return undefined;
}

/** Size of the whole file: from Content-Range, or the body of a plain 200. */
export function totalOf(status: number, h: Headers, received: number): number | undefined {
  const cr = parseContentRange(header(h, "content-range"));
  return cr ? cr.total : status === 200 ? received : undefined;
}

export interface ContentRange {
  start: number;
  end: number;
  total: number;
}

export function parseContentRange(v: string | undefined): ContentRange | undefined {
  const m = v && /^bytes (\d{1,15})-(\d{1,15})\/(\d{1,15})$/.exec(v.trim());
  if (!m) return undefined;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return start <= end && end < total ? { start, end, total } : undefined;
}

const protocol = (reason: string): Verdict => ({ kind: "protocol", reason });
