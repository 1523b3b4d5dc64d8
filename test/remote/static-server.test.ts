import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createReadStream, promises as fsp } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { remoteFromUrl } from "../../src/remote/http-fetcher";
import { deadUrl, harness, syntheticRemote, verifyFor } from "./fixture";

/**
 * Both layouts from a plain static file server, the way a publisher would host them: no fault
 * injection, files streamed from disk, one byte range per request as static servers do (the
 * fault server is not used here, so its range code is not what makes these pass).
 */

const h = harness();
const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function plainStatic(root: string): Promise<string> {
  const server = http.createServer(async (req, res) => {
    const file = path.join(root, path.posix.normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)));
    const st = file.startsWith(root + path.sep) ? await fsp.stat(file).catch(() => undefined) : undefined;
    if (!st?.isFile()) return void res.writeHead(404).end();
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
    if (!m) {
      res.writeHead(200, { "content-length": st.size, "accept-ranges": "bytes" });
      return void createReadStream(file).pipe(res);
    }
    const [start, end] = m[1] === "" ? [Math.max(0, st.size - Number(m[2])), st.size - 1] : [Number(m[1]), m[2] === "" ? st.size - 1 : Math.min(Number(m[2]), st.size - 1)];
    if (start > end || start >= st.size) return void res.writeHead(416, { "content-range": `bytes */${st.size}` }).end();
    res.writeHead(206, { "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${st.size}`, "accept-ranges": "bytes" });
    createReadStream(file, { start, end }).pipe(res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let remote: Awaited<ReturnType<typeof syntheticRemote>>;
let root: string;
beforeAll(async () => {
  remote = await syntheticRemote();
  root = h.scratch("vmsfx-remote-www-");
  await fsp.cp(remote.dir, path.join(root, "app"), { recursive: true });
  await fsp.copyFile(remote.bundle, path.join(root, "app.vmsfx"));
});

const items = () => remote.blocks.map((b) => ({ hash: b.hash, maxBytes: 4096, verify: verifyFor(b.hash) }));

describe("plain static server", { timeout: 10_000 }, () => {
  for (const [layout, where] of [
    ["published folder", "/app/"],
    ["bundle by range", "/app.vmsfx"],
  ] as const) {
    it(`${layout}: every block and the manifest`, async () => {
      const url = (await plainStatic(root)) + where;
      const f = h.fetcher([remoteFromUrl(url)]);
      const got = new Map<string, Uint8Array>();
      for await (const b of f.fetchMany(items())) got.set(b.hash, b.bytes);
      expect(got.size).toBe(remote.blocks.length);
      for (const b of remote.blocks) expect(Buffer.from(got.get(b.hash)!).equals(b.stored)).toBe(true);
      expect((await f.fetchManifest()).manifestBytes.equals(remote.manifestBytes)).toBe(true);
    });
  }

  it("a dead server first, then a bundle, then a folder: everything from the first that answers", async () => {
    const base = await plainStatic(root);
    const f = h.fetcher([remoteFromUrl(`${await deadUrl()}/app/`), remoteFromUrl(`${base}/app.vmsfx`), remoteFromUrl(`${base}/app/`)]);
    const from = new Set<string>();
    for await (const b of f.fetchMany(items())) from.add(b.remote);
    expect([...from]).toEqual([`${base}/app.vmsfx`]);
  });
});
