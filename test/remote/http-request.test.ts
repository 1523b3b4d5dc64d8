import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { promises as fsp, readFileSync } from "node:fs";
import * as path from "node:path";
import { RemoteError, type ClientOptions } from "../../src/remote/http-request";
import { FAST, harness, scriptedServer, type Scripted } from "./fixture";

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

describe("Retry-After", { timeout: 20_000 }, () => {
  const busy = (status: number, retryAfter: string): Scripted => ({ status, headers: { "retry-after": retryAfter } });
  const ok: Scripted = { status: 200, body: "fine" };
  const retry = { retries: 1, backoffMs: 10, backoffMaxMs: 10, retryAfterMaxMs: 5_000 };

  it("503 with delay-seconds: the retry waits that long", async () => {
    const s = await h.track(scriptedServer([busy(503, "1"), ok]));
    const t0 = Date.now();
    expect((await client({ retry }).get(`${s.url}/f`, { maxBytes: 100 })).body.toString()).toBe("fine");
    expect(s.seen.map((r) => r.at - t0)[1]).toBeGreaterThanOrEqual(950);
  });

  it("429 with an HTTP-date: the retry waits until then", async () => {
    const when = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2_000); // whole seconds, as HTTP-dates are
    const s = await h.track(scriptedServer([busy(429, when.toUTCString()), ok]));
    expect((await client({ retry }).get(`${s.url}/f`, { maxBytes: 100 })).body.toString()).toBe("fine");
    expect(s.seen[1].at).toBeGreaterThanOrEqual(when.getTime() - 50);
  });

  it("a Retry-After of an hour is cut to the cap", async () => {
    const s = await h.track(scriptedServer([busy(503, "3600"), ok]));
    const t0 = Date.now();
    await client({ retry: { ...retry, retryAfterMaxMs: 300 } }).get(`${s.url}/f`, { maxBytes: 100 });
    expect(s.seen[1].at - t0).toBeGreaterThanOrEqual(250);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it("the last attempt's 503 carries the server's ask on the error", async () => {
    const s = await h.track(scriptedServer([busy(503, "2"), busy(503, "2")]));
    const e = await failure(client({ retry: { ...retry, retries: 0 } }).get(`${s.url}/f`, { maxBytes: 100 }));
    expect([e.kind, e.retryAfterMs, s.seen.length]).toEqual(["server", 2_000, 1]);
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

  it("credentials in a remote's URL go to that server and its own redirects, never to another origin", async () => {
    const tls = selfSigned(h.scratch("vmsfx-remote-cert-"));
    const other = await h.track(scriptedServer([{ status: 200, body: "elsewhere" }], tls));
    const home = await h.track(scriptedServer([{ status: 302, headers: { location: "/g" } }, { status: 302, headers: { location: `${other.url}/h` } }]));
    const url = home.url.replace("://", "://us%3Ar:pw@");
    expect((await client({ ca: tls.cert }).get(`${url}/f`, { maxBytes: 100 })).body.toString()).toBe("elsewhere");
    const basic = `Basic ${Buffer.from("us:r:pw").toString("base64")}`;
    expect(home.seen.map((r) => [r.path, r.authorization])).toEqual([["/f", basic], ["/g", basic]]);
    expect(other.seen.map((r) => [r.path, r.authorization])).toEqual([["/h", undefined]]);
  });
});
