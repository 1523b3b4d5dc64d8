import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createSign, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/**
 * A real OCI registry for the tests: Debian's docker-registry (the CNCF distribution registry,
 * 2.8) on 127.0.0.1 with filesystem storage, anonymous or with token authentication from a small
 * token server here (JWTs signed with a throw-away certificate the registry is told to trust), and
 * a proxy in front of it that does what real registries do only sometimes: redirect blob reads
 * to another server, ignore Range, refuse an expired token with 403, ask to retry later.
 */

export interface RunningRegistry {
  /** host:port */
  host: string;
  /** Where a blob's bytes are in its filesystem storage (distribution's layout). */
  blobFile(digest: string): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitUp(url: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => http.get(url, (res) => (res.resume(), resolve(true))).on("error", () => resolve(false)));
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer at ${url}: ${log()}`);
}

export async function startRegistry(binary: string, auth?: { realm: string; service: string; issuer: string; certFile: string }): Promise<RunningRegistry> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "vmsfx-registry-"));
  const port = await freePort();
  const authYaml = auth ? `auth:\n  token:\n    realm: ${auth.realm}\n    service: ${auth.service}\n    issuer: ${auth.issuer}\n    rootcertbundle: ${auth.certFile}\n` : "";
  writeFileSync(path.join(dir, "config.yml"), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${authYaml}`);
  const child = spawn(binary, ["serve", path.join(dir, "config.yml")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  await waitUp(`http://127.0.0.1:${port}/v2/`, child, () => stderr);
  return {
    host: `127.0.0.1:${port}`,
    blobFile: (digest) => {
      const hex = digest.replace(/^sha256:/, "");
      return path.join(dir, "data/docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
    },
    async stop() {
      child.kill("SIGKILL");
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Tokens issued, with the scopes granted. */
  issued: { user?: string; scopes: string[] }[];
  /** Seconds a token is valid for the registry (its `exp`); `expires_in` claims 300 regardless, so an early expiry is found by a 401. */
  ttlSeconds: number;
  stop(): Promise<void>;
}

/** Users get pull and push on every repository; anyone gets pull; a wrong password gets 401. */
export async function startTokenServer(openssl: string, users: Record<string, string>): Promise<TokenServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "vmsfx-token-"));
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  execFileSync(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=vmsfx-test-token"], { stdio: "ignore" });
  const key = readFileSync(keyFile, "utf8");
  const der = Buffer.from(readFileSync(certFile, "utf8").replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  const service = "vmsfx-test-registry";
  const issuer = "vmsfx-test-issuer";
  const state = { issued: [] as TokenServer["issued"], ttlSeconds: 300 };
  const b64 = (v: object | Buffer) => (Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v))).toString("base64url");
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
    let user: string | undefined;
    if (basic) {
      const [name, ...rest] = Buffer.from(basic[1], "base64").toString().split(":");
      if (users[name] !== rest.join(":")) return void res.writeHead(401, { "content-type": "application/json" }).end('{"details":"wrong user name or password"}');
      user = name;
    }
    const scopes = u.searchParams.getAll("scope");
    const access = scopes.map((s) => {
      const [type, name, actions] = s.split(":");
      const asked = actions.split(",");
      return { type, name, actions: user ? asked : asked.filter((a) => a === "pull") };
    });
    state.issued.push({ user, scopes });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [der.toString("base64")] };
    const claims = { iss: issuer, sub: user ?? "", aud: service, exp: now + state.ttlSeconds, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const signing = `${b64(header)}.${b64(claims)}`;
    const signature = createSign("RSA-SHA256").update(signing).sign(key);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: `${signing}.${b64(signature)}`, expires_in: 300 }));
  });
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));
  return Object.assign(state, {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

export type ProxyFault =
  /** Blob reads answered 307 to a second server (object storage), which serves the bytes. */
  | { kind: "redirect-blobs" }
  /** Blob reads get the whole blob (200) whatever Range asked. */
  | { kind: "ignore-range" }
  /** The next `times` blob reads get 403 (an expired token, as some registries say it). */
  | { kind: "forbidden"; times: number }
  /** The next `times` requests get 429 with Retry-After: `seconds`. */
  | { kind: "retry-after"; times: number; seconds: number };

export interface RegistryProxy {
  host: string;
  faults: ProxyFault[];
  /** Every request: method, path, whether it had Authorization, and the answer's status. */
  log: { method: string; path: string; auth: boolean; status: number; range?: string }[];
  /** Requests the "object storage" server got, and whether any carried Authorization. */
  storage: { path: string; auth: boolean; range?: string }[];
  stop(): Promise<void>;
}

/** An HTTP proxy to the registry that injects `faults` (the first matching one applies). */
export async function startRegistryProxy(registry: RunningRegistry): Promise<RegistryProxy> {
  const upstream = registry.host;
  const p: Omit<RegistryProxy, "host" | "stop"> = { faults: [], log: [], storage: [] };
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, headers: http.OutgoingHttpHeaders, onStatus: (s: number) => void) => {
    const up = http.request({ host: upstream.split(":")[0], port: Number(upstream.split(":")[1]), method: req.method, path: req.url, headers: { ...headers, host: upstream } }, (ur) => {
      onStatus(ur.statusCode ?? 0);
      const h = { ...ur.headers };
      // Locations point at the upstream; clients must keep talking to the proxy.
      if (typeof h.location === "string") h.location = h.location.replace(`http://${upstream}`, "");
      res.writeHead(ur.statusCode ?? 502, h);
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  };
  const storage = http.createServer((req, res) => {
    p.storage.push({ path: req.url ?? "", auth: !!req.headers.authorization, range: req.headers.range });
    // The "bucket" serves the blob's file from the registry's storage, with single ranges.
    const digest = /blobs\/(sha256:[0-9a-f]{64})/.exec(req.url ?? "")?.[1];
    let bytes: Buffer;
    try {
      bytes = readFileSync(registry.blobFile(digest ?? ""));
    } catch {
      return void res.writeHead(404).end();
    }
    const r = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    if (!r) return void res.writeHead(200, { "content-length": bytes.length }).end(bytes);
    const [start, end] = [Number(r[1]), Math.min(Number(r[2]), bytes.length - 1)];
    res.writeHead(206, { "content-range": `bytes ${start}-${end}/${bytes.length}`, "content-length": end - start + 1 }).end(bytes.subarray(start, end + 1));
  });
  const storagePort = await new Promise<number>((resolve) => storage.listen(0, "127.0.0.1", () => resolve((storage.address() as net.AddressInfo).port)));
  const server = http.createServer((req, res) => {
    const isBlobRead = req.method === "GET" && /\/blobs\/sha256:/.test(req.url ?? "");
    const entry = { method: req.method ?? "", path: req.url ?? "", auth: !!req.headers.authorization, status: 0, range: req.headers.range };
    p.log.push(entry);
    const fault = p.faults.find((f) => (f.kind === "retry-after" ? f.times > 0 : isBlobRead && (f.kind !== "forbidden" || f.times > 0)));
    if (fault?.kind === "retry-after") {
      fault.times--;
      entry.status = 429;
      return void res.writeHead(429, { "retry-after": String(fault.seconds), "content-type": "application/json" }).end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
    }
    if (fault?.kind === "forbidden") {
      fault.times--;
      entry.status = 403;
      return void res.writeHead(403, { "content-type": "application/json" }).end('{"errors":[{"code":"DENIED","message":"token expired"}]}');
    }
    if (fault?.kind === "redirect-blobs") {
      entry.status = 307;
      return void res.writeHead(307, { location: `http://127.0.0.1:${storagePort}${req.url}` }).end();
    }
    const headers = { ...req.headers };
    if (fault?.kind === "ignore-range") delete headers.range;
    forward(req, res, headers, (s) => (entry.status = s));
  });
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));
  return Object.assign(p, {
    host: `127.0.0.1:${port}`,
    async stop() {
      for (const s of [server, storage]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    },
  });
}
