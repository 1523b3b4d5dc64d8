import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { promises as fsp } from "node:fs";
import * as path from "node:path";

/**
 * A static HTTP server on 127.0.0.1 (never another interface) that serves a folder and/or single
 * files, with single-range support like a real static server, and injects faults on request.
 * Everything it does is bounded: at most `maxRequests` requests are served (the rest get 503),
 * drips stop after the body or `maxDripMs`, and close() destroys every socket and timer, so a
 * test that forgets a fault cannot hang.
 */

export type Fault =
  | { kind: "latency"; ms: number } // then the normal answer
  | { kind: "status"; status: number } // e.g. 500, 404
  | { kind: "reset"; afterBytes: number } // TCP RST after part of the body
  | { kind: "wrong-length"; delta: number } // Content-Length lies by delta; the real body follows
  | { kind: "ignore-range" } // 200 with the whole file when a range was asked
  | { kind: "flood"; bytes: number } // 200, no Content-Length, endless-looking body (backpressured)
  | { kind: "corrupt" } // one byte flipped
  | { kind: "drip"; bytes: number; everyMs: number } // correct headers, then a trickle
  | { kind: "redirect"; location: string } // 302 to location ("." = the same path: a loop)
  | { kind: "oversize"; extra: number; declare: boolean } // body + extra bytes, announced or chunked
  | { kind: "hang" } // accept the request, never answer
  | { kind: "bad-content-range" }; // 206 whose Content-Range is shifted by one

export interface FaultRule {
  /** Which request paths it applies to (default: all). */
  path?: string | RegExp;
  fault: Fault;
  /** How many matching requests it applies to (default: all of them). */
  times?: number;
}

export interface RequestRecord {
  path: string;
  range?: string;
  status: number;
  fault?: Fault["kind"];
  /** Body bytes handed to the socket before it ended. */
  bytesWritten: number;
  /** The client went away before the answer was complete. */
  aborted: boolean;
}

export interface FaultServer {
  url: string;
  origin: string;
  requests: RequestRecord[];
  rules: FaultRule[];
  /** Most requests in progress at one time, and distinct TCP connections, since start. */
  stats: { maxConcurrent: number; connections: number; overflow: boolean };
  countFor(pattern: string | RegExp): number;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Serve this folder's files under "/". */
  dir?: string;
  /** Serve these files at these paths (e.g. { "/app.vmsfx": file }). */
  files?: Record<string, string>;
  rules?: FaultRule[];
  maxRequests?: number;
  maxDripMs?: number;
  /** Serve https with this key and certificate (PEM) instead of plain http. */
  tls?: { key: string; cert: string };
}

