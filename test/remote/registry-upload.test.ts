import { afterEach, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { uploadBlob } from "../../src/remote/registry-blobs";
import { RegistryClient } from "../../src/remote/registry-client";
import { parseOciReference } from "../../src/snapshot/oci-reference";

/**
 * Chunked uploads against a small fake of the distribution API's upload endpoints: each PATCH
 * appends at the offset its Content-Range names, GET says how much arrived, PUT ?digest= checks
 * the whole blob. One PATCH's connection is cut after part of its body reached the "registry".
 */

const servers: http.Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => (s.closeAllConnections(), s.close())));

function fakeRegistry(o: { cutPatch?: number }) {
  const state = { received: Buffer.alloc(0), patches: [] as number[], finished: "", cut: false };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    if (req.method === "POST") return void res.writeHead(202, { location: "/v2/a/b/blobs/uploads/u1?_state=1", range: "0-0" }).end();
    if (req.method === "GET") return void res.writeHead(204, { location: "/v2/a/b/blobs/uploads/u1?_state=2", range: `0-${state.received.length - 1}` }).end();
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => {
      chunks.push(d);
      if (req.method === "PATCH" && state.patches.length === o.cutPatch && !state.cut && Buffer.concat(chunks).length >= 1000) {
        state.cut = true;
        // Part of the chunk arrived: keep it, as a registry that streams to storage would.
        state.received = Buffer.concat([state.received, Buffer.concat(chunks).subarray(0, 1000)]);
        req.socket.destroy();
      }
    });
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.method === "PATCH") {
        const [start] = (req.headers["content-range"] ?? "").split("-").map(Number);
        if (start !== state.received.length) return void res.writeHead(416).end();
        state.received = Buffer.concat([state.received, body]);
        state.patches.push(body.length);
        return void res.writeHead(202, { location: "/v2/a/b/blobs/uploads/u1?_state=3", range: `0-${state.received.length - 1}` }).end();
      }
      if (req.method === "PUT") {
        state.received = Buffer.concat([state.received, body]);
        state.finished = u.searchParams.get("digest") ?? "";
        return void res.writeHead(201).end();
      }
      res.writeHead(405).end();
    });
  });
  servers.push(server);
  return new Promise<{ host: string; state: typeof state }>((resolve) => server.listen(0, "127.0.0.1", () => resolve({ host: `127.0.0.1:${(server.address() as AddressInfo).port}`, state })));
}

const blob = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
const source = { digest, size: blob.length, read: async (offset: number, length: number) => blob.subarray(offset, offset + length) };

describe("blob uploads", () => {
  it("in chunks no larger than asked, then PUT with the digest", async () => {
    const { host, state } = await fakeRegistry({});
    const client = new RegistryClient(parseOciReference(`oci+http://${host}/a/b:t`), { credentials: { username: "u", password: "p", source: "test" } });
    let progress = 0;
    await uploadBlob(client, source, 4096, (n) => (progress += n));
    client.close();
    expect(state.patches).toEqual([4096, 4096, 1808]);
    expect(state.received.equals(blob)).toBe(true);
    expect(state.finished).toBe(digest);
    expect(progress).toBe(blob.length);
  });

  it("a chunk whose connection broke is resumed from what the registry has, not sent again whole", async () => {
    const { host, state } = await fakeRegistry({ cutPatch: 1 });
    const client = new RegistryClient(parseOciReference(`oci+http://${host}/a/b:t`));
    await uploadBlob(client, source, 4096);
    client.close();
    expect(state.cut).toBe(true);
    expect(state.received.equals(blob)).toBe(true);
    expect(state.finished).toBe(digest);
  });
});
