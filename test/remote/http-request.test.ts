import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { promises as fsp, readFileSync } from "node:fs";
import * as path from "node:path";
import { backoffDelay, parseContentRange, RemoteError, type ClientOptions } from "../../src/remote/http-request";
import { FAST, harness } from "./fixture";

/** The single request underneath both layouts: limits that hold whatever the server does. */

const h = harness();

async function fileServer(bytes: number, rules: Parameters<typeof h.serve>[0]["rules"] = []) {
  const dir = h.scratch("vmsfx-remote-req-");
  await fsp.writeFile(path.join(dir, "f"), Buffer.alloc(bytes, 0x61));
  return h.serve({ dir, rules });
}

async function failure(p: Promise<unknown>): Promise<RemoteError> {
  const e = await p.then(() => undefined, (x) => x);
  expect(e).toBeInstanceOf(RemoteError);
  return e as RemoteError;
}

const client = (o: Partial<ClientOptions> = {}) => h.client(o);

describe("httpGet limits", { timeout: 10_000 }, () => {
  it("the overall timeout ends a body that keeps just enough pace for the other limits", async () => {
    const s = await fileServer(4096, [{ fault: { kind: "drip", bytes: 100, everyMs: 50 } }]);
    const c = client({ limits: { ...FAST.limits!, timeoutMs: 600, minBytesPerSec: 0 }, retry: { retries: 0, backoffMs: 1, backoffMaxMs: 1 } });
    const t0 = Date.now();
    const e = await failure(c.get(`${s.url}/f`, { maxBytes: 4096 }));
    expect(e.message).toMatch(/no complete answer within 600 ms/);
    expect(e.kind).toBe("interrupted");
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it("cancelling stops a request at once and is not retried", async () => {
    const s = await fileServer(10, [{ fault: { kind: "hang" } }]);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const e = await failure(client().get(`${s.url}/f`, { maxBytes: 10, signal: ac.signal }));
    expect(e.kind).toBe("aborted");
    expect(s.requests).toHaveLength(1);
  });

  it("a suffix range larger than the file: the whole file, via 206 or a plain 200", async () => {
    const s = await fileServer(100);
    const r = await client().get(`${s.url}/f`, { range: { suffix: 1000 }, maxBytes: 1000 });
    expect([r.body.byteLength, r.total]).toEqual([100, 100]);
    s.rules.push({ fault: { kind: "ignore-range" } });
    const r2 = await client().get(`${s.url}/f`, { range: { suffix: 1000 }, maxBytes: 1000 });
    expect([r2.body.byteLength, r2.total, s.requests[1].status]).toEqual([100, 100, 200]);
  });

  it("416 for a range past the end: refused, not retried", async () => {
    const s = await fileServer(100);
    const e = await failure(client().get(`${s.url}/f`, { range: { start: 200, end: 299 }, maxBytes: 100 }));
    expect(e.message).toMatch(/416/);
    expect(e.retryable).toBe(false);
    expect(s.requests).toHaveLength(1);
  });

  it("redirects to other schemes are refused", async () => {
    const s = await fileServer(10, [{ fault: { kind: "redirect", location: "file:///etc/passwd" } }]);
    expect((await failure(client().get(`${s.url}/f`, { maxBytes: 10 }))).message).toMatch(/redirects to file: which is not supported/);
  });

  it("connection refused is 'unreachable' and retried with backoff", async () => {
    const s = await fileServer(10);
    await s.close();
    const t0 = Date.now();
    const e = await failure(client({ retry: { retries: 2, backoffMs: 100, backoffMaxMs: 1000 } }).get(`${s.url}/f`, { maxBytes: 10 }));
    expect([e.kind, e.reason]).toEqual(["unreachable", "connection refused"]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50 + 100); // at least half of 100 ms, then half of 200 ms
  });
});

describe("helpers", () => {
  it("backoff doubles up to its cap, with half of each delay random", () => {
    const p = { retries: 5, backoffMs: 100, backoffMaxMs: 1000 };
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(n, p, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(n, p, () => 0.999999))).toEqual([100, 200, 400, 800, 1000].map((x) => expect.closeTo(x, 2)));
  });

  it("Content-Range is parsed strictly", () => {
    expect(parseContentRange("bytes 0-99/100")).toEqual({ start: 0, end: 99, total: 100 });
    for (const bad of ["bytes 0-99/*", "bytes 10-5/100", "bytes 0-100/100", "items 0-1/2", "bytes -1-5/10", undefined]) expect(parseContentRange(bad), String(bad)).toBeUndefined();
  });
});

const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore", timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
})();

/** A throwaway self-signed certificate for 127.0.0.1 (openssl; Node cannot make X.509 itself). */
function selfSigned(dir: string): { key: string; cert: string } {
  const [key, cert] = [path.join(dir, "key.pem"), path.join(dir, "cert.pem")];
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"], { stdio: "ignore", timeout: 20_000 });
  return { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") };
}

describe.skipIf(!hasOpenssl)("https", { timeout: 20_000 }, () => {
  it("a trusted certificate serves; an untrusted one is refused without retries; http may redirect to https", async () => {
    const dir = h.scratch("vmsfx-remote-tls-");
    await fsp.writeFile(path.join(dir, "f"), "secret bytes");
    const tls = selfSigned(h.scratch("vmsfx-remote-cert-"));
    const s = await h.serve({ dir, tls });
    expect(s.url).toMatch(/^https:/);
    expect((await client({ ca: tls.cert }).get(`${s.url}/f`, { maxBytes: 100 })).body.toString()).toBe("secret bytes");
    const e = await failure(client().get(`${s.url}/f`, { maxBytes: 100 }));
    expect([e.kind, e.retryable]).toEqual(["refused", false]);
    expect(e.message).toMatch(/TLS certificate is not trusted/);
    const plain = await h.serve({ rules: [{ fault: { kind: "redirect", location: `${s.url}/f` } }] });
    expect((await client({ ca: tls.cert }).get(`${plain.url}/f`, { maxBytes: 100 })).body.toString()).toBe("secret bytes");
  });
});
