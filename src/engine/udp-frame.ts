/**
 * UDP datagrams in Ethernet frames, the way the guest's NIC sends and receives them. v86's
 * user-mode network answers only DHCP, DNS (with a fixed fake address) and NTP; the engine
 * reads the guest's other UDP itself (DNS through the host's resolver, datagrams through host
 * sockets) and hands answers back as frames built here.
 */

import { ETH, ETHERTYPE_IPV4, IP_PAYLOAD, ipv4Frame } from "./ipv4-frame";

export interface UdpDatagram {
  /** The guest's MAC (a reply's destination). */
  mac: Uint8Array;
  src: number;
  dst: number;
  sport: number;
  dport: number;
  payload: Uint8Array;
}

const PROTO_UDP = 17;

/** The datagram a frame carries, or undefined for any other frame (and for IP fragments: not reassembled). */
export function parseUdpFrame(frame: Uint8Array): UdpDatagram | undefined {
  if (frame.length < ETH + 20 + 8) return undefined;
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (v.getUint16(12) !== ETHERTYPE_IPV4 || frame[ETH] >> 4 !== 4 || frame[ETH + 9] !== PROTO_UDP) return undefined;
  const ihl = (frame[ETH] & 0xf) * 4;
  const fragmented = (v.getUint16(ETH + 6) & 0x3fff) !== 0;
  const total = v.getUint16(ETH + 2);
  if (ihl < 20 || fragmented || ETH + total > frame.length || total < ihl + 8) return undefined;
  const u = ETH + ihl;
  const len = v.getUint16(u + 4);
  if (len < 8 || u + len > ETH + total) return undefined;
  return {
    mac: frame.slice(6, 12),
    src: v.getUint32(ETH + 12),
    dst: v.getUint32(ETH + 16),
    sport: v.getUint16(u),
    dport: v.getUint16(u + 2),
    payload: frame.slice(u + 8, u + len),
  };
}

/** A frame from `routerMac` to the guest carrying one datagram (UDP checksum 0: none, which IPv4 allows). */
export function udpFrame(routerMac: Uint8Array, d: UdpDatagram): Uint8Array {
  const out = ipv4Frame({ dstMac: d.mac, srcMac: routerMac, src: d.src, dst: d.dst, proto: PROTO_UDP }, 8 + d.payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(IP_PAYLOAD, d.sport);
  v.setUint16(IP_PAYLOAD + 2, d.dport);
  v.setUint16(IP_PAYLOAD + 4, 8 + d.payload.length);
  out.set(d.payload, IP_PAYLOAD + 8);
  return out;
}

export function ipv4Text(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".");
}
