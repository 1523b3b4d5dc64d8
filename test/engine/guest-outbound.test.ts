import { afterEach, describe, expect, it } from "vitest";
import * as dgram from "node:dgram";
import * as net from "node:net";
import { GuestOutbound, HOST_ALIAS, type OutboundAdapter } from "../../src/engine/guest-outbound";
import type { GuestTcp } from "../../src/engine/guest-tcp-pipe";
import { dnsAnswer, RCODE } from "../../src/engine/dns-message";
import { ipv4Number, OutboundPolicy } from "../../src/engine/outbound-rules";
import { parseUdpFrame, udpFrame } from "../../src/engine/udp-frame";

/**
 * The way out with v86 played by a fake adapter that does what handle_fake_tcp does with a SYN
 * (a new connection handed to on_tcp_connection, a reset unless it was registered) and real host
 * sockets on 127.0.0.1 behind the router's address.
 */

const ROUTER = Uint8Array.from([192, 168, 86, 1]);
const GUEST = ipv4Number("192.168.86.100")!;
const guestMac = Uint8Array.from([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
const routerMac = Uint8Array.from([0x52, 0x54, 0, 1, 2, 3]);

class FakeConn implements GuestTcp {
  state = "syn-received";
  ack = 1;
  seq = 1338;
  winsize = 64240;
  hsrc = routerMac;
  hdest = guestMac;
  psrc = ROUTER;
  pdest = Uint8Array.from([192, 168, 86, 100]);
  dport = 40000;
  net = { receive: () => undefined };
  send_buffer = { length: 0 };
  readonly written: Buffer[] = [];
  readonly handlers: Record<string, (...a: unknown[]) => void> = {};
  accepted = 0;
  closed = 0;
  constructor(readonly tuple: string, readonly sport: number) {}
  on(event: string, fn: (...a: never[]) => void): void {
    this.handlers[event] = fn as (...a: unknown[]) => void;
  }
  write(data: Uint8Array): void {
    this.written.push(Buffer.from(data));
  }
  close(): void {
    this.closed++;
  }
  connect(): void {}
  pump(): void {}
  release(): void {}
  accept(): void {
    this.accepted++;
    this.state = "established";
  }
  process(): void {}
}

class FakeAdapter implements OutboundAdapter {
  tcp_conn: Record<string, GuestTcp> = {};
  router_mac = routerMac;
  router_ip = ROUTER;
  readonly received: Uint8Array[] = [];
  readonly resets: string[] = [];
  readonly conns: FakeConn[] = [];
  on_tcp_connection?: OutboundAdapter["on_tcp_connection"];
  constructor(private readonly port: number) {}
  receive(frame: Uint8Array): void {
    this.received.push(frame);
  }
  /** v86's handling of a guest SYN to the router's `port` (a UDP frame goes nowhere here). */
  send(frame: Uint8Array): void {
    if (parseUdpFrame(frame)) return;
    const conn = new FakeConn(`192.168.86.100:40000:192.168.86.1:${this.port}`, this.port);
    this.conns.push(conn);
    delete this.tcp_conn[conn.tuple];
    this.on_tcp_connection?.(conn, { ipv4: { dest: ROUTER } });
    if (!this.tcp_conn[conn.tuple]) this.resets.push(conn.tuple);
  }
}

const synFrame = new Uint8Array(60);
const until = async (what: () => boolean) => {
  for (let i = 0; i < 500 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(what()).toBe(true);
};
const cleanup: (() => void)[] = [];
afterEach(() => cleanup.splice(0).forEach((f) => f()));

function listenTcp(onSocket: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer(onSocket);
  cleanup.push(() => server.close());
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));
}

function outbound(adapter: FakeAdapter, rules: string[][], lookup?: (n: string) => Promise<number[]>): GuestOutbound {
  const o = new GuestOutbound(adapter, new OutboundPolicy(rules), lookup);
  cleanup.push(() => o.close());
  return o;
}

describe("the guest's way out (guest-outbound.ts)", () => {
  it("a connection to host.vmsfx.internal is made to the host's 127.0.0.1; the guest's SYN is answered once it is", async () => {
    let hostSide: net.Socket | undefined;
    const port = await listenTcp((s) => {
      hostSide = s;
      s.write("from host");
    });
    const adapter = new FakeAdapter(port);
    outbound(adapter, [[`${HOST_ALIAS}:${port}`]]);
    adapter.send(synFrame);
    const conn = adapter.conns[0];
    expect(adapter.resets).toEqual([]);
    expect(conn.accepted).toBe(0);
    await until(() => conn.accepted === 1 && conn.written.length > 0);
    expect(Buffer.concat(conn.written).toString()).toBe("from host");
    const got = new Promise<string>((resolve) => hostSide!.once("data", (d) => resolve(d.toString())));
    conn.handlers.data(Uint8Array.from(Buffer.from("from guest")));
    expect(await got).toBe("from guest");
  });

  it("regression: a SYN sent again while the host connects is held too, and that one is answered", async () => {
    const port = await listenTcp(() => {});
    const adapter = new FakeAdapter(port);
    outbound(adapter, [[HOST_ALIAS]]);
    adapter.send(synFrame);
    adapter.send(synFrame);
    expect(adapter.resets).toEqual([]);
    await until(() => adapter.conns[1].accepted === 1);
    expect(adapter.conns[0].accepted).toBe(0);
  });

  it("a host that refuses gives the guest a reset (the SYN replayed into v86), not an open-then-broken connection", async () => {
    const port = await listenTcp(() => {});
    cleanup.splice(0).forEach((f) => f()); // closed again: nothing listens on `port` now
    const adapter = new FakeAdapter(port);
    outbound(adapter, [[HOST_ALIAS]]);
    adapter.send(synFrame);
    await until(() => adapter.resets.length === 1);
    expect(adapter.conns.map((c) => c.accepted)).toEqual([0, 0]);
    expect(adapter.tcp_conn).toEqual({});
  });

  it("what the rules do not allow is reset at once, with no host connection", async () => {
    let connected = false;
    const port = await listenTcp(() => (connected = true));
    const adapter = new FakeAdapter(port);
    outbound(adapter, [[`${HOST_ALIAS}:${port + 1}`]]);
    adapter.send(synFrame);
    expect(adapter.resets).toHaveLength(1);
    const none = new FakeAdapter(port);
    outbound(none, [[HOST_ALIAS], []]); // --no-network
    none.send(synFrame);
    expect(none.resets).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(connected).toBe(false);
  });

  it("answers the guest's DNS from the host's resolver, within the rules", async () => {
    const adapter = new FakeAdapter(1);
    const asked: string[] = [];
    const o = outbound(adapter, [["*.example.com"]], async (name) => {
      asked.push(name);
      return name === "www.example.com" ? [ipv4Number("93.184.216.34")!] : Promise.reject(Object.assign(new Error("nx"), { code: "ENOTFOUND" }));
    });
    const ask = async (name: string) => {
      const q = dnsAnswer({ id: 7, rd: true, question: questionOf(name) }, RCODE.ok);
      q[2] = 0x01; // a query, not an answer
      q[3] = 0x00;
      adapter.received.length = 0;
      (adapter.send as (f: Uint8Array) => void)(udpFrame(guestMac, { mac: routerMac, src: GUEST, dst: ipv4Number("192.168.86.1")!, sport: 33000, dport: 53, payload: q }));
      await until(() => adapter.received.length === 1);
      const reply = parseUdpFrame(adapter.received[0])!;
      expect(reply).toMatchObject({ src: ipv4Number("192.168.86.1"), dst: GUEST, sport: 53, dport: 33000 });
      return Buffer.from(reply.payload);
    };
    expect(o).toBeDefined();
    const www = await ask("www.example.com");
    expect(www.readUInt16BE(2) & 0xf).toBe(RCODE.ok);
    expect([...www.subarray(www.length - 4)]).toEqual([93, 184, 216, 34]);
    expect((await ask("nope.example.com")).readUInt16BE(2) & 0xf).toBe(RCODE.nameError);
    expect((await ask("example.net")).readUInt16BE(2) & 0xf).toBe(RCODE.refused);
    // A name no rule could allow never reaches the host's resolver (no tunnelling out in queries).
    expect(asked).toEqual(["www.example.com", "nope.example.com"]);
  });

  it("carries UDP out and the answer back, from where it was sent only", async () => {
    const echo = dgram.createSocket("udp4");
    cleanup.push(() => echo.close());
    echo.on("message", (m, r) => echo.send(Buffer.concat([Buffer.from("echo:"), m]), r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, "127.0.0.1", r));
    const port = echo.address().port;
    const adapter = new FakeAdapter(1);
    outbound(adapter, [[`${HOST_ALIAS}:${port}`]]);
    const payload = Uint8Array.from(Buffer.from("ping"));
    (adapter.send as (f: Uint8Array) => void)(udpFrame(guestMac, { mac: routerMac, src: GUEST, dst: ipv4Number("192.168.86.1")!, sport: 41000, dport: port, payload }));
    await until(() => adapter.received.length === 1);
    const reply = parseUdpFrame(adapter.received[0])!;
    expect(reply).toMatchObject({ src: ipv4Number("192.168.86.1"), dst: GUEST, sport: port, dport: 41000 });
    expect(Buffer.from(reply.payload).toString()).toBe("echo:ping");
  });
});

function questionOf(name: string): Uint8Array {
  const labels = name.split(".").flatMap((l) => [l.length, ...Buffer.from(l, "latin1")]);
  return Uint8Array.from([...labels, 0, 0, 1, 0, 1]);
}
