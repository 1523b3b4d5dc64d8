import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { GuestTcpRecovery, RETRANSMIT_MS } from "../../src/engine/guest-tcp-recovery";
import type { GuestTcp } from "../../src/engine/guest-tcp-pipe";
import { inetChecksum, pseudoHeaderSum } from "../../src/engine/ipv4-frame";
import { TCP_ACK, tcpSegmentFrame, TCP_FIN, TCP_RST } from "../../src/engine/tcp-segment";
import { freshV86 } from "../helpers/fresh-v86";

/**
 * v86's own TCPConnection (a real emulator's user-mode network, nothing running in it) played
 * against segments a Linux guest sends: the guest's side is written here as frames into the
 * NIC's path, and every frame v86 (or the recovery) sends the guest is read back and checked.
 */

const SYN = 0x02;
const GUEST_ISN = 70_000;
const guestMac = Uint8Array.from([0x52, 0x54, 0, 0x12, 0x34, 0x56]);

interface Seen { flags: number; seq: number; ack: number; data: number; checksumOk: boolean }

/** A TCP frame to the guest, read as the guest's stack would (the TCP checksum verified too). */
function readFrame(frame: Uint8Array): Seen {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const ihl = (frame[14] & 0xf) * 4;
  const total = v.getUint16(16);
  const t = 14 + ihl;
  const tcpLen = total - ihl;
  const pseudo = pseudoHeaderSum(v.getUint32(26), v.getUint32(30), 6, tcpLen);
  return {
    flags: frame[t + 13],
    seq: v.getUint32(t + 4),
    ack: v.getUint32(t + 8),
    data: tcpLen - (frame[t + 12] >> 4) * 4,
    checksumOk: inetChecksum(frame.subarray(t, t + tcpLen), pseudo) === 0,
  };
}

let emulator: { network_adapter: { connect(port: number): GuestTcp; send(f: Uint8Array): void; receive(f: Uint8Array): void; vm_mac: Uint8Array } };
let sent: Seen[] = [];
beforeAll(async () => {
  emulator = await freshV86({ nic: true });
  const adapter = emulator.network_adapter;
  adapter.vm_mac = guestMac;
  adapter.receive = (frame: Uint8Array) => void sent.push(readFrame(frame.slice()));
});
afterAll(() => (emulator as unknown as { destroy(): void }).destroy());
beforeEach(() => {
  sent = [];
  vi.useFakeTimers();
  return () => vi.useRealTimers();
});

/** A segment from the guest to `conn`, through the NIC's path into v86. */
function fromGuest(conn: GuestTcp, s: { seq: number; ack: number; flags: number }): void {
  const guestSide = { hsrc: guestMac, hdest: conn.hsrc, psrc: conn.pdest, pdest: conn.psrc, sport: conn.dport, dport: conn.sport };
  emulator.network_adapter.send(tcpSegmentFrame(guestSide, { ...s, window: 64240 }));
}

/** A forwarded connection into guest port 80, past its handshake, with a recovery watching it. */
function established(): { conn: GuestTcp; recovery: GuestTcpRecovery; gaveUp: () => number } {
  const conn = emulator.network_adapter.connect(80);
  let gaveUp = 0;
  const recovery = new GuestTcpRecovery(conn, () => gaveUp++);
  const process = conn.process.bind(conn);
  conn.process = (p) => {
    if (!recovery.intercept(p as never)) process(p);
    recovery.watch();
  };
  fromGuest(conn, { seq: GUEST_ISN, ack: 1338, flags: SYN | TCP_ACK });
  expect(conn.state).toBe("established");
  sent = [];
  return { conn, recovery, gaveUp: () => gaveUp };
}

