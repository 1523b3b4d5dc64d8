import { describe, expect, it } from "vitest";
import { ByteQueue } from "../../src/engine/byte-queue";

describe("ByteQueue", () => {
  it("hands out bytes in order across the chunks they came in", () => {
    const q = new ByteQueue();
    q.push(Uint8Array.of(1, 2, 3));
    q.push(new Uint8Array(0));
    q.push(Uint8Array.of(4, 5));
    expect(q.length).toBe(5);
    expect([...q.take(2)]).toEqual([1, 2]);
    expect([...q.take(2)]).toEqual([3, 4]);
    expect(q.length).toBe(1);
    expect([...q.take(16)]).toEqual([5]);
    expect(q.length).toBe(0);
    expect(q.take(16).byteLength).toBe(0);
  });
});
