import { describe, expect, it } from "vitest";
import { VmsfxError } from "../../src/errors";
import { emptyLedger, type Ledger } from "../../src/policy/ledger";
import type { Policy } from "../../src/policy/policy";
import { checkLaunch, sessionLimitMessage, type LaunchContext } from "../../src/policy/restrictions";

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);
const FP = "0123456789abcdef0123456789abcdef";
const HERE = "/media/usb/app";

function ctx(at: number, over: Partial<LaunchContext> = {}): LaunchContext {
  return { now: new Date(at), fingerprint: FP, location: HERE, ...over };
}

/** The ledger after `n` allowed launches, the first at T0 and the last at `lastAt`. */
function ledgerAfter(n: number, lastAt = T0, location = HERE): Ledger {
  return { version: 1, launches: n, firstLaunchAt: new Date(T0).toISOString(), lastTrustedAt: new Date(lastAt).toISOString(), firstLocation: location };
}

function refusal(policy: Policy, ledger: Ledger, c: LaunchContext): VmsfxError {
  const frozen = structuredClone(ledger);
  Object.freeze(frozen);
  try {
    checkLaunch(policy, frozen, c);
  } catch (e) {
    expect(e).toBeInstanceOf(VmsfxError);
    // A refused launch leaves the ledger exactly as it was.
    expect(frozen).toEqual(ledger);
    expect((e as VmsfxError).message).not.toContain("\n");
    return e as VmsfxError;
  }
  throw new Error("expected the launch to be refused");
}

describe("checkLaunch: the first launch", () => {
  it("counts it and records the first launch, time and location", () => {
    const d = checkLaunch({}, emptyLedger(), ctx(T0));
    expect(d).toEqual({
      ledger: { version: 1, launches: 1, firstLaunchAt: new Date(T0).toISOString(), lastTrustedAt: new Date(T0).toISOString(), firstLocation: HERE },
    });
  });

  it("keeps the first launch and location, and never moves lastTrustedAt back", () => {
    const before = ledgerAfter(3, T0 + 5 * MIN);
    const d = checkLaunch({}, before, ctx(T0 + MIN, { location: "/elsewhere/app" }));
    expect(d.ledger).toEqual({ ...before, launches: 4 });
    expect(checkLaunch({}, before, ctx(T0 + DAY)).ledger.lastTrustedAt).toBe(new Date(T0 + DAY).toISOString());
  });

  it("does not change the ledger it was given", () => {
    const before = Object.freeze(ledgerAfter(2));
    expect(() => checkLaunch({ maxLaunches: 9 }, before, ctx(T0 + MIN))).not.toThrow();
    expect(before.launches).toBe(2);
  });
});

describe("checkLaunch: dates", () => {
  const window: Policy = { notBefore: "2030-01-10T00:00:00Z", notAfter: "2030-01-20T00:00:00Z", message: "Beta ended.", url: "https://example.com/buy" };
  const from = Date.UTC(2030, 0, 10);
  const until = Date.UTC(2030, 0, 20);

  it("allows exactly at notBefore and refuses a millisecond earlier", () => {
    expect(checkLaunch(window, emptyLedger(), ctx(from)).ledger.launches).toBe(1);
    const e = refusal(window, emptyLedger(), ctx(from - 1));
    expect(e.code).toBe("VMSFX_POLICY_NOT_YET_VALID");
    expect(e.message).toContain("2030-01-10 00:00 UTC");
  });

  it("allows exactly at notAfter and refuses a millisecond later, with the publisher's message and URL", () => {
    expect(checkLaunch(window, emptyLedger(), ctx(until)).ledger.launches).toBe(1);
    const e = refusal(window, emptyLedger(), ctx(until + 1));
    expect(e.code).toBe("VMSFX_POLICY_EXPIRED");
    expect(e.message).toContain("expired on 2030-01-20 00:00 UTC");
    expect(e.message).toContain("Beta ended. https://example.com/buy");
  });

  it("allows the last moment of day N of validDaysAfterFirstLaunch and refuses day N+1", () => {
    const trial: Policy = { validDaysAfterFirstLaunch: 30 };
    expect(() => checkLaunch(trial, ledgerAfter(1), ctx(T0 + 29 * DAY))).not.toThrow(); // day 30 begins
    expect(() => checkLaunch(trial, ledgerAfter(1), ctx(T0 + 30 * DAY - 1))).not.toThrow(); // day 30 ends
    const e = refusal(trial, ledgerAfter(1), ctx(T0 + 30 * DAY));
    expect(e.code).toBe("VMSFX_POLICY_EXPIRED");
    expect(e.message).toContain("30-day trial");
  });

  it("starts the trial days at the first launch, not at packing", () => {
    expect(checkLaunch({ validDaysAfterFirstLaunch: 1 }, emptyLedger(), ctx(T0 + 1000 * DAY)).ledger.firstLaunchAt).toBe(new Date(T0 + 1000 * DAY).toISOString());
  });
});

