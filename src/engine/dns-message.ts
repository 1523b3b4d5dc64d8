/**
 * The DNS wire format, as much as a resolver for the guest needs (RFC 1035): read a query's one
 * question, write an answer of IPv4 addresses or an error code. The host's own resolver does the
 * lookup (guest-outbound.ts), so this never parses an answer from the network.
 */

export interface DnsQuery {
  id: number;
  /** Recursion desired, echoed back. */
  rd: boolean;
  name: string;
  type: number;
  /** The question exactly as sent, copied into the answer. */
  question: Uint8Array;
}

export const DNS_TYPE_A = 1;
export const RCODE = { ok: 0, formatError: 1, serverFailure: 2, nameError: 3, refused: 5 } as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

const HEADER = 12;

/** The query's id, flags and single question; undefined for anything that is not a plain query. */
export function parseDnsQuery(msg: Uint8Array): DnsQuery | undefined {
  if (msg.length < HEADER + 5) return undefined;
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const flags = v.getUint16(2);
  const isQuery = (flags & 0x8000) === 0 && ((flags >> 11) & 0xf) === 0;
  if (!isQuery || v.getUint16(4) !== 1) return undefined;
  const labels: string[] = [];
  let at = HEADER;
  for (;;) {
    if (at >= msg.length) return undefined;
    const len = msg[at];
    if (len === 0) break;
    // A query's name is never compressed; a pointer here is malformed or hostile.
    if (len > 63 || at + 1 + len > msg.length) return undefined;
    labels.push(Buffer.from(msg.subarray(at + 1, at + 1 + len)).toString("latin1"));
    at += 1 + len;
  }
  at += 1;
  if (at + 4 > msg.length) return undefined;
  return { id: v.getUint16(0), rd: (flags & 0x0100) !== 0, name: labels.join("."), type: v.getUint16(at), question: msg.slice(HEADER, at + 4) };
}

/** The answer to `q`: `addresses` as A records (32-bit numbers) when `rcode` is ok. */
export function dnsAnswer(q: Pick<DnsQuery, "id" | "rd" | "question">, rcode: Rcode, addresses: readonly number[] = [], ttl = 60): Uint8Array {
  const answers = rcode === RCODE.ok ? addresses : [];
  const out = new Uint8Array(HEADER + q.question.length + answers.length * 16);
  const v = new DataView(out.buffer);
  v.setUint16(0, q.id);
  // A response, recursion available, and the guest's recursion-desired bit echoed.
  v.setUint16(2, 0x8080 | (q.rd ? 0x0100 : 0) | rcode);
  v.setUint16(4, 1);
  v.setUint16(6, answers.length);
  out.set(q.question, HEADER);
  let at = HEADER + q.question.length;
  for (const ip of answers) {
    v.setUint16(at, 0xc000 | HEADER); // the name: a pointer to the question's
    v.setUint16(at + 2, DNS_TYPE_A);
    v.setUint16(at + 4, 1); // class IN
    v.setUint32(at + 6, ttl);
    v.setUint16(at + 10, 4);
    v.setUint32(at + 12, ip);
    at += 16;
  }
  return out;
}
