import { randomBytes, timingSafeEqual } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { VmsfxError } from "../errors";

/**
 * The browser window's web server: 127.0.0.1 only, a random port, and a random token every
 * request must carry. Anything else on this machine (another user, a web page the user visits)
 * can reach a loopback port, so: without the token, 403; with a Host header that is not this
 * loopback address (DNS rebinding: evil.example resolving to 127.0.0.1), 403; a WebSocket from
 * another origin, 403. The token travels in the URL, so the page is never cached, never framed,
 * and never sends a Referer. Style attributes are allowed (the console's terminal colours cells
 * with them): a style attribute cannot run script, and every fetch a style could make (images,
 * fonts) stays refused by default-src 'none'.
 */

export interface GuiServer {
  /** The page's address, token included. */
  readonly url: string;
  close(): Promise<void>;
}

export interface GuiServerOptions {
  page: (nonce: string) => string;
  onClient: (client: WebSocket) => void;
}

/** Messages from the page are small (keys, mouse moves, typed or pasted text); ws closes with 1009 above this. */
export const MAX_PAGE_MESSAGE = 1 << 20;

export async function startGuiServer(opts: GuiServerOptions): Promise<GuiServer> {
  const token = randomBytes(24).toString("base64url");
  const tokenBytes = Buffer.from(token);
  let port = 0;
  const sockets = new Set<Duplex>();
  // ws does the protocol (UTF-8 checks on text, control frames, fragments, limits); this file
  // decides who may connect. No compression: the page is on loopback.
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: MAX_PAGE_MESSAGE });

  const hostAllowed = (host: string | undefined) => host === `127.0.0.1:${port}` || host === `localhost:${port}`;
  const tokenOf = (req: http.IncomingMessage) => new URL(req.url ?? "/", "http://127.0.0.1").searchParams.get("t") ?? "";
  const tokenValid = (given: string) => {
    const b = Buffer.from(given);
    return b.length === tokenBytes.length && timingSafeEqual(b, tokenBytes);
  };
  const pathOf = (req: http.IncomingMessage) => new URL(req.url ?? "/", "http://127.0.0.1").pathname;

  const server = http.createServer((req, res) => {
    const refuse = (status: number, why: string) => {
      res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" });
      res.end(`${why}\n`);
    };
    if (!hostAllowed(req.headers.host)) return refuse(403, "This address is not allowed; open the URL vmsfx printed.");
    if (!tokenValid(tokenOf(req))) return refuse(403, "Forbidden: open the URL vmsfx printed (it carries the access token).");
    if (req.method !== "GET" && req.method !== "HEAD") return refuse(405, "Method not allowed.");
    if (pathOf(req) !== "/") return refuse(404, "Not found.");
    const nonce = randomBytes(16).toString("base64");
    const body = Buffer.from(opts.page(nonce));
    res.writeHead(200, {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Length": body.length,
      "Cache-Control": "no-store",
      "Referrer-Policy": "no-referrer",
      "X-Frame-Options": "DENY",
      "X-Content-Type-Options": "nosniff",
      "Content-Security-Policy": `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; style-src-attr 'unsafe-inline'; connect-src ws://127.0.0.1:${port} ws://localhost:${port}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
    });
    res.end(req.method === "HEAD" ? undefined : body);
  });

  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // Browsers always send Origin: a page from elsewhere is refused even if it learned the token.
    // Programs that send none already had to know the token.
    const origin = req.headers.origin;
    const ok = hostAllowed(req.headers.host) && tokenValid(tokenOf(req)) && pathOf(req) === "/ws" && (origin === undefined || origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`);
    if (!ok || req.headers.upgrade?.toLowerCase() !== "websocket") {
      socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (client) => {
      // ws closes the connection itself on a protocol error (1002, 1007, 1009) and then reports
      // it here; without a listener the error would be thrown.
      client.on("error", () => undefined);
      opts.onClient(client);
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => reject(new VmsfxError("VMSFX_IO", `could not open the browser window's local web server: ${(e as Error).message}`, { cause: e })));
    server.listen(0, "127.0.0.1", () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  // The server must never keep the launcher alive on its own.
  server.unref();
  return {
    url: `http://127.0.0.1:${port}/?t=${token}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
