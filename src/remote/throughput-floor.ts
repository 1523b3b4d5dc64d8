/**
 * A body slower than `minBytesPerSec` over any full window is abandoned, so a server that
 * trickles just fast enough to dodge the idle timeout cannot stall a launch. undici has only
 * the idle timeout (bodyTimeout); the floor is ours.
 */
export interface FloorLimits {
  minBytesPerSec: number;
  throughputWindowMs: number;
}

export interface ThroughputFloor {
  add(bytes: number): void;
  stop(): void;
}

export function startThroughputFloor(l: FloorLimits, tooSlow: (reason: string) => void): ThroughputFloor {
  let windowBytes = 0;
  let stopped = false;
  const floor = (l.minBytesPerSec * l.throughputWindowMs) / 1000;
  // Timers run before pending socket reads in Node's loop, so after a stall of the process
  // itself (GC, a busy main thread) the timer could blame the server for bytes that already
  // arrived. The verdict is therefore taken in setImmediate, after those reads were delivered.
  const meter = setInterval(() => setImmediate(() => {
    if (!stopped && windowBytes < floor) tooSlow(`too slow: ${windowBytes} bytes in ${l.throughputWindowMs} ms (minimum ${l.minBytesPerSec} bytes/s)`);
    windowBytes = 0;
  }), l.throughputWindowMs);
  return {
    add: (n) => void (windowBytes += n),
    stop: () => {
      stopped = true;
      clearInterval(meter);
    },
  };
}
