import * as dgram from "node:dgram";
import * as dns from "node:dns";
import * as net from "node:net";
import { DNS_TYPE_A, dnsAnswer, parseDnsQuery, RCODE, type DnsQuery } from "./dns-message";
import { pipeGuestTcp, type GuestTcp } from "./guest-tcp-pipe";
import { ipv4FromBytes } from "./ipv4-frame";
import { ipv4Number, type OutboundPolicy } from "./outbound-rules";
import { ipv4Text, parseUdpFrame, udpFrame, type UdpDatagram } from "./udp-frame";

/**
 * The guest's way out (user-mode NAT, as QEMU's slirp does it): a TCP connection or UDP datagram
 * the guest sends becomes one the host opens with its own sockets, and the guest's DNS queries
 * to the router are answered from the host's resolver. Every destination is checked against the
 * policy first; what it does not allow is refused the way a host would refuse it (a TCP reset,
 * a DNS "refused"), and UDP is dropped. Nothing else leaves: no ICMP, no IP fragments.
 *
 * The host itself is `host.vmsfx.internal`, the router's address: a connection there is made to
 * the host's 127.0.0.1 (as QEMU's 10.0.2.2 and Docker's host.docker.internal do), and only a rule
 * naming it (or the router's address) allows that; `*` never does.
 */

export const HOST_ALIAS = "host.vmsfx.internal";
const HOST_LOOPBACK = "127.0.0.1";

/** The part of v86's FetchNetworkAdapter used here. */
export interface OutboundAdapter {
  send(frame: Uint8Array): void;
  receive(frame: Uint8Array): void;
  on_tcp_connection?: (conn: GuestTcp, packet: { ipv4: { dest: Uint8Array } }) => void;
  tcp_conn: Record<string, GuestTcp>;
  router_mac: Uint8Array;
  router_ip: Uint8Array;
}

/** Connections the guest holds open at once; beyond them its SYNs are reset. */
const MAX_TCP = 256;
/** UDP source ports with a host socket at once, and how long an idle one is kept. */
const MAX_UDP = 128;
const UDP_IDLE_MS = 60_000;
const MAX_PEERS = 64;
/** A host connect that has not succeeded by then is refused to the guest. */
const CONNECT_TIMEOUT_MS = 30_000;
const DNS_PORT = 53;
const DHCP_PORT = 67;
const NTP_PORT = 123;

interface HeldSyn {
  conn: GuestTcp;
  /** The guest's SYN frame, replayed to make v86 send the reset a refusal needs. */
  frame: Uint8Array;
}

interface UdpFlow {
  socket: dgram.Socket;
  mac: Uint8Array;
  guestIp: number;
  /** Where the guest sent to: only they may answer (address-restricted, as a NAT router does). */
  peers: Set<string>;
  idle?: NodeJS.Timeout;
}

export class GuestOutbound {
  private readonly send: (frame: Uint8Array) => void;
  private frame: Uint8Array | undefined;
  private readonly held = new Map<string, HeldSyn>();
  private readonly refused = new Set<string>();
  private readonly sockets = new Set<net.Socket>();
  private readonly udp = new Map<number, UdpFlow>();
  private readonly router: number;
  private closed = false;

  constructor(
    private readonly adapter: OutboundAdapter,
    private policy: OutboundPolicy,
    private readonly lookup: (name: string) => Promise<number[]> = hostLookup,
  ) {
    this.router = ipv4FromBytes(adapter.router_ip);
    policy.learn(HOST_ALIAS, this.router);
    this.send = adapter.send.bind(adapter);
    adapter.send = (frame) => this.fromGuest(frame);
    adapter.on_tcp_connection = (conn, packet) => this.tcpOpened(conn, packet.ipv4.dest);
  }

  /** Takes effect for what the guest opens next; open connections stay (a launch sets it before the guest runs). */
  setPolicy(policy: OutboundPolicy): void {
    this.policy = policy;
    policy.learn(HOST_ALIAS, this.router);
  }

  close(): void {
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    for (const f of this.udp.values()) this.dropFlow(f);
    this.udp.clear();
    this.held.clear();
  }

  private fromGuest(frame: Uint8Array): void {
    const d = parseUdpFrame(frame);
    if (!d) {
      this.frame = frame;
      this.send(frame);
      this.frame = undefined;
      return;
    }
    if (d.dst === this.router && d.dport === DNS_PORT) void this.answerDns(d);
    // DHCP and the router's NTP stay v86's own (it answers with the host's clock).
    else if (d.dport === DHCP_PORT || (d.dst === this.router && d.dport === NTP_PORT)) this.send(frame);
    else this.udpOut(d);
  }

