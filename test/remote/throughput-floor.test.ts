import { afterEach, describe, expect, it, vi } from "vitest";
import { startThroughputFloor } from "../../src/remote/throughput-floor";

afterEach(() => void vi.useRealTimers());

describe("throughput floor", () => {
  it("a window below the floor is too slow; one at the floor is not; stop() ends it", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setImmediate"] });
    const verdicts: string[] = [];
    const f = startThroughputFloor({ minBytesPerSec: 1000, throughputWindowMs: 500 }, (r) => verdicts.push(r));
    f.add(500);
    vi.advanceTimersByTime(501);
    expect(verdicts).toEqual([]);
    f.add(499);
    vi.advanceTimersByTime(500);
    expect(verdicts).toEqual(["too slow: 499 bytes in 500 ms (minimum 1000 bytes/s)"]);
    f.stop();
    vi.advanceTimersByTime(5_000);
    expect(verdicts).toHaveLength(1);
  });
});
