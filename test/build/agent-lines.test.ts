import { EventEmitter } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { VmsfxError } from "../../src/errors";
import { agentLines, type AgentEvents } from "../../src/build/agent-lines";

class FakeGuest implements AgentEvents {
  readonly events = new EventEmitter();
  on: AgentEvents["on"] = (event, fn) => {
    this.events.on(event, fn);
    return () => void this.events.off(event, fn);
  };
  agent(text: string): void {
    this.events.emit("agent", Buffer.from(text, "latin1"));
  }
  listeners(): number {
    return this.events.listenerCount("agent") + this.events.listenerCount("fatal");
  }
}

let guest: FakeGuest;
beforeEach(() => {
  vi.useFakeTimers();
  guest = new FakeGuest();
});
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

const none = () => undefined;

describe("agentLines", () => {
  it("joins pieces into lines, drops the CR, and queues lines nobody awaits yet", async () => {
    const lines = agentLines(guest);
    guest.agent("rea");
    guest.agent("dy 2\r\nstar");
    guest.agent("ted\nexit 0 detached\n");
    expect(lines.pending()).toEqual(["ready 2", "started", "exit 0 detached"]);
    await expect(lines.next(Date.now() + 1000, none)).resolves.toBe("ready 2");
    await expect(lines.next(Date.now() + 1000, none)).resolves.toBe("started");
    expect(lines.pending()).toEqual(["exit 0 detached"]);
    lines.close();
    expect(guest.listeners()).toBe(0);
  });

  it("an awaited line comes on the event, and the wait lets go of the engine", async () => {
    const lines = agentLines(guest);
    const next = lines.next(Date.now() + 1000, none);
    expect(guest.listeners()).toBe(2);
    guest.agent("idle\n");
    await expect(next).resolves.toBe("idle");
    expect(guest.listeners()).toBe(1);
    expect(lines.pending()).toEqual([]);
    lines.close();
  });

  it("no line by the deadline: undefined once it has passed, not before", async () => {
    const lines = agentLines(guest);
    let got: string | undefined | null = null;
    void lines.next(Date.now() + 1000, none).then((l) => (got = l));
    await vi.advanceTimersByTimeAsync(1000);
    expect(got).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toBeUndefined();
    expect(guest.listeners()).toBe(1);
    lines.close();
  });

  it("the engine's failure rejects a waiting next(), and one that came before rejects at once", async () => {
    const failure = new VmsfxError("VMSFX_GUEST_FAILED", "the engine crashed");
    const lines = agentLines(guest);
    const next = lines.next(Date.now() + 1000, none);
    guest.events.emit("fatal", failure);
    await expect(next).rejects.toBe(failure);
    await expect(lines.next(Date.now() + 1000, () => failure)).rejects.toBe(failure);
    expect(guest.listeners()).toBe(1);
    lines.close();
  });

  it("watchers see each line as it comes; close stops the reading", () => {
    const lines = agentLines(guest);
    const seen: string[] = [];
    const unwatch = lines.watch((l) => seen.push(l));
    guest.agent("a\nb\n");
    unwatch();
    guest.agent("c\n");
    lines.close();
    guest.agent("d\n");
    expect(seen).toEqual(["a", "b"]);
    expect(lines.pending()).toEqual(["a", "b", "c"]);
    expect(guest.listeners()).toBe(0);
  });
});
