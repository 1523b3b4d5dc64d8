import { EventEmitter } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { VmsfxError } from "../../src/errors";
import { waitForConsole, type ConsoleEvents } from "../../src/engine/console-wait";
import type { GuestEvents } from "../../src/engine/engine-host";
import { SerialTail } from "../../src/engine/terminal-answerer";

/** The engine's console as the wait sees it: events a test emits by hand, listeners counted. */
class FakeGuest implements ConsoleEvents {
  private readonly events = new EventEmitter();
  on: ConsoleEvents["on"] = (event, fn) => {
    this.events.on(event, fn);
    return () => void this.events.off(event, fn);
  };
  write(text: string): void {
    this.events.emit("serial", Buffer.from(text, "latin1"));
  }
  fail(e: VmsfxError): void {
    this.events.emit("fatal", e);
  }
  listeners(): number {
    return (["serial", "fatal", "agent", "exit"] satisfies (keyof GuestEvents)[]).reduce((n, e) => n + this.events.listenerCount(e), 0);
  }
}

let guest: FakeGuest;
beforeEach(() => {
  vi.useFakeTimers();
  guest = new FakeGuest();
});
afterEach(() => {
  // No wait leaves a listener or a timer behind, whichever way it ended.
  expect(guest.listeners()).toBe(0);
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe("waitForConsole: a pattern", () => {
  it("matches across chunk boundaries", async () => {
    const wait = waitForConsole(guest, { pattern: /login: $/ }, { timeoutMs: 10_000 });
    guest.write("Welcome\r\nlo");
    guest.write("gi");
    expect(guest.listeners()).toBe(1);
    guest.write("n: ");
    await expect(wait).resolves.toBe("met");
  });

  it("matches what was seen before the wait at once, listening to nothing", async () => {
    const seen = new SerialTail();
    seen.push(Buffer.from("~ # "));
    await expect(waitForConsole(guest, { pattern: /# $/, seen }, { timeoutMs: 1000 })).resolves.toBe("met");
  });

  it("joins what was seen to what comes", async () => {
    const seen = new SerialTail();
    seen.push(Buffer.from("~ "));
    const wait = waitForConsole(guest, { pattern: /~ # $/, seen });
    guest.write("# ");
    await expect(wait).resolves.toBe("met");
  });

  it("times out, and lets go of the console", async () => {
    const wait = waitForConsole(guest, { pattern: /ready/ }, { timeoutMs: 5000 });
    guest.write("booting");
    await vi.advanceTimersByTimeAsync(4999);
    expect(guest.listeners()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(wait).resolves.toBe("timeout");
    guest.write("ready");
  });

  it("rejects with the engine's failure when asked to, and lets go", async () => {
    const failure = new VmsfxError("VMSFX_GUEST_FAILED", "the engine crashed");
    const wait = waitForConsole(guest, { pattern: /ready/ }, { timeoutMs: 5000, failed: () => undefined });
    expect(guest.listeners()).toBe(2);
    guest.fail(failure);
    await expect(wait).rejects.toBe(failure);
  });

  it("rejects at once with a failure that came before the wait", async () => {
    const failure = new VmsfxError("VMSFX_GUEST_FAILED", "the engine stopped");
    await expect(waitForConsole(guest, { pattern: /ready/ }, { timeoutMs: 5000, failed: () => failure })).rejects.toBe(failure);
  });

  it("without `failed`, the engine's failure is not its business", async () => {
    const wait = waitForConsole(guest, { pattern: /ready/ }, { timeoutMs: 100 });
    expect(guest.listeners()).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    await expect(wait).resolves.toBe("timeout");
  });
});

describe("waitForConsole: quiet after output", () => {
  it("waits for output, then for quietMs without any", async () => {
    let done = false;
    const wait = waitForConsole(guest, { quietMs: 300 }, { timeoutMs: 10_000 }).then((r) => ((done = true), r));
    await vi.advanceTimersByTimeAsync(1000);
    expect(done).toBe(false);
    guest.write("a");
    await vi.advanceTimersByTimeAsync(200);
    guest.write("b");
    await vi.advanceTimersByTimeAsync(299);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(wait).resolves.toBe("met");
  });

  it("counts from output that came before the wait", async () => {
    const now = Date.now();
    let done = false;
    const wait = waitForConsole(guest, { quietMs: 300, lastOutputAt: now - 100 }).then((r) => ((done = true), r));
    await vi.advanceTimersByTimeAsync(199);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(wait).resolves.toBe("met");
  });

  it("is met at once when the console has been quiet long enough already", async () => {
    await expect(waitForConsole(guest, { quietMs: 300, lastOutputAt: Date.now() - 301 })).resolves.toBe("met");
  });

  it("a console that never falls quiet times out, and nothing is left behind", async () => {
    const wait = waitForConsole(guest, { quietMs: 300, lastOutputAt: Date.now() }, { timeoutMs: 1000 });
    for (let t = 0; t < 1000; t += 100) {
      guest.write(".");
      await vi.advanceTimersByTimeAsync(100);
    }
    await expect(wait).resolves.toBe("timeout");
  });
});

describe("waitForConsole: called off", () => {
  it("rejects with the signal's reason and lets go of the console and the timer", async () => {
    const abort = new AbortController();
    const why = new VmsfxError("VMSFX_CAPTURE_TIMEOUT", "the app exited");
    const wait = waitForConsole(guest, { quietMs: 300 }, { timeoutMs: 5000, failed: () => undefined, signal: abort.signal });
    guest.write("a");
    expect(guest.listeners()).toBe(2);
    abort.abort(why);
    await expect(wait).rejects.toBe(why);
    guest.write("b");
  });

  it("a signal aborted before the wait rejects at once", async () => {
    const abort = new AbortController();
    abort.abort(new Error("gone"));
    await expect(waitForConsole(guest, { pattern: /x/ }, { timeoutMs: 5000, signal: abort.signal })).rejects.toThrow("gone");
  });

  it("a wait that ended stops listening to its signal", async () => {
    const abort = new AbortController();
    const added = vi.spyOn(abort.signal, "addEventListener");
    const removed = vi.spyOn(abort.signal, "removeEventListener");
    const wait = waitForConsole(guest, { pattern: /ok/ }, { signal: abort.signal });
    guest.write("ok");
    await expect(wait).resolves.toBe("met");
    expect(removed.mock.calls.map((c) => c[1])).toEqual(added.mock.calls.map((c) => c[1]));
    expect(removed).toHaveBeenCalledTimes(1);
  });
});
