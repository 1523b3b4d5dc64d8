import type * as net from "node:net";
import { GuestTcpRecovery, type RecoverableTcp } from "./guest-tcp-recovery";

/**
 * One host socket joined to one of v86's TCP connections, whichever side opened it: a forwarded
 * port (the host's client, into the guest) or the guest's own outbound connection (out through a
 * host socket). Flow control, half-close and the v86 bugs worked around (here and in
 * guest-tcp-recovery.ts) live here once.
 */

/** The part of v86's TCPConnection (src/browser/fake_network.js) used here. */
export interface GuestTcp extends RecoverableTcp {
  tuple: string;
  on(event: "connect" | "close" | "shutdown", fn: () => void): void;
  on(event: "data", fn: (data: Uint8Array) => void): void;
  on(event: "probe", fn: (open: boolean) => void): void;
  write(data: Uint8Array): void;
  close(): void;
  /** Sends (again) the SYN of a connection the host side opens. */
  connect(): void;
  accept(packet?: unknown): void;
  process(packet: unknown): void;
}

/**
 * Host bytes waiting for the guest beyond this pause the host socket: v86 queues writes without
 * limit and sends one segment per guest acknowledgement.
 */
const GUEST_QUEUE_HIGH = 256 << 10;
const GUEST_QUEUE_LOW = 64 << 10;

/**
 * Joins `socket` and `conn` until both ends are closed. The socket starts paused; it is resumed
 * once the guest side is established (at once when it already is).
 */
export function pipeGuestTcp(socket: net.Socket, conn: GuestTcp): void {
  socket.pause();
  socket.setNoDelay(true);
  let guestGone = false;
  const recovery = new GuestTcpRecovery(conn, () => {
    guestGone = true;
    if (!socket.destroyed) socket.resetAndDestroy();
  });
  const process = conn.process.bind(conn);
  conn.process = (packet) => {
    if (recovery.intercept(packet as GuestSegment)) return;
    for (const part of splitFinWithData(conn, packet as GuestSegment)) process(part);
    // v86 ends a connection we closed first (FIN_WAIT_2, then the guest's FIN) without an event.
    if (conn.state === "closed" && !guestGone) {
      guestGone = true;
      socket.end();
    }
    if (socket.isPaused() && conn.state !== "syn-sent" && conn.send_buffer.length < GUEST_QUEUE_LOW) socket.resume();
    recovery.watch();
  };
  if (conn.state === "established") socket.resume();
  else conn.on("connect", () => socket.resume());
  conn.on("data", (data) => socket.write(Buffer.from(data)));
  // The guest closed its side (FIN): half-close ours; a reset (or a refused SYN) resets the peer.
  conn.on("shutdown", () => socket.end());
  conn.on("close", () => {
    guestGone = true;
    recovery.stop();
    socket.resetAndDestroy();
  });
  socket.on("data", (chunk: Buffer) => {
    conn.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (conn.send_buffer.length > GUEST_QUEUE_HIGH) socket.pause();
    recovery.watch();
  });
  // The host side half-closed: the guest gets a FIN once what it was sent is acknowledged.
  socket.on("end", () => {
    conn.close();
    recovery.watch();
  });
  socket.on("error", () => undefined);
  socket.on("close", () => {
    if (!guestGone) conn.close();
    // The FIN (or the data before it) still reaches the guest, or the guest's side is reset.
    recovery.watch();
  });
}

/** Waits between the SYNs into the guest, as a TCP stack's: sent again at 1, 3 and 7 s, the client reset at 15 s. */
export const SYN_RETRIES_MS = [1000, 2000, 4000, 8000];

/**
 * v86 sends the SYN of a connection into the guest once, and never again: a guest whose listen
 * queue was full dropped it, and the client waited forever (seen under a burst of connections).
 * Sent again at SYN_RETRIES_MS while the guest has not answered; after the last, the client is reset.
 */
export function retrySyn(conn: Pick<GuestTcp, "state" | "connect">, socket: Pick<net.Socket, "destroyed" | "resetAndDestroy" | "once">, delays: readonly number[] = SYN_RETRIES_MS): void {
  let timer: NodeJS.Timeout | undefined;
  const wait = (i: number) => {
    timer = setTimeout(() => {
      if (conn.state !== "syn-sent" || socket.destroyed) return;
      if (i === delays.length - 1) return void socket.resetAndDestroy();
      conn.connect();
      wait(i + 1);
    }, delays[i]);
  };
  wait(0);
  socket.once("close", () => clearTimeout(timer));
}

/** The parts of a parsed TCP segment (v86's packet object) this module looks at. */
interface GuestSegment {
  tcp: { fin?: boolean; syn?: boolean; ack?: boolean; seq: number };
  tcp_data: Uint8Array;
}

/**
 * v86 0.5.462 handles a segment's FIN before, and instead of, its data: a guest that closes
 * right after its last write (Linux sends the FIN on that last data segment) lost the end of
 * every response. Such a segment is handed over as its data, then its FIN.
 */
export function splitFinWithData(conn: Pick<GuestTcp, "ack">, packet: GuestSegment): GuestSegment[] {
  if (!packet.tcp?.fin || !(packet.tcp_data?.length > 0) || packet.tcp.seq !== conn.ack) return [packet];
  return [
    { ...packet, tcp: { ...packet.tcp, fin: false } },
    { ...packet, tcp: { ...packet.tcp, seq: packet.tcp.seq + packet.tcp_data.length }, tcp_data: new Uint8Array(0) },
  ];
}