  private tcpOpened(conn: GuestTcp, dest: Uint8Array): void {
    const tuple = conn.tuple;
    if (this.refused.delete(tuple)) return; // v86 resets it: the replayed SYN of a refused connect
    const held = this.held.get(tuple);
    if (held) {
      // The guest sent its SYN again while the host is still connecting: keep holding the new one.
      held.conn = conn;
      this.adapter.tcp_conn[tuple] = conn;
      return;
    }
    const ip = Array.from(dest).join(".");
    // v86 calls this only while handling a guest frame (fromGuest keeps it); anything else is refused.
    if (!this.frame || this.closed || !this.policy.allowsConnect(ip, conn.sport) || this.sockets.size + this.held.size >= MAX_TCP) return;
    // Holding the SYN (no answer) until the host's own connect succeeds lets a refusal out there
    // be a refusal in here, instead of a connection that opens and then breaks.
    this.adapter.tcp_conn[tuple] = conn;
    const h: HeldSyn = { conn, frame: this.frame.slice() };
    this.held.set(tuple, h);
    const socket = net.connect({ host: this.hostSide(ip), port: conn.sport, allowHalfOpen: true, timeout: CONNECT_TIMEOUT_MS });
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.once("connect", () => {
      socket.setTimeout(0);
      if (this.held.get(tuple) !== h) return void socket.destroy();
      this.held.delete(tuple);
      h.conn.accept();
      pipeGuestTcp(socket, h.conn);
    });
    const refuse = () => {
      socket.destroy();
      if (this.held.get(tuple) !== h) return;
      this.held.delete(tuple);
      if (this.adapter.tcp_conn[tuple] === h.conn) delete this.adapter.tcp_conn[tuple];
      if (this.closed) return;
      this.refused.add(tuple);
      this.send(h.frame);
      this.refused.delete(tuple);
    };
    socket.once("timeout", refuse);
    socket.once("error", refuse);
  }

  private async answerDns(d: UdpDatagram): Promise<void> {
    const q = parseDnsQuery(d.payload);
    if (!q) return;
    const reply = await this.resolve(q);
    if (!this.closed) this.toGuest(d, reply);
  }

  private async resolve(q: DnsQuery): Promise<Uint8Array> {
    if (!this.policy.mayResolve(q.name)) return dnsAnswer(q, RCODE.refused);
    // The guest's network has IPv4 only: other types get "no such record", so it asks for A.
    if (q.type !== DNS_TYPE_A) return dnsAnswer(q, RCODE.ok);
    let ips: number[];
    try {
      ips = q.name.toLowerCase() === HOST_ALIAS ? [this.router] : await this.lookup(q.name);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return dnsAnswer(q, code === "ENOTFOUND" || code === "ENODATA" ? RCODE.nameError : RCODE.serverFailure);
    }
    const allowed = this.policy.answerable(q.name, ips);
    return allowed.length || !ips.length ? dnsAnswer(q, RCODE.ok, allowed) : dnsAnswer(q, RCODE.refused);
  }

  private udpOut(d: UdpDatagram): void {
    if (this.closed || !this.policy.allowsConnect(ipv4Text(d.dst), d.dport)) return;
    let flow = this.udp.get(d.sport);
    if (!flow) {
      if (this.udp.size >= MAX_UDP) return;
      flow = this.openFlow(d);
    }
    // A guest sending from one port to many places (a DNS resolver does) keeps the latest few.
    if (flow.peers.size >= MAX_PEERS) flow.peers.delete(flow.peers.values().next().value!);
    flow.peers.add(`${ipv4Text(d.dst)}:${d.dport}`);
    this.touch(flow, d.sport);
    flow.socket.send(d.payload, d.dport, this.hostSide(ipv4Text(d.dst)));
  }

  private openFlow(d: UdpDatagram): UdpFlow {
    const socket = dgram.createSocket("udp4");
    const flow: UdpFlow = { socket, mac: d.mac, guestIp: d.src, peers: new Set() };
    socket.on("error", () => undefined);
    socket.on("message", (msg, rinfo) => {
      const address = rinfo.address === HOST_LOOPBACK ? ipv4Text(this.router) : rinfo.address;
      const from = ipv4Number(address);
      if (from === undefined || !flow.peers.has(`${address}:${rinfo.port}`) || this.closed) return;
      this.touch(flow, d.sport);
      const reply = { mac: flow.mac, src: from, dst: flow.guestIp, sport: rinfo.port, dport: d.sport, payload: msg };
      this.adapter.receive(udpFrame(this.adapter.router_mac, reply));
    });
    this.udp.set(d.sport, flow);
    return flow;
  }

  private touch(flow: UdpFlow, sport: number): void {
    clearTimeout(flow.idle);
    flow.idle = setTimeout(() => {
      this.dropFlow(flow);
      this.udp.delete(sport);
    }, UDP_IDLE_MS);
    flow.idle.unref();
  }

  private dropFlow(flow: UdpFlow): void {
    clearTimeout(flow.idle);
    flow.socket.close();
  }

  /** Where the host connects for a guest destination: the router is the host itself. */
  private hostSide(ip: string): string {
    return ipv4Number(ip) === this.router ? HOST_LOOPBACK : ip;
  }

  private toGuest(request: UdpDatagram, payload: Uint8Array): void {
    const reply = { mac: request.mac, src: request.dst, dst: request.src, sport: request.dport, dport: request.sport, payload };
    this.adapter.receive(udpFrame(this.adapter.router_mac, reply));
  }
}

/** The host's resolver (getaddrinfo: its hosts file, its DNS), IPv4 addresses only. */
async function hostLookup(name: string): Promise<number[]> {
  const found = await dns.promises.lookup(name, { family: 4, all: true });
  return [...new Set(found.map((a) => ipv4Number(a.address)).filter((n): n is number => n !== undefined))];
}
