import { describe, expect, it } from "vitest";
import { ipv4Text, parseUdpFrame, udpFrame } from "../../src/engine/udp-frame";
import { ipv4Number } from "../../src/engine/outbound-rules";

const guestMac = Uint8Array.from([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
const routerMac = Uint8Array.from([0x52, 0x54, 0, 1, 2, 3]);

describe("UDP frames", () => {
  it("round-trips a datagram, with a valid IPv4 header checksum", () => {
    const d = { mac: guestMac, src: ipv4Number("192.168.86.1")!, dst: ipv4Number("192.168.86.100")!, sport: 53, dport: 40000, payload: Uint8Array.from([1, 2, 3]) };
    const f = udpFrame(routerMac, d);
    expect([...f.subarray(0, 6)]).toEqual([...guestMac]);
    expect([...f.subarray(6, 12)]).toEqual([...routerMac]);
    let sum = 0;
    for (let i = 14; i < 34; i += 2) sum += (f[i] << 8) | f[i + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    expect(sum).toBe(0xffff);
    // Parsed as the guest's own frame would be: the "mac" is the sender's (here the router's).
    const back = parseUdpFrame(f)!;
    expect({ ...back, mac: [...back.mac], payload: [...back.payload] }).toEqual({ ...d, mac: [...routerMac], payload: [1, 2, 3] });
    expect(ipv4Text(back.src)).toBe("192.168.86.1");
  });

  it("ignores what is not a whole UDP datagram: other protocols, fragments, bad lengths", () => {
    const d = { mac: guestMac, src: 1, dst: 2, sport: 3, dport: 4, payload: new Uint8Array(10) };
    const tcp = udpFrame(routerMac, d);
    tcp[23] = 6;
    expect(parseUdpFrame(tcp)).toBeUndefined();
    const fragment = udpFrame(routerMac, d);
    fragment[20] = 0x20; // more fragments
    expect(parseUdpFrame(fragment)).toBeUndefined();
    const long = udpFrame(routerMac, d);
    long[38] = 0xff; // UDP length beyond the packet
    expect(parseUdpFrame(long)).toBeUndefined();
    expect(parseUdpFrame(udpFrame(routerMac, d).subarray(0, 30))).toBeUndefined();
  });
});
