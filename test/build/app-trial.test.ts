import { EventEmitter } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { VmsfxError } from "../../src/errors";
import type { GuestEvents } from "../../src/engine/engine-host";
import { SerialTail } from "../../src/engine/terminal-answerer";
import { appTrial, type TrialGuest, type TrialPhase } from "../../src/build/app-trial";
import type { ReadyWhen } from "../../src/build/app-spec";

/**
 * A guest whose agent answers the trial's commands as the real one does (`start` → `started`,
 * `stop` → `exit 0 detached`, `reset` → `idle`) unless a test says otherwise; the console and
 * the engine's failure are the test's to emit. Listeners are counted.
 */
class FakeGuest {
  readonly events = new EventEmitter();
  readonly sent: string[] = [];
  answers: Record<string, string | undefined> = { start: "started", stop: "exit 0 detached", reset: "idle" };
  failure: VmsfxError | undefined;
  readonly console = new SerialTail();
  /** The guest port that accepts connections, if any; every probe is counted. */
  listening: number | undefined;
  probes = 0;
  probe = async (port: number) => {
    this.probes++;
    return port === this.listening;
  };
  on: TrialGuest["host"]["on"] = (event, fn) => {
    this.events.on(event, fn);
    return () => void this.events.off(event, fn);
  };
  agentInput = (bytes: Uint8Array) => {
    for (const line of Buffer.from(bytes).toString("latin1").split("\n").filter(Boolean)) {
      this.sent.push(line.split(" ")[0]);
      const answer = this.answers[line];
      if (answer !== undefined) this.agent(`${answer}\n`);
    }
  };
  agent(text: string): void {
    this.events.emit("agent", Buffer.from(text, "latin1"));
  }
  serial(text: string): void {
    this.console.push(Buffer.from(text, "latin1"));
    this.events.emit("serial", Buffer.from(text, "latin1"));
  }
  fail(e: VmsfxError): void {
    this.failure = e;
    this.events.emit("fatal", e);
  }
  listeners(): number {
    return (["serial", "agent", "fatal", "exit"] satisfies (keyof GuestEvents)[]).reduce((n, e) => n + this.events.listenerCount(e), 0);
  }
  trial(timeoutMs: number): TrialGuest {
    return { host: this, console: this.console, deadline: Date.now() + timeoutMs, fatal: () => this.failure };
  }
}

const SERIAL: ReadyWhen = { serial: /Listening on :\d+/, timeoutSeconds: 60 };

