import { describe, expect, it, vi } from "vitest";
import { EventEmitter } from "node:events";
import { splitFinWithData } from "../../src/engine/v86-network";
import { retrySyn } from "../../src/engine/guest-tcp-pipe";

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

  it("regression: a SYN the guest dropped (its listen queue full) is sent again, then the client is reset; the client used to wait forever", () => {
    vi.useFakeTimers();
    try {
      const conn = { state: "syn-sent", sent: 0, connect() { this.sent++; } };
      const socket = Object.assign(new EventEmitter(), { destroyed: false, resets: 0, resetAndDestroy() { this.resets++; this.destroyed = true; } });
      retrySyn(conn, socket as never, [1000, 2000, 4000, 8000]);
      vi.advanceTimersByTime(999);
      expect(conn.sent).toBe(0);
      vi.advanceTimersByTime(1 + 2000 + 4000);
      expect(conn.sent).toBe(3);
      expect(socket.resets).toBe(0);
      vi.advanceTimersByTime(8000);
      expect(socket.resets).toBe(1);

      const answered = { state: "syn-sent", sent: 0, connect() { this.sent++; } };
      const other = Object.assign(new EventEmitter(), { destroyed: false, resets: 0, resetAndDestroy() { this.resets++; } });
      retrySyn(answered, other as never, [1000, 2000]);
      answered.state = "established";
      vi.advanceTimersByTime(10_000);
      expect(answered.sent).toBe(0);
      expect(other.resets).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