describe("checkLaunch: clock rollback", () => {
  const timed: Policy = { notAfter: "2031-01-01T00:00:00Z" };
  const last = T0 + 10 * DAY;

  it("allows a clock up to the tolerance (10 minutes by default) behind the last trusted time", () => {
    const d = checkLaunch(timed, ledgerAfter(2, last), ctx(last - 10 * MIN));
    expect(d.ledger.lastTrustedAt).toBe(new Date(last).toISOString());
  });

  it("refuses a clock further back than that, naming the date", () => {
    const e = refusal(timed, ledgerAfter(2, last), ctx(last - 10 * MIN - 1));
    expect(e.code).toBe("VMSFX_POLICY_CLOCK_ROLLBACK");
    expect(e.message).toContain("set back to before 2030-01-25 12:00 UTC");
    expect(e.message).toContain("clock");
  });

  it("uses the policy's tolerance", () => {
    expect(() => checkLaunch({ ...timed, clockToleranceMinutes: 60 }, ledgerAfter(2, last), ctx(last - 59 * MIN))).not.toThrow();
    expect(refusal({ ...timed, clockToleranceMinutes: 0 }, ledgerAfter(2, last), ctx(last - 1)).code).toBe("VMSFX_POLICY_CLOCK_ROLLBACK");
  });

  it("is checked before the other restrictions", () => {
    const all: Policy = { notAfter: "2030-01-01T00:00:00Z", maxLaunches: 1, machines: ["f".repeat(32)] };
    expect(refusal(all, ledgerAfter(5, last), ctx(T0)).code).toBe("VMSFX_POLICY_CLOCK_ROLLBACK");
  });

  it("does not refuse a policy without time limits for a wrong clock", () => {
    expect(() => checkLaunch({ maxLaunches: 5 }, ledgerAfter(2, last), ctx(T0 - 365 * DAY))).not.toThrow();
  });
});

describe("checkLaunch: launches, machines, location", () => {
  it("allows launch number maxLaunches and refuses the next", () => {
    const five: Policy = { maxLaunches: 5 };
    expect(checkLaunch(five, ledgerAfter(4), ctx(T0 + MIN)).ledger.launches).toBe(5);
    const e = refusal(five, ledgerAfter(5), ctx(T0 + MIN));
    expect(e.code).toBe("VMSFX_POLICY_LAUNCH_LIMIT");
    expect(e.message).toContain("5 times");
    expect(refusal({ maxLaunches: 1 }, ledgerAfter(1), ctx(T0)).message).toContain("1 time and");
  });

  it("allows a listed machine and refuses another, telling the user its fingerprint", () => {
    const bound: Policy = { machines: ["f".repeat(32), FP] };
    expect(() => checkLaunch(bound, emptyLedger(), ctx(T0))).not.toThrow();
    const other = "a".repeat(32);
    const e = refusal(bound, emptyLedger(), ctx(T0, { fingerprint: other }));
    expect(e.code).toBe("VMSFX_POLICY_MACHINE");
    expect(e.message).toContain(other);
  });

  it("binds to the first location when asked, comparing absolute paths", () => {
    const bind: Policy = { bindToFirstLocation: true };
    expect(checkLaunch(bind, emptyLedger(), ctx(T0)).ledger.firstLocation).toBe(HERE);
    expect(() => checkLaunch(bind, ledgerAfter(1), ctx(T0, { location: "/media/usb/./sub/../app" }))).not.toThrow();
    const e = refusal(bind, ledgerAfter(1), ctx(T0, { location: "/home/me/app" }));
    expect(e.code).toBe("VMSFX_POLICY_LOCATION");
    expect(e.message).toContain(HERE);
    expect(e.message).toContain("/home/me/app");
    expect(() => checkLaunch({}, ledgerAfter(1), ctx(T0, { location: "/home/me/app" }))).not.toThrow();
  });

  it("rejects a relative location as a programming error", () => {
    expect(() => checkLaunch({}, emptyLedger(), ctx(T0, { location: "app" }))).toThrow(/absolute/);
  });

  it("reports the first violation in the documented order", () => {
    const all: Policy = { notAfter: "2030-01-20T00:00:00Z", validDaysAfterFirstLaunch: 1, maxLaunches: 1, machines: ["f".repeat(32)], bindToFirstLocation: true };
    const at = (t: number) => ctx(t, { location: "/other/app" });
    expect(refusal(all, ledgerAfter(1), at(Date.UTC(2030, 0, 21))).code).toBe("VMSFX_POLICY_EXPIRED");
    expect(refusal({ ...all, validDaysAfterFirstLaunch: 3 }, ledgerAfter(1), at(T0 + DAY)).code).toBe("VMSFX_POLICY_LAUNCH_LIMIT");
    expect(refusal({ ...all, maxLaunches: 2 }, ledgerAfter(1), at(T0 + MIN)).code).toBe("VMSFX_POLICY_MACHINE");
    expect(refusal({ ...all, maxLaunches: 2, machines: [FP] }, ledgerAfter(1), at(T0 + MIN)).code).toBe("VMSFX_POLICY_LOCATION");
  });
});

describe("session limit", () => {
  it("returns the limit in milliseconds only when the policy has one", () => {
    expect(checkLaunch({ maxSessionMinutes: 15 }, emptyLedger(), ctx(T0)).sessionLimitMs).toBe(15 * MIN);
    expect(checkLaunch({ maxSessionMinutes: 0.5 }, emptyLedger(), ctx(T0)).sessionLimitMs).toBe(30_000);
    expect(checkLaunch({}, emptyLedger(), ctx(T0)).sessionLimitMs).toBeUndefined();
  });

  it("explains the suspension on one line with the publisher's note", () => {
    const m = sessionLimitMessage({ maxSessionMinutes: 15, maxLaunches: 3, message: "Demo build.", url: "https://example.com" });
    expect(m).toContain("15 minutes");
    expect(m).toContain("suspended");
    expect(m).toContain("3 launches");
    expect(m).toContain("Demo build. https://example.com");
    expect(m).not.toContain("\n");
    expect(sessionLimitMessage({ maxSessionMinutes: 1 })).toContain("1 minute;");
    expect(sessionLimitMessage({ maxSessionMinutes: 1.5 })).toContain("90 seconds");
  });
});
