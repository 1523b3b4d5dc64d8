import { afterEach, describe, expect, it, vi } from "vitest";
import { Disposer } from "../../src/launcher/disposer";
import { outputClosed } from "../../src/launcher/report-error";
import { OUTPUT_GONE_GRACE_MS, SessionEnd, watchSession } from "../../src/launcher/session-end";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const counts = () => SIGNALS.map((s) => process.listenerCount(s));

afterEach(() => vi.useRealTimers());

/** What runBundle does: a body that attaches front-ends, with the owner disposed in `finally`. */
async function launch(owner: Disposer, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } finally {
    await owner.dispose();
  }
}

describe("watchSession", () => {
  it("removes its signal handlers and the output-closed hook after an error", async () => {
    const before = counts();
    const hook = outputClosed.handle;
    const owner = new Disposer();
    await expect(
      launch(owner, async () => {
        watchSession(new SessionEnd(), owner, { outputGone: () => {} });
        expect(counts()).toEqual(before.map((n) => n + 1));
        expect(outputClosed.handle).not.toBe(hook);
        throw new Error("the resume failed");
      }),
    ).rejects.toThrow("the resume failed");
    expect(counts()).toEqual(before);
    expect(outputClosed.handle).toBe(hook);
  });

  it("a signal ends the session, and the handlers stay until disposal (a save is not cut short)", async () => {
    const before = counts();
    const owner = new Disposer();
    const end = new SessionEnd();
    watchSession(end, owner, { outputGone: () => {} });
    process.emit("SIGHUP", "SIGHUP");
    await expect(end.reason).resolves.toBe("signal");
    expect(counts()).toEqual(before.map((n) => n + 1));
    await owner.dispose();
    expect(counts()).toEqual(before);
  });

  it("the session limit ends the session, and its timer stops with the session", async () => {
    vi.useFakeTimers();
    const owner = new Disposer();
    const end = new SessionEnd();
    watchSession(end, owner, { sessionLimitMs: 60_000, maxRunMs: 120_000, outputGone: () => {} });
    vi.advanceTimersByTime(60_000);
    await expect(end.reason).resolves.toBe("session-limit");
    await Promise.resolve();
    expect(vi.getTimerCount()).toBe(0);
    await owner.dispose();
  });

  it("output gone: input stops, and the guest is suspended at its prompt or after the grace time", async () => {
    vi.useFakeTimers();
    const owner = new Disposer();
    const end = new SessionEnd();
    let settle: (() => void) | undefined;
    watchSession(end, owner, { outputGone: (settled) => (settle = settled) });
    outputClosed.handle();
    outputClosed.handle();
    expect(settle).toBeDefined();
    vi.advanceTimersByTime(OUTPUT_GONE_GRACE_MS);
    await expect(end.reason).resolves.toBe("signal");
    await owner.dispose();
  });

  it("regression: output gone while a poweroff quits the app: no grace cuts the quit short (the next launch resumed a half-quit app and lost its input)", async () => {
    vi.useFakeTimers();
    const owner = new Disposer();
    const end = new SessionEnd();
    let quitting = false;
    watchSession(end, owner, { outputGone: () => {}, quitting: () => quitting });
    outputClosed.handle();
    quitting = true;
    vi.advanceTimersByTime(OUTPUT_GONE_GRACE_MS * 10);
    end.finish("app-quit");
    await expect(end.reason).resolves.toBe("app-quit");
    await owner.dispose();
  });
});

describe("SessionEnd", () => {
  it("the first reason wins; an engine failure ends it as a power-off and keeps the error", async () => {
    const handlers: Record<string, (...a: never[]) => void> = {};
    const end = new SessionEnd();
    end.listen({ on: (event: string, fn: (...a: never[]) => void) => void (handlers[event] = fn) } as never);
    const failure = Object.assign(new Error("worker died"), { code: "VMSFX_ENGINE_CRASHED" });
    (handlers.fatal as (e: unknown) => void)(failure);
    (handlers.exit as (r: string) => void)("reboot");
    await expect(end.reason).resolves.toBe("poweroff");
    expect(end.fatal).toBe(failure);
  });
});