describe("v86's TCP, sent again where a guest dropped a segment", () => {
  it("regression: a SYN-ACK the guest repeats (its accept queue was full, so it dropped our ACK and the request) is answered with the request again; v86 ignored it and the connection hung for good", () => {
    const { conn, recovery } = established();
    conn.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
    recovery.watch();
    expect(sent).toMatchObject([{ flags: TCP_ACK | 0x08, seq: 1338, ack: GUEST_ISN + 1, data: 18 }]);
    fromGuest(conn, { seq: GUEST_ISN, ack: 1338, flags: SYN | TCP_ACK });
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({ seq: 1338, ack: GUEST_ISN + 1, data: 18 });
    expect(sent[1].flags & TCP_ACK).toBe(TCP_ACK);
    expect(conn.state).toBe("established");
  });

  it("a repeated SYN-ACK with nothing unacknowledged gets a bare ACK with a valid checksum", () => {
    const { conn } = established();
    fromGuest(conn, { seq: GUEST_ISN, ack: 1338, flags: SYN | TCP_ACK });
    expect(sent).toEqual([{ flags: TCP_ACK, seq: 1338, ack: GUEST_ISN + 1, data: 0, checksumOk: true }]);
  });

  it("data the guest never acknowledges is sent again at 1, 3, 7, 15 and 31 s; at 63 s both sides are reset", () => {
    const { conn, recovery, gaveUp } = established();
    conn.write(new Uint8Array(100));
    recovery.watch();
    const total = RETRANSMIT_MS.reduce((a, b) => a + b, 0);
    vi.advanceTimersByTime(total - 1);
    expect(sent.map((s) => s.data)).toEqual([100, 100, 100, 100, 100, 100]);
    expect(gaveUp()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(sent.at(-1)).toMatchObject({ flags: TCP_RST | TCP_ACK, seq: 1338, checksumOk: true });
    expect(gaveUp()).toBe(1);
    expect(conn.state).toBe("closed");
  });

  it("an acknowledgement stops the sending again, and the next segment gets its own full wait", () => {
    const { conn, recovery, gaveUp } = established();
    conn.write(new Uint8Array(100));
    recovery.watch();
    vi.advanceTimersByTime(1500);
    expect(sent).toHaveLength(2);
    fromGuest(conn, { seq: GUEST_ISN + 1, ack: 1438, flags: TCP_ACK });
    vi.advanceTimersByTime(120_000);
    expect(sent).toHaveLength(2);
    expect(gaveUp()).toBe(0);
    conn.write(new Uint8Array(10));
    recovery.watch();
    vi.advanceTimersByTime(999);
    expect(sent.map((s) => s.data)).toEqual([100, 100, 10]);
  });

  it("a FIN the guest never acknowledges is sent again with the same sequence number, and an ACK of it ends that", () => {
    const { conn, recovery } = established();
    conn.close();
    recovery.watch();
    expect(sent).toMatchObject([{ flags: TCP_FIN | TCP_ACK, seq: 1338 }]);
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([sent[0], { flags: TCP_FIN | TCP_ACK, seq: 1338, ack: GUEST_ISN + 1, data: 0, checksumOk: true }]);
    fromGuest(conn, { seq: GUEST_ISN + 1, ack: 1339, flags: TCP_ACK });
    expect(conn.state).toBe("fin-wait-2");
    vi.advanceTimersByTime(120_000);
    expect(sent).toHaveLength(2);
  });

  it("keeps no timer for a connection the guest reset", () => {
    const { conn, recovery, gaveUp } = established();
    conn.write(new Uint8Array(5));
    recovery.watch();
    fromGuest(conn, { seq: GUEST_ISN + 1, ack: 0, flags: TCP_RST });
    recovery.stop();
    vi.advanceTimersByTime(120_000);
    expect(sent).toHaveLength(1);
    expect(gaveUp()).toBe(0);
  });
});

it("frames carry the connection's own addresses", () => {
  const f = tcpSegmentFrame(
    { hsrc: new Uint8Array(6).fill(1), hdest: new Uint8Array(6).fill(2), psrc: Uint8Array.from([10, 0, 0, 1]), pdest: Uint8Array.from([10, 0, 0, 2]), sport: 1234, dport: 80 },
    { seq: 1, ack: 2, flags: TCP_ACK, window: 100 },
  );
  const v = new DataView(f.buffer);
  expect([...f.subarray(0, 12)]).toEqual([2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1]);
  expect([v.getUint32(26), v.getUint32(30)]).toEqual([0x0a000001, 0x0a000002]);
  expect([v.getUint16(34), v.getUint16(36)]).toEqual([1234, 80]);
  expect(inetChecksum(f.subarray(14, 34))).toBe(0);
});
