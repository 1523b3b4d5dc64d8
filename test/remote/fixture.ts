import { promises as fsp } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import * as path from "node:path";
import { afterAll, afterEach } from "vitest";
import { openSnapshotDir } from "../../src/snapshot/snapshot-dir";
import { writeBundle } from "../../src/snapshot/bundle-writer";
import { hotOrder } from "../../src/snapshot/hot-order";
import { HttpFetcher, type FetcherOptions, type RemoteSpec } from "../../src/remote/http-fetcher";
import { HttpClient, type ClientOptions } from "../../src/remote/http-request";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";
import { startFaultServer, type FaultServer, type ServeOptions } from "../helpers/fault-server";

/** Temp folders made here; harness() removes them after the file's tests. */
const made: string[] = [];
const scratch = (prefix: string) => {
  const d = tempDir(prefix);
  made.push(d);
  return d;
};

export const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
export const verifyFor = (hash: string) => (b: Uint8Array) => sha(b) === hash;

/**
 * Short limits so every fault resolves in well under a second or two: a hang is caught by the
 * idle timeout, a drip by the throughput floor, and retries back off for tens of milliseconds.
 */
export const FAST: Partial<ClientOptions> = {
  limits: { timeoutMs: 3_000, idleTimeoutMs: 600, minBytesPerSec: 20_000, throughputWindowMs: 400, maxRedirects: 3 },
  retry: { retries: 2, backoffMs: 20, backoffMaxMs: 80 },
  maxSockets: 4,
};

export interface Block {
  hash: string;
  stored: Buffer;
}

/** A published folder (the snapshot directory is exactly that layout) and the same blocks as a bundle. */
export async function syntheticRemote(): Promise<{ dir: string; bundle: string; blocks: Block[]; manifestBytes: Buffer }> {
  const snap = await makeSyntheticSnapshot(scratch("vmsfx-remote-snap-"));
  const bundle = path.join(scratch("vmsfx-remote-"), "app.vmsfx");
  await writeBundle(await openSnapshotDir(snap.dir), bundle);
  const hashes = [...new Set(hotOrder(snap.manifest).map((b) => b.hash))];
  const blocks = await Promise.all(hashes.map(async (hash) => ({ hash, stored: await fsp.readFile(path.join(snap.dir, "blocks", hash)) })));
  return { dir: snap.dir, bundle, blocks, manifestBytes: await fsp.readFile(path.join(snap.dir, "manifest.json")) };
}

/** `count` incompressible blocks of `size` bytes in a published layout (for parallelism tests). */
export async function randomPublished(count: number, size: number): Promise<{ dir: string; blocks: Block[] }> {
  const dir = scratch("vmsfx-remote-");
  await fsp.mkdir(path.join(dir, "blocks"));
  const blocks: Block[] = [];
  for (let i = 0; i < count; i++) {
    const stored = randomBytes(size);
    const hash = sha(stored);
    await fsp.writeFile(path.join(dir, "blocks", hash), stored);
    blocks.push({ hash, stored });
  }
  return { dir, blocks };
}

/** Servers and fetchers made through this are closed after each test, whatever happened. */
export function harness() {
  const servers: { close(): Promise<void> }[] = [];
  const fetchers: { close(): void }[] = [];
  afterEach(async () => {
    for (const f of fetchers.splice(0)) f.close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await Promise.all(made.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
  });
  return {
    /** Closes a server made elsewhere after the test, like serve()'s. */
    async track<S extends { close(): Promise<void> }>(made: Promise<S>): Promise<S> {
      const s = await made;
      servers.push(s);
      return s;
    },
    async serve(o: ServeOptions): Promise<FaultServer> {
      const s = await startFaultServer(o);
      servers.push(s);
      return s;
    },
    scratch,
    client(o: Partial<ClientOptions> = {}): HttpClient {
      const c = new HttpClient({ ...FAST, ...o });
      fetchers.push(c);
      return c;
    },
    fetcher(remotes: RemoteSpec[], o: FetcherOptions = {}): HttpFetcher {
      const f = new HttpFetcher(remotes, { ...FAST, ...o });
      fetchers.push(f);
      return f;
    },
  };
}

/** A port nothing listens on: bind, note the port, close. */
export async function deadUrl(): Promise<string> {
  const s = await startFaultServer({});
  await s.close();
  return s.url;
}

/** One answer of a scripted server; the last one repeats. */
export interface Scripted {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A server that answers from a script, in order, and notes when each request came and what
 * Authorization it carried: for what the fault server does not model (Retry-After, credentials).
 */
export async function scriptedServer(script: Scripted[], tls?: { key: string; cert: string }) {
  const seen: { path: string; at: number; authorization?: string }[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push({ path: req.url ?? "", at: Date.now(), authorization: req.headers.authorization });
    const a = script[Math.min(seen.length, script.length) - 1];
    const body = Buffer.from(a.body ?? "");
    res.writeHead(a.status, { ...a.headers, "content-length": body.byteLength });
    res.end(body);
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `${tls ? "https" : "http"}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
