import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

/**
 * The server side of a WebSocket (RFC 6455), just what the browser window needs: one page on
 * loopback, text and binary messages, ping, close. Node 20 has a WebSocket client but no server,
 * and a dependency for ~150 lines is not worth its supply chain in a file users run.
 */

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Messages from the page are small (keys, mouse moves, typed or pasted text). */
const MAX_MESSAGE = 1 << 20;

export interface WebSocketEvents {
  message: (data: Buffer, text: boolean) => void;
  close: () => void;
}

export class WebSocketConnection extends EventEmitter {
  private buffered: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentText = false;
  private closed = false;

  constructor(private readonly socket: Duplex) {
    super();
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("close", () => this.finish());
    socket.on("error", () => {
      socket.destroy();
      this.finish();
    });
  }

  override on<K extends keyof WebSocketEvents>(event: K, fn: WebSocketEvents[K]): this {
    return super.on(event, fn);
  }

  /** Bytes queued in the socket and not yet taken by the kernel: a slow page. */
  get backlog(): number {
    return (this.socket as Duplex & { writableLength: number }).writableLength;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  sendText(text: string): void {
    this.sendFrame(0x1, Buffer.from(text, "utf8"));
  }

  sendBinary(data: Uint8Array): void {
    this.sendFrame(0x2, data);
  }

  close(code = 1000): void {
    if (this.closed) return;
    const body = Buffer.alloc(2);
    body.writeUInt16BE(code);
    this.sendFrame(0x8, body);
    this.socket.end();
    this.finish();
  }

  private sendFrame(opcode: number, payload: Uint8Array): void {
    if (this.closed) return;
    const n = payload.length;
    const header = n < 126 ? Buffer.alloc(2) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    if (n < 126) header[1] = n;
    else if (n < 65536) {
      header[1] = 126;
      header.writeUInt16BE(n, 2);
    } else {
      header[1] = 127;
      header.writeBigUInt64BE(BigInt(n), 2);
    }
    this.socket.write(header);
    this.socket.write(payload);
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    while (!this.closed) {
      const frame = parseFrame(this.buffered);
      if (frame === "incomplete") return;
      if (frame === "invalid") return this.close(1002);
      if (frame === "too-big") return this.close(1009);
      this.buffered = this.buffered.subarray(frame.length);
      this.handle(frame.fin, frame.opcode, frame.payload);
    }
  }

  private handle(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode === 0x8) return this.close();
    if (opcode === 0x9) return this.sendFrame(0xa, payload);
    if (opcode === 0xa) return;
    if (opcode === 0x1 || opcode === 0x2) {
      this.fragments = [payload];
      this.fragmentText = opcode === 0x1;
    } else if (opcode === 0x0 && this.fragments.length > 0) {
      this.fragments.push(payload);
    } else return this.close(1002);
    const size = this.fragments.reduce((s, f) => s + f.length, 0);
    if (size > MAX_MESSAGE) return this.close(1009);
    if (!fin) return;
    const message = Buffer.concat(this.fragments);
    this.fragments = [];
    this.emit("message", message, this.fragmentText);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit("close");
  }
}

type Frame = { fin: boolean; opcode: number; payload: Buffer; length: number };

function parseFrame(b: Buffer): Frame | "incomplete" | "invalid" | "too-big" {
  if (b.length < 2) return "incomplete";
  const fin = (b[0] & 0x80) !== 0;
  if (b[0] & 0x70) return "invalid"; // no extensions were negotiated
  const opcode = b[0] & 0x0f;
  // A client must mask every frame.
  if ((b[1] & 0x80) === 0) return "invalid";
  let length = b[1] & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (b.length < 4) return "incomplete";
    length = b.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (b.length < 10) return "incomplete";
    const big = b.readBigUInt64BE(2);
    if (big > BigInt(MAX_MESSAGE)) return "too-big";
    length = Number(big);
    offset = 10;
  }
  if (length > MAX_MESSAGE) return "too-big";
  if (b.length < offset + 4 + length) return "incomplete";
  const mask = b.subarray(offset, offset + 4);
  const payload = Buffer.from(b.subarray(offset + 4, offset + 4 + length));
  for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
  return { fin, opcode, payload, length: offset + 4 + length };
}

/** Completes the opening handshake; false if the request is not a WebSocket upgrade. */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex): WebSocketConnection | undefined {
  const key = req.headers["sec-websocket-key"];
  if (req.headers.upgrade?.toLowerCase() !== "websocket" || typeof key !== "string" || req.headers["sec-websocket-version"] !== "13") return undefined;
  const accept = createHash("sha1").update(key + GUID).digest("base64");
  socket.write(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${accept}`, "", ""].join("\r\n"));
  return new WebSocketConnection(socket);
}
