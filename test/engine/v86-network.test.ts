import { describe, expect, it } from "vitest";
import { splitFinWithData } from "../../src/engine/v86-network";

describe("v86's TCP, as the forwards use it", () => {
  it("regression: a guest segment carrying both data and FIN is handed over as its data, then its FIN (v86 dropped the data, cutting every response's end)", () => {
    const data = new Uint8Array([1, 2, 3]);
    const parts = splitFinWithData({ ack: 1000 }, { tcp: { fin: true, seq: 1000 }, tcp_data: data });
    expect(parts).toEqual([
      { tcp: { fin: false, seq: 1000 }, tcp_data: data },
      { tcp: { fin: true, seq: 1003 }, tcp_data: new Uint8Array(0) },
    ]);
  });

  it("leaves alone a bare FIN, plain data, and a segment out of order (v86 answers that with a duplicate ACK)", () => {
    const fin = { tcp: { fin: true, seq: 5 }, tcp_data: new Uint8Array(0) };
    const plain = { tcp: { fin: false, seq: 5 }, tcp_data: new Uint8Array(4) };
    const early = { tcp: { fin: true, seq: 9 }, tcp_data: new Uint8Array(4) };
    expect(splitFinWithData({ ack: 5 }, fin)).toEqual([fin]);
    expect(splitFinWithData({ ack: 5 }, plain)).toEqual([plain]);
    expect(splitFinWithData({ ack: 5 }, early)).toEqual([early]);
  });
});