let guest: FakeGuest;
let phases: TrialPhase[];
beforeEach(() => {
  vi.useFakeTimers();
  guest = new FakeGuest();
  phases = [];
});
afterEach(() => {
  // The trial lets go of every event and timer, whichever way it ended.
  expect(guest.listeners()).toBe(0);
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

/** Starts the trial; the settled result is read without an unhandled rejection in between. */
function run(ready: ReadyWhen, timeoutMs = 60_000) {
  let settled: { ok: true } | { ok: false; error: unknown } | undefined;
  const done = appTrial(ready, "app.json", (p) => phases.push(p))(guest.trial(timeoutMs)).then(
    () => (settled = { ok: true }),
    (error: unknown) => (settled = { ok: false, error }),
  );
  return { done, settled: () => settled };
}

describe("appTrial: the ready rule", () => {
  it("a console pattern: ready only once the app's console shows it, then stopped and reset", async () => {
    const t = run(SERIAL);
    guest.agent("ready 2\n");
    await vi.advanceTimersByTimeAsync(0);
    expect(phases).toEqual(["booting", "starting the app"]);
    guest.serial("starting web server\r\nListening on :");
    await vi.advanceTimersByTimeAsync(30_000);
    expect(phases).not.toContain("app ready");
    guest.serial("8080\r\n");
    await t.done;
    expect(t.settled()).toEqual({ ok: true });
    expect(phases).toEqual(["booting", "starting the app", "app ready", "stopping the app"]);
    expect(guest.sent.slice(-4)).toEqual(["term", "start", "stop", "reset"]);
  });

  it("the console falling quiet: quietMs after the app's last output, not before", async () => {
    const t = run({ quietMs: 500, timeoutSeconds: 60 });
    guest.agent("ready 2\n");
    await vi.advanceTimersByTimeAsync(5_000);
    // No output yet: silence alone is not ready.
    expect(phases).not.toContain("app ready");
    guest.serial("loading\r\n");
    await vi.advanceTimersByTimeAsync(400);
    guest.serial("loaded\r\n");
    await vi.advanceTimersByTimeAsync(499);
    expect(t.settled()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await t.done;
    expect(t.settled()).toEqual({ ok: true });
  });

  it("a port: ready once the guest accepts connections on it, probed until then", async () => {
    const t = run({ port: 8080, timeoutSeconds: 60 });
    guest.agent("ready 2\n");
    await vi.advanceTimersByTimeAsync(2_000);
    expect(phases).not.toContain("app ready");
    expect(guest.probes).toBeGreaterThan(3);
    guest.listening = 8080;
    await vi.advanceTimersByTimeAsync(500);
    await t.done;
    expect(t.settled()).toEqual({ ok: true });
    expect(guest.sent.slice(-2)).toEqual(["stop", "reset"]);
  });

  it("a port nothing listens on: VMSFX_CAPTURE_TIMEOUT naming the port", async () => {
    const t = run({ port: 8080, timeoutSeconds: 60 }, 10_000);
    guest.agent("ready 2\n");
    guest.listening = 9090;
    await vi.advanceTimersByTimeAsync(11_000);
    await t.done;
    const error = (t.settled() as { error: VmsfxError }).error;
    expect(error.code).toBe("VMSFX_CAPTURE_TIMEOUT");
    expect(error.message).toContain("nothing accepted connections on guest port 8080");
  });

  it("output between `start` and `started` counts toward the quiet", async () => {
    guest.answers.start = undefined;
    const t = run({ quietMs: 500, timeoutSeconds: 60 });
    guest.agent("ready 2\n");
    await vi.advanceTimersByTimeAsync(0);
    guest.serial("app says hello\r\n");
    await vi.advanceTimersByTimeAsync(300);
    guest.agent("started\n");
    await vi.advanceTimersByTimeAsync(199);
    expect(t.settled()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await t.done;
    expect(t.settled()).toEqual({ ok: true });
  });
});

describe("appTrial: giving up", () => {
  it("never ready: VMSFX_CAPTURE_TIMEOUT at the deadline, with the rule and the app's last console lines", async () => {
    const t = run(SERIAL, 60_000);
    guest.agent("ready 2\n");
    await vi.advanceTimersByTimeAsync(0);
    guest.serial("error: port in use\r\n");
    await vi.advanceTimersByTimeAsync(59_000);
    expect(t.settled()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1_001);
    await t.done;
    const error = (t.settled() as { error: VmsfxError }).error;
    expect(error).toBeInstanceOf(VmsfxError);
    expect(error.code).toBe("VMSFX_CAPTURE_TIMEOUT");
    expect(error.message).toBe("app.json: the app did not become ready (its console never matched /Listening on :\\d+/) within the spec's ready.timeoutSeconds. Last console lines:\nerror: port in use\n");
    expect(guest.sent).not.toContain("stop");
  });

  it("a console that never falls quiet says so", async () => {
    const t = run({ quietMs: 1000, timeoutSeconds: 5 }, 5_000);
    guest.agent("ready 2\n");
    await vi.advanceTimersByTimeAsync(0);
    for (let ms = 0; ms <= 5_000; ms += 500) {
      guest.serial(".");
      await vi.advanceTimersByTimeAsync(500);
    }
    await t.done;
    expect((t.settled() as { error: Error }).error.message).toContain("(its console never fell quiet for 1000 ms after output) within the spec's ready.timeoutSeconds");
  });

  it("the app exiting while it is awaited ends the trial at once, with its status", async () => {
    const t = run(SERIAL);
    guest.agent("ready 2\n");
    await vi.advanceTimersByTimeAsync(1_000);
    guest.serial("fatal: no config\r\n");
    guest.agent("exit 3 attached\n");
    await vi.advanceTimersByTimeAsync(0);
    const error = (t.settled() as { error: VmsfxError }).error;
    expect(error.code).toBe("VMSFX_CAPTURE_TIMEOUT");
    expect(error.message).toBe("app.json: the app exited with status 3 before it was ready. Last console lines:\nfatal: no config\n");
  });

  it("the app exiting before `started` ends the trial too", async () => {
    guest.answers.start = "exit 127 detached";
    const t = run(SERIAL);
    guest.agent("ready 2\n");
    await t.done;
    expect((t.settled() as { error: Error }).error.message).toMatch(/^app\.json: the app exited with status 127 before it was ready\. Last console lines:\n\(none\)$/);
  });

  it("the engine failing while the app is awaited rejects with the engine's own error", async () => {
    const failure = new VmsfxError("VMSFX_GUEST_FAILED", "the engine crashed");
    const t = run(SERIAL);
    guest.agent("ready 2\n");
    await vi.advanceTimersByTimeAsync(1_000);
    guest.fail(failure);
    await t.done;
    expect(t.settled()).toEqual({ ok: false, error: failure });
  });

  it("the guest base without an agent: the boot console is shown", async () => {
    const t = run(SERIAL, 10_000);
    guest.serial("Kernel panic - not syncing\r\n");
    await vi.advanceTimersByTimeAsync(10_001);
    await t.done;
    expect((t.settled() as { error: Error }).error.message).toBe("app.json: the guest base did not start its agent within the spec's ready.timeoutSeconds. Last console lines:\nKernel panic - not syncing\n");
  });

  it("an app that keeps its data disk busy at `stop` fails the build", async () => {
    guest.answers.stop = "exit 0 attached";
    const t = run(SERIAL);
    guest.agent("ready 2\n");
    await vi.advanceTimersByTimeAsync(0);
    guest.serial("Listening on :80\r\n");
    await t.done;
    expect((t.settled() as { error: Error }).error.message).toContain("the app's data disk could not be unmounted after the trial run");
    expect(guest.sent).not.toContain("reset");
  });
});
