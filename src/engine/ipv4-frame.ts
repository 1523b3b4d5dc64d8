/**
 * The Ethernet and IPv4 headers of the frames the engine hands the guest itself (UDP answers,
 * and the TCP segments v86 never sends again: tcp-segment.ts). v86 builds its own frames
 * internally and does not export that code.
 */

export const ETH = 14;
export const ETHERTYPE_IPV4 = 0x0800;
const IPV4_HEADER = 20;

/** The Internet checksum (RFC 1071) over `bytes`, continuing from a partial sum `initial`. */
export function inetChecksum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length & 1) sum += bytes[bytes.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The folded, not inverted, sum of the TCP/UDP pseudo-header (RFC 793): source, destination, protocol, length. */
export function pseudoHeaderSum(src: number, dst: number, proto: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + length;
}

export interface Ipv4Envelope {
  /** Destination MAC (the guest's). */
  dstMac: Uint8Array;
  /** Source MAC (the router's, as v86 presents the host). */
  srcMac: Uint8Array;
  src: number;
  dst: number;
  proto: number;
}

let ipId = 0;

/**
 * A frame with its Ethernet and IPv4 headers written and `payloadLength` bytes after them for
 * the caller to fill from `IP_PAYLOAD`.
 */
export function ipv4Frame(e: Ipv4Envelope, payloadLength: number): Uint8Array {
  const total = IPV4_HEADER + payloadLength;
  const out = new Uint8Array(ETH + total);
  const v = new DataView(out.buffer);
  out.set(e.dstMac, 0);
  out.set(e.srcMac, 6);
  v.setUint16(12, ETHERTYPE_IPV4);
  out[ETH] = 0x45;
  v.setUint16(ETH + 2, total);
  v.setUint16(ETH + 4, (ipId = (ipId + 1) & 0xffff));
  v.setUint16(ETH + 6, 0x4000); // don't fragment
  out[ETH + 8] = 64;
  out[ETH + 9] = e.proto;
  v.setUint32(ETH + 12, e.src);
  v.setUint32(ETH + 16, e.dst);
  v.setUint16(ETH + 10, inetChecksum(out.subarray(ETH, ETH + IPV4_HEADER)));
  return out;
}

/** Where a frame from ipv4Frame carries its payload. */
export const IP_PAYLOAD = ETH + IPV4_HEADER;

/** Four address bytes (v86 keeps addresses as Uint8Array) as one number. */
export function ipv4FromBytes(bytes: Uint8Array): number {
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
}
