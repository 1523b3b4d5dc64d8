import * as http from "node:http";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, type RawData } from "ws";
import { MAX_PAGE_MESSAGE, startGuiServer, type GuiServer } from "../../src/gui/gui-server";

/** The page's server against a real `ws` client (and a raw socket where a client would not misbehave). */

let server: GuiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

interface Seen {
  text: boolean;
  data: Buffer;
}

/** A server that records what each page sends and answers "big" with a 70000-byte binary message. */
async function recordingServer(seen: Seen[]): Promise<{ url: URL; ws: string }> {
  server = await startGuiServer({
    page: () => "<!doctype html>",
    onClient: (c) => {
      c.send("hello");
      c.on("message", (data: RawData, isBinary: boolean) => {
        const b = data as Buffer;
        seen.push({ text: !isBinary, data: b });
        if (!isBinary && b.toString() === "big") c.send(new Uint8Array(70_000).fill(7));
      });
    },
  });
  const url = new URL(server.url);
  return { url, ws: `ws://127.0.0.1:${url.port}/ws${url.search}` };
}

function connect(address: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; messages: RawData[]; closed: Promise<number> }> {
  const ws = new WebSocket(address, { headers });
  const messages: RawData[] = [];
  ws.on("message", (m) => messages.push(m));
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve({ ws, messages, closed }));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

function get(url: URL, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port: url.port, path: url.pathname + url.search, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  });
}

describe("startGuiServer", () => {
  it("serves the page only with the token, to its own address; the socket only to its own origin", async () => {
    const { url, ws } = await recordingServer([]);
    expect(await get(url)).toBe(200);
    expect(await get(new URL(url.origin))).toBe(403);
    expect(await get(url, { Host: `rebound.example:${url.port}` })).toBe(403);
    await expect(connect(ws, { Origin: "http://evil.example" })).rejects.toThrow("HTTP 403");
    await expect(connect(`ws://127.0.0.1:${url.port}/ws?t=wrong`)).rejects.toThrow("HTTP 403");
    await expect(connect(ws.replace("/ws", "/other"))).rejects.toThrow("HTTP 403");
    const page = await connect(ws, { Origin: url.origin });
    page.ws.close();
    expect(await page.closed).toBe(1005);
  });

  it("carries text, binary and fragmented messages both ways", async () => {
    const seen: Seen[] = [];
    const { ws } = await recordingServer(seen);
    const page = await connect(ws);
    page.ws.send("keys");
    page.ws.send(Buffer.alloc(300, 0x41), { binary: true, fin: false });
    page.ws.send(Buffer.alloc(300, 0x42), { binary: true, fin: true });
    page.ws.send("big");
    await expect.poll(() => seen.length).toBe(3);
    expect(seen.map((m) => `${m.text ? "text" : "binary"}:${m.data.length}:${m.data.subarray(0, 1)}${m.data.subarray(-1)}`)).toEqual(["text:4:ks", "binary:600:AB", "text:3:bg"]);
    await expect.poll(() => page.messages.length).toBe(2);
    expect(page.messages[0].toString()).toBe("hello");
    expect((page.messages[1] as Buffer).equals(Buffer.alloc(70_000, 7))).toBe(true);
    page.ws.close();
  });

  it("closes on a text message that is not UTF-8 (1007)", async () => {
    const seen: Seen[] = [];
    const { ws } = await recordingServer(seen);
    const page = await connect(ws);
    // ws checks what it receives, not what it sends: this goes out as a text frame.
    page.ws.send(Buffer.from([0x6b, 0xff, 0xfe]), { binary: false });
    expect(await page.closed).toBe(1007);
    expect(seen).toEqual([]);
  });

  it("closes on a message larger than the page ever sends (1009)", async () => {
    const seen: Seen[] = [];
    const { ws } = await recordingServer(seen);
    const page = await connect(ws);
    page.ws.send(Buffer.alloc(MAX_PAGE_MESSAGE + 1, 0x41), { binary: true });
    expect(await page.closed).toBe(1009);
    expect(seen).toEqual([]);
  });

  it("closes on a broken control frame (1002): a fragmented ping", async () => {
    const { url } = await recordingServer([]);
    const socket = net.connect(Number(url.port), "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    let got = Buffer.alloc(0);
    socket.on("data", (d: Buffer) => (got = Buffer.concat([got, d])));
    socket.write(`GET /ws${url.search} HTTP/1.1\r\nHost: 127.0.0.1:${url.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await expect.poll(() => got.toString("latin1")).toContain("hello");
    // The accept key from RFC 6455's own example.
    expect(got.toString("latin1")).toContain("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    got = Buffer.alloc(0);
    // A ping without FIN, masked with a zero key.
    socket.write(Buffer.from([0x09, 0x80, 0, 0, 0, 0]));
    await expect.poll(() => [...got.subarray(0, 4)]).toEqual([0x88, 0x02, 0x03, 0xea]);
    socket.destroy();
  });
});
