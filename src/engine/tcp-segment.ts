import { inetChecksum, IP_PAYLOAD, ipv4Frame, ipv4FromBytes, pseudoHeaderSum } from "./ipv4-frame";

/**
 * One TCP segment from the host's side of a v86 connection to the guest, for the segments v86
 * itself never sends twice (guest-tcp-recovery.ts): a bare ACK, a FIN again, a reset.
 */

const PROTO_TCP = 6;
const TCP_HEADER = 20;

export const TCP_FIN = 0x01;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

/** The addressing of one v86 TCPConnection: `*src` is the host's side, `*dest` the guest's. */
export interface TcpEndpoints {
  hsrc: Uint8Array;
  hdest: Uint8Array;
  psrc: Uint8Array;
  pdest: Uint8Array;
  sport: number;
  dport: number;
}

export interface TcpSegment {
  seq: number;
  ack: number;
  flags: number;
  window: number;
}

export function tcpSegmentFrame(c: TcpEndpoints, s: TcpSegment): Uint8Array {
  const src = ipv4FromBytes(c.psrc);
  const dst = ipv4FromBytes(c.pdest);
  const out = ipv4Frame({ dstMac: c.hdest, srcMac: c.hsrc, src, dst, proto: PROTO_TCP }, TCP_HEADER);
  const v = new DataView(out.buffer);
  const t = IP_PAYLOAD;
  v.setUint16(t, c.sport);
  v.setUint16(t + 2, c.dport);
  v.setUint32(t + 4, s.seq >>> 0);
  v.setUint32(t + 8, s.ack >>> 0);
  out[t + 12] = (TCP_HEADER / 4) << 4;
  out[t + 13] = s.flags;
  v.setUint16(t + 14, Math.min(0xffff, Math.max(0, s.window)));
  v.setUint16(t + 16, inetChecksum(out.subarray(t, t + TCP_HEADER), pseudoHeaderSum(src, dst, PROTO_TCP, TCP_HEADER)));
  return out;
}