export async function startFaultServer(o: ServeOptions): Promise<FaultServer> {
  const rules = o.rules ?? [];
  const requests: RequestRecord[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const stats = { maxConcurrent: 0, connections: 0, overflow: false };
  const maxRequests = o.maxRequests ?? 300;
  let active = 0;
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    active++;
    stats.maxConcurrent = Math.max(stats.maxConcurrent, active);
    const reqPath = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const rec: RequestRecord = { path: reqPath, range: req.headers.range, status: 0, bytesWritten: 0, aborted: false };
    requests.push(rec);
    res.on("close", () => {
      active--;
      rec.aborted = !res.writableFinished;
    });
    if (requests.length > maxRequests) {
      stats.overflow = true;
      return send(res, rec, 503, {}, Buffer.from("too many requests in this test"));
    }
    const rule = rules.find((r) => matches(r.path, reqPath) && (r.times === undefined || r.times > 0));
    if (rule?.times !== undefined) rule.times--;
    const fault = rule?.fault;
    rec.fault = fault?.kind;
    if (fault?.kind === "latency") await new Promise<void>((r) => later(fault.ms, r));
    if (fault?.kind === "hang") return;
    if (fault?.kind === "status") return send(res, rec, fault.status, {}, Buffer.from(`injected ${fault.status}`));
    if (fault?.kind === "redirect") {
      const location = fault.location === "." ? reqPath : fault.location;
      return send(res, rec, 302, { location }, Buffer.alloc(0));
    }
    if (fault?.kind === "flood") return flood(res, rec, fault.bytes);

    const file = resolveFile(o, reqPath);
    const data = file ? await fsp.readFile(file).catch(() => undefined) : undefined;
    if (!data) return send(res, rec, 404, {}, Buffer.from("not found"));
    let status = 200;
    let body = data;
    const headers: http.OutgoingHttpHeaders = { "accept-ranges": "bytes" };
    const range = fault?.kind === "ignore-range" ? undefined : req.headers.range;
    if (range) {
      const r = parseRange(range, data.byteLength);
      if (!r) return send(res, rec, 416, { "content-range": `bytes */${data.byteLength}` }, Buffer.alloc(0));
      status = 206;
      body = data.subarray(r.start, r.end + 1);
      const shift = fault?.kind === "bad-content-range" ? 1 : 0;
      headers["content-range"] = `bytes ${r.start + shift}-${r.end + shift}/${data.byteLength}`;
    }
    if (fault?.kind === "corrupt") {
      body = Buffer.from(body);
      body[body.byteLength >> 1] ^= 0x5a;
    }
    if (fault?.kind === "reset") return reset(res, rec, status, headers, body, fault.afterBytes);
    if (fault?.kind === "wrong-length") return raw(res, rec, status, { ...headers, "content-length": body.byteLength + fault.delta }, body.subarray(0, body.byteLength + Math.min(0, fault.delta)));
    if (fault?.kind === "oversize") {
      const big = Buffer.concat([body, Buffer.alloc(fault.extra, 7)]);
      if (fault.declare) return send(res, rec, status, headers, big);
      rec.status = status;
      res.writeHead(status, headers); // no Content-Length: chunked, so only a cap can stop it
      rec.bytesWritten = big.byteLength;
      return void res.end(big);
    }
    if (fault?.kind === "drip") return drip(res, rec, status, headers, body, fault);
    send(res, rec, status, headers, body);
  };
  const server = o.tls ? https.createServer(o.tls, handler) : http.createServer(handler);

  const send = (res: http.ServerResponse, rec: RequestRecord, status: number, headers: http.OutgoingHttpHeaders, body: Buffer) => {
    rec.status = status;
    rec.bytesWritten = body.byteLength;
    res.writeHead(status, { ...headers, "content-length": body.byteLength });
    res.end(body);
  };

  const reset = (res: http.ServerResponse, rec: RequestRecord, status: number, headers: http.OutgoingHttpHeaders, body: Buffer, after: number) => {
    rec.status = status;
    res.writeHead(status, { ...headers, "content-length": body.byteLength });
    const part = body.subarray(0, Math.min(after, body.byteLength - 1));
    rec.bytesWritten = part.byteLength;
    res.write(part, () => later(5, () => res.socket?.resetAndDestroy()));
  };

  /** Bypasses Node's own length bookkeeping to send a response that lies, then ends the connection. */
  const raw = (res: http.ServerResponse, rec: RequestRecord, status: number, headers: http.OutgoingHttpHeaders, body: Buffer) => {
    rec.status = status;
    rec.bytesWritten = body.byteLength;
    const socket = res.socket!;
    const head = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "connection: close", "", ""].join("\r\n");
    socket.write(head);
    socket.end(body);
  };

  const drip = (res: http.ServerResponse, rec: RequestRecord, status: number, headers: http.OutgoingHttpHeaders, body: Buffer, f: { bytes: number; everyMs: number }) => {
    rec.status = status;
    res.writeHead(status, { ...headers, "content-length": body.byteLength });
    const started = Date.now();
    const tick = () => {
      if (res.destroyed || Date.now() - started > (o.maxDripMs ?? 10_000)) return void res.destroy();
      const part = body.subarray(rec.bytesWritten, rec.bytesWritten + f.bytes);
      rec.bytesWritten += part.byteLength;
      if (rec.bytesWritten >= body.byteLength) return void res.end(part);
      res.write(part);
      later(f.everyMs, tick);
    };
    tick();
  };

  /** Writes zeros while the client keeps reading (honouring backpressure), up to `total`. */
  const flood = (res: http.ServerResponse, rec: RequestRecord, total: number) => {
    rec.status = 200;
    res.writeHead(200, {});
    const chunk = Buffer.alloc(64 << 10);
    const pump = () => {
      while (!res.destroyed && rec.bytesWritten < total) {
        rec.bytesWritten += chunk.byteLength;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  };

  server.on("connection", (s: Socket) => {
    stats.connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `${o.tls ? "https" : "http"}://127.0.0.1:${port}`;
  return {
    url: origin,
    origin,
    requests,
    rules,
    stats,
    countFor: (p) => requests.filter((r) => matches(p, r.path)).length,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function matches(p: string | RegExp | undefined, reqPath: string): boolean {
  if (p === undefined) return true;
  return typeof p === "string" ? reqPath === p || reqPath.endsWith(p) : p.test(reqPath);
}

/** Only names inside the folder, or the exact single-file paths: no `..` escapes. */
function resolveFile(o: ServeOptions, reqPath: string): string | undefined {
  if (o.files?.[reqPath]) return o.files[reqPath];
  if (!o.dir) return undefined;
  const full = path.resolve(o.dir, `.${path.posix.normalize(reqPath)}`);
  return full.startsWith(path.resolve(o.dir) + path.sep) ? full : undefined;
}

/** One range, as `bytes=a-b`, `bytes=a-` or `bytes=-n` (what vmsfx sends); otherwise unsatisfiable. */
function parseRange(h: string, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const n = Number(m[2]);
    return n === 0 ? undefined : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start < size && start <= end ? { start, end } : undefined;
}
