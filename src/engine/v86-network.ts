import * as net from "node:net";
import type { ForwardFailure, PortForward } from "./engine-protocol";

/**
 * The guest's network: v86's virtio NIC wired to v86's own user-mode network stack (its "fetch"
 * adapter: ARP, DHCP, DNS, and TCP connections the host side can accept and open), never a
 * second TCP/IP stack. What this adds is the host side: forwarded ports (a socket accepted on
 * the host becomes a TCP connection into the guest), and nothing else. The adapter's built-in
 * HTTP proxy (guest port-80 connections turned into the host's fetch()) is taken out, so a guest
 * reaches nothing outside unless a policy allows it (SECURITY.md).
 */

/** The guest's address on its network; the host is the router (v86's defaults, kept). */
export const GUEST_IP = "192.168.86.100";
export const ROUTER_IP = "192.168.86.1";

/** v86 options for a machine with a NIC. `preserve_mac…`: a resumed guest keeps the MAC its kernel knows. */
export function nicOptions(): Record<string, unknown> {
  return {
    net_device: { type: "virtio", relay_url: "fetch", router_ip: ROUTER_IP, vm_ip: GUEST_IP, dns_method: "static" },
    preserve_mac_from_state_image: true,
  };
}

/** The part of v86's TCPConnection (src/browser/fake_network.js) used here. */
interface GuestTcp {
  state: string;
  /** The next sequence number expected from the guest. */
  ack: number;
  send_buffer: { length: number };
  on(event: "connect" | "close" | "shutdown", fn: () => void): void;
  on(event: "data", fn: (data: Uint8Array) => void): void;
  on(event: "probe", fn: (open: boolean) => void): void;
  write(data: Uint8Array): void;
  close(): void;
  process(packet: unknown): void;
}

/** The part of v86's FetchNetworkAdapter used here. */
interface UserModeAdapter {
  connect(port: number): GuestTcp;
  tcp_probe(port: number): Promise<boolean>;
  on_tcp_connection?: (conn: GuestTcp, packet: unknown) => void;
  bus: { listeners: Record<string, unknown[]> };
  fetch: unknown;
}

/** What v86 must offer for this module to work; checked when the emulator is created. */
export function networkMissing(emulator: unknown): string[] {
  const a = (emulator as { network_adapter?: Partial<UserModeAdapter> }).network_adapter;
  if (!a) return ["emulator.network_adapter is missing"];
  const out: string[] = [];
  if (typeof a.connect !== "function") out.push("network_adapter.connect is not a function");
  if (typeof a.tcp_probe !== "function") out.push("network_adapter.tcp_probe is not a function");
  if (typeof a.bus?.listeners !== "object") out.push("network_adapter.bus.listeners is missing");
  return out;
}

/**
 * Host bytes waiting for the guest beyond this pause the host socket: v86 queues writes without
 * limit and sends one segment per guest acknowledgement.
 */
const GUEST_QUEUE_HIGH = 256 << 10;
const GUEST_QUEUE_LOW = 64 << 10;
/** Connections at once per forwarded port; Node closes any beyond it at once, so a flood costs no memory. */
const MAX_CONNECTIONS = 128;

export class GuestNetwork {
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly adapter: UserModeAdapter) {
    // No outbound network: the guest's own connections find no listener and get a reset, and
    // its port-80 requests are no longer fetched by the host.
    adapter.bus.listeners["tcp-connection"] = [];
    adapter.on_tcp_connection = undefined;
    adapter.fetch = () => Promise.reject(new Error("the guest has no outbound network"));
  }

  static of(emulator: unknown): GuestNetwork {
    return new GuestNetwork((emulator as { network_adapter: UserModeAdapter }).network_adapter);
  }

  probe(port: number): Promise<boolean> {
    return this.adapter.tcp_probe(port);
  }

  /** Listens on every forward, or on none: the first that fails closes the others. */
  async forward(forwards: PortForward[]): Promise<{ bound: PortForward[]; failure?: ForwardFailure }> {
    const bound: PortForward[] = [];
    for (const f of forwards) {
      // allowHalfOpen: a client that has sent all it will (its FIN) still gets the guest's answer.
      const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => this.bridge(socket, f.guest));
      server.maxConnections = MAX_CONNECTIONS;
      const failure = await listen(server, f);
      if (failure) {
        this.close();
        return { bound: [], failure };
      }
      this.servers.push(server);
      bound.push({ ...f, host: (server.address() as net.AddressInfo).port });
    }
    return { bound };
  }

  /** Stops listening and drops every connection (the guest is stopping or being saved). */
  close(): void {
    for (const s of this.servers.splice(0)) s.close();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private bridge(socket: net.Socket, guestPort: number): void {
    this.sockets.add(socket);
    // Nothing is read until the guest has accepted: bytes sent before would have nowhere to go.
    socket.pause();
    socket.setNoDelay(true);
    let conn: GuestTcp;
    try {
      conn = this.adapter.connect(guestPort);
    } catch {
      // v86's pool of source ports is exhausted: refuse this one, keep the rest.
      socket.resetAndDestroy();
      return;
    }
    let guestGone = false;
    const process = conn.process.bind(conn);
    conn.process = (packet) => {
      for (const part of splitFinWithData(conn, packet as GuestSegment)) process(part);
      // v86 ends a connection we closed first (FIN_WAIT_2, then the guest's FIN) without an event.
      if (conn.state === "closed" && !guestGone) {
        guestGone = true;
        socket.end();
      }
      if (socket.isPaused() && conn.state !== "syn-sent" && conn.send_buffer.length < GUEST_QUEUE_LOW) socket.resume();
    };
    conn.on("connect", () => socket.resume());
    conn.on("data", (data) => socket.write(Buffer.from(data)));
    // The guest closed its side (FIN): half-close ours; a reset (or a refused SYN) resets the client.
    conn.on("shutdown", () => socket.end());
    conn.on("close", () => {
      guestGone = true;
      socket.resetAndDestroy();
    });
    socket.on("data", (chunk: Buffer) => {
      conn.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      if (conn.send_buffer.length > GUEST_QUEUE_HIGH) socket.pause();
    });
    // The client half-closed: the guest gets a FIN once what it was sent is acknowledged.
    socket.on("end", () => conn.close());
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.sockets.delete(socket);
      if (!guestGone) conn.close();
    });
  }
}

/** The parts of a parsed TCP segment (v86's packet object) this module looks at. */
interface GuestSegment {
  tcp: { fin?: boolean; seq: number };
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

function listen(server: net.Server, f: PortForward): Promise<ForwardFailure | undefined> {
  return new Promise((resolve) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      const reason = e.code === "EADDRINUSE" ? "in-use" : e.code === "EACCES" ? "denied" : "unavailable";
      resolve({ forward: f, reason, message: e.message });
    });
    server.listen({ host: f.address, port: f.host, exclusive: true }, () => resolve(undefined));
  });
}
