import * as path from "node:path";
import { VmsfxError, type ErrorCode } from "../errors";
import type { Ledger } from "./ledger";
import { DEFAULT_CLOCK_TOLERANCE_MINUTES, type Policy } from "./policy";

/**
 * The launch decision, kept pure (time, machine and location are passed in) so every boundary
 * can be tested without sleeping or touching the machine. The caller persists the returned
 * ledger BEFORE the guest starts, so killing the process mid-session still counts the launch.
 */

export interface LaunchContext {
  now: Date;
  fingerprint: string;
  /** Absolute path of the app file; resolve symlinks first, or a link elsewhere counts as a move. */
  location: string;
}

export interface LaunchDecision {
  ledger: Ledger;
  /** Set when the policy limits a session: arm a timer, then suspend (not kill) and show sessionLimitMessage. */
  sessionLimitMs?: number;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** " From the publisher: <message> <url>", or "" when the policy has neither; for any policy error. */
export function publisherNote(policy: Policy): string {
  const parts = [policy.message, policy.url].filter((s): s is string => !!s);
  return parts.length ? ` From the publisher: ${parts.join(" ")}` : "";
}

/** "2030-01-31 23:59 UTC": unambiguous for a user anywhere, and short enough for one line. */
export function formatInstant(t: Date | number): string {
  const iso = new Date(t).toISOString();
  const seconds = iso.slice(17, 19) === "00" ? "" : iso.slice(16, 19);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}${seconds} UTC`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A stored path compared as the filesystem would: case-insensitively where the usual filesystems are. */
function samePath(a: string, b: string): boolean {
  const norm = (p: string) => {
    const n = path.normalize(p);
    return process.platform === "win32" || process.platform === "darwin" ? n.toLowerCase() : n;
  };
  return norm(a) === norm(b);
}

/** Throws the first violated restriction; otherwise returns the ledger to save (the input is never changed). */
export function checkLaunch(policy: Policy, ledger: Ledger, ctx: LaunchContext): LaunchDecision {
  const now = ctx.now.getTime();
  if (!Number.isFinite(now)) throw new Error("checkLaunch: ctx.now is an invalid Date");
  if (!path.isAbsolute(ctx.location)) throw new Error(`checkLaunch: location must be absolute, got ${ctx.location}`);
  const note = publisherNote(policy);
  const refuse = (code: ErrorCode, text: string): never => {
    throw new VmsfxError(code, `${text}${note}`);
  };

  // Setting the clock back only helps against time limits; refusing a launch-count-only app for a
  // wrong clock would punish users for nothing, so the check applies only when time matters.
  const timeLimited = policy.notBefore !== undefined || policy.notAfter !== undefined || policy.validDaysAfterFirstLaunch !== undefined;
  if (timeLimited && ledger.lastTrustedAt !== undefined) {
    const trusted = Date.parse(ledger.lastTrustedAt);
    const tolerance = (policy.clockToleranceMinutes ?? DEFAULT_CLOCK_TOLERANCE_MINUTES) * MINUTE;
    if (now < trusted - tolerance) {
      refuse("VMSFX_POLICY_CLOCK_ROLLBACK", `this computer's clock seems to have been set back to before ${formatInstant(trusted)} (it says ${formatInstant(now)}). Set the clock to the correct date and time, then start the app again.`);
    }
  }

  if (policy.notBefore !== undefined) {
    const from = Date.parse(policy.notBefore);
    if (now < from) {
      refuse("VMSFX_POLICY_NOT_YET_VALID", `this app can be used from ${formatInstant(from)} on (the clock says ${formatInstant(now)}). Start it again then; if the clock is wrong, correct it.`);
    }
  }

  // notAfter is the last valid instant, as in X.509: a launch exactly at it is allowed.
  if (policy.notAfter !== undefined) {
    const until = Date.parse(policy.notAfter);
    if (now > until) {
      refuse("VMSFX_POLICY_EXPIRED", `this app expired on ${formatInstant(until)}. Ask the publisher for a new copy; if the clock is wrong, correct it.`);
    }
  }

  // Days are 24-hour periods from the first launch (time zones and DST don't move the end):
  // day N ends at first + N×24 h, and that instant already belongs to day N+1.
  if (policy.validDaysAfterFirstLaunch !== undefined && ledger.firstLaunchAt !== undefined) {
    const first = Date.parse(ledger.firstLaunchAt);
    const end = first + policy.validDaysAfterFirstLaunch * DAY;
    if (now >= end) {
      refuse("VMSFX_POLICY_EXPIRED", `the ${policy.validDaysAfterFirstLaunch}-day trial that started on ${formatInstant(first)} ended on ${formatInstant(end)}. Ask the publisher for a full version.`);
    }
  }

  const launch = ledger.launches + 1;
  if (policy.maxLaunches !== undefined && launch > policy.maxLaunches) {
    refuse("VMSFX_POLICY_LAUNCH_LIMIT", `this app may be started ${plural(policy.maxLaunches, "time")} and has been started ${plural(ledger.launches, "time")} on this computer. Ask the publisher for a full version.`);
  }

  if (policy.machines !== undefined && !policy.machines.includes(ctx.fingerprint)) {
    refuse("VMSFX_POLICY_MACHINE", `this copy is licensed for other machines (this one's fingerprint is ${ctx.fingerprint || "unknown"}). Send that fingerprint to the publisher to get a copy for this machine.`);
  }

  if (policy.bindToFirstLocation === true && ledger.firstLocation !== undefined && !samePath(ledger.firstLocation, ctx.location)) {
    refuse("VMSFX_POLICY_LOCATION", `this copy only runs from ${ledger.firstLocation}, where it was first started; it is now at ${ctx.location}. Move it back there to run it.`);
  }

  const nowIso = new Date(now).toISOString();
  const lastTrustedAt = ledger.lastTrustedAt !== undefined && Date.parse(ledger.lastTrustedAt) > now ? ledger.lastTrustedAt : nowIso;
  const next: Ledger = {
    version: 1,
    launches: launch,
    firstLaunchAt: ledger.firstLaunchAt ?? nowIso,
    lastTrustedAt,
    firstLocation: ledger.firstLocation ?? ctx.location,
  };
  const decision: LaunchDecision = { ledger: next };
  if (policy.maxSessionMinutes !== undefined) decision.sessionLimitMs = Math.max(1, Math.round(policy.maxSessionMinutes * MINUTE));
  return decision;
}

function describeDuration(minutes: number): string {
  if (Number.isInteger(minutes)) return plural(minutes, "minute");
  return plural(Math.max(1, Math.round(minutes * 60)), "second");
}

/** What the launcher prints after suspending the guest at the session limit (one line, no "vmsfx:" prefix). */
export function sessionLimitMessage(policy: Policy): string {
  const limit = policy.maxSessionMinutes !== undefined ? `its limit of ${describeDuration(policy.maxSessionMinutes)}` : "its time limit";
  const counted = policy.maxLaunches !== undefined ? ` (each start counts toward its ${plural(policy.maxLaunches, "launch", "launches")})` : "";
  return `this session reached ${limit}; the app was suspended and continues where it stopped when you start it again${counted}.${publisherNote(policy)}`;
}
