import { describe, expect, it } from "vitest";
import { dnsAnswer, parseDnsQuery, RCODE } from "../../src/engine/dns-message";

/** A query as a resolver writes it: id, RD set, one question. */
function query(name: string, type = 1, id = 0x1234): Uint8Array {
  const labels = name.split(".").flatMap((l) => [l.length, ...Buffer.from(l, "latin1")]);
  return Uint8Array.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, type, 0, 1]);
}

describe("DNS messages", () => {
  it("reads a query's id, name, type and question", () => {
    const q = parseDnsQuery(query("host.vmsfx.internal", 28))!;
    expect(q).toMatchObject({ id: 0x1234, rd: true, name: "host.vmsfx.internal", type: 28 });
    expect(q.question.length).toBe(21 + 4);
  });

  it("refuses what is not one plain question: answers, pointers, truncation, two questions", () => {
    const answer = query("a.b");
    answer[2] |= 0x80;
    expect(parseDnsQuery(answer)).toBeUndefined();
    const pointer = query("a.b");
    pointer[12] = 0xc0;
    expect(parseDnsQuery(pointer)).toBeUndefined();
    expect(parseDnsQuery(query("a.b").subarray(0, 16))).toBeUndefined();
    const two = query("a.b");
    two[5] = 2;
    expect(parseDnsQuery(two)).toBeUndefined();
    expect(parseDnsQuery(new Uint8Array(3))).toBeUndefined();
  });

  it("writes A records a resolver reads back, and error codes with no records", () => {
    const q = parseDnsQuery(query("example.com"))!;
    const a = Buffer.from(dnsAnswer(q, RCODE.ok, [0x5db8d822, 0x01020304]));
    expect(a.readUInt16BE(0)).toBe(0x1234);
    expect(a.readUInt16BE(2) & 0x8000).toBe(0x8000);
    expect(a.readUInt16BE(2) & 0xf).toBe(0);
    expect(a.readUInt16BE(6)).toBe(2);
    const first = 12 + q.question.length;
    expect(a.readUInt16BE(first)).toBe(0xc00c);
    expect([...a.subarray(first + 12, first + 16)]).toEqual([93, 184, 216, 34]);
    const refused = Buffer.from(dnsAnswer(q, RCODE.refused, [1]));
    expect(refused.readUInt16BE(2) & 0xf).toBe(5);
    expect(refused.readUInt16BE(6)).toBe(0);
  });
});
