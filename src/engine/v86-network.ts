import * as net from "node:net";
import type { ForwardFailure, PortForward } from "./engine-protocol";
import { GuestOutbound, type OutboundAdapter } from "./guest-outbound";
import { pipeGuestTcp, retrySyn, type GuestTcp } from "./guest-tcp-pipe";
import { OutboundPolicy } from "./outbound-rules";

export { splitFinWithData } from "./guest-tcp-pipe";

/**
 * The guest's network: v86's virtio NIC wired to v86's own user-mode network stack (its "fetch"
 * adapter: ARP, DHCP, DNS, and TCP connections the host side can accept and open), never a
 * second TCP/IP stack. What this adds is the host side: forwarded ports (a socket accepted on
 * the host becomes a TCP connection into the guest) and the way out (guest-outbound.ts: the
 * guest's connections made by host sockets, its DNS by the host's resolver) where a policy
 * allows it. The adapter's built-in HTTP proxy (guest port-80 connections turned into the host's
 * fetch()) is taken out, so a guest reaches nothing outside unless a policy allows it (SECURITY.md).
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

/** The part of v86's FetchNetworkAdapter used here. */
interface UserModeAdapter extends OutboundAdapter {
  connect(port: number): GuestTcp;
  tcp_probe(port: number): Promise<boolean>;
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
  if (typeof a.send !== "function" || typeof a.receive !== "function") out.push("network_adapter.send/receive are not functions");
  if (typeof a.tcp_conn !== "object" || !(a.router_mac instanceof Uint8Array) || !(a.router_ip instanceof Uint8Array)) out.push("network_adapter.tcp_conn/router_mac/router_ip are missing");
  return out;
}

/** Connections at once per forwarded port; Node closes any beyond it at once, so a flood costs no memory. */
const MAX_CONNECTIONS = 128;

export class GuestNetwork {
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly outbound: GuestOutbound;

  constructor(private readonly adapter: UserModeAdapter) {
    // v86's own way out (guest port-80 requests turned into the host's fetch()) is taken out:
    // the guest's connections go only where the outbound policy lets them, and by default nowhere.
    adapter.bus.listeners["tcp-connection"] = [];
    adapter.fetch = () => Promise.reject(new Error("the guest has no outbound network"));
    this.outbound = new GuestOutbound(adapter, new OutboundPolicy([]));
  }

  /** The rule lists a guest connection must pass, every one (outbound-rules.ts); none: no way out. */
  setOutbound(lists: string[][]): void {
    this.outbound.setPolicy(new OutboundPolicy(lists));
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
    this.outbound.close();
    for (const s of this.servers.splice(0)) s.close();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private bridge(socket: net.Socket, guestPort: number): void {
    let conn: GuestTcp;
    try {
      conn = this.adapter.connect(guestPort);
    } catch {
      // v86's pool of source ports is exhausted: refuse this one, keep the rest.
      socket.resetAndDestroy();
      return;
    }
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    // Nothing is read until the guest has accepted: bytes sent before would have nowhere to go.
    pipeGuestTcp(socket, conn);
    retrySyn(conn, socket);
  }
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
