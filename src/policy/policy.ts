import { VmsfxError } from "../errors";

/**
 * The publisher's restrictions. They live inside the manifest, so a signature over the manifest
 * covers them; they are validated strictly because an unsigned bundle can carry anything, and a
 * typo ("maxLaunch") silently dropping a restriction would be worse than refusing to pack.
 * The schema is documented for publishers in samples/policies/README.md.
 */
export interface Policy {
  notBefore?: string;
  notAfter?: string;
  validDaysAfterFirstLaunch?: number;
  maxLaunches?: number;
  maxSessionMinutes?: number;
  machines?: string[];
  bindToFirstLocation?: boolean;
  clockToleranceMinutes?: number;
  message?: string;
  url?: string;
  signer?: string;
}

export const DEFAULT_CLOCK_TOLERANCE_MINUTES = 10;
export const MAX_MESSAGE_CHARS = 500;
/** The launcher arms a timer with the session limit; Node fires timers above 2^31-1 ms (24.8 days) at once. */
export const MAX_SESSION_MINUTES = 24 * 24 * 60;
/** Keeps firstLaunchAt + days inside the range a Date can hold, with room to spare. */
export const MAX_VALID_DAYS = 36500;
const MAX_URL_CHARS = 2000;

const FINGERPRINT = /^[0-9a-f]{32}$/;
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|([+-])(\d{2}):(\d{2}))$/;
// Terminal control characters would let a bundle's message rewrite the user's screen.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

const KEYS = new Set<string>([
  "notBefore", "notAfter", "validDaysAfterFirstLaunch", "maxLaunches", "maxSessionMinutes", "machines",
  "bindToFirstLocation", "clockToleranceMinutes", "message", "url", "signer",
]);

/** Milliseconds since the epoch of a strict ISO 8601 date-time with a zone, or undefined. */
export function parseIsoDateTime(s: string): number | undefined {
  const m = ISO_DATE_TIME.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? "0"].map(Number);
  // Date.parse quietly rolls 2025-02-30 over to March 2, so check the calendar ourselves.
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || sec > 59) return undefined;
  if (m[7] && (Number(m[8]) > 23 || Number(m[9]) > 59)) return undefined;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : undefined;
}

/**
 * Checks a policy as read from JSON (a policy file or a manifest) and returns a copy holding
 * only the known fields. Throws VMSFX_POLICY_INVALID naming the field and what it must be.
 */
export function validatePolicy(raw: unknown, where: string): Policy {
  const bad = (what: string): never => {
    throw new VmsfxError("VMSFX_POLICY_INVALID", `${where}: invalid policy: ${what}. The publisher must fix the policy and pack again.`);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad("it must be a JSON object");
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!KEYS.has(k)) bad(`unknown field "${k}" (known: ${[...KEYS].join(", ")})`);
  }
  const p: Policy = {};
  const show = (v: unknown) => JSON.stringify(v)?.slice(0, 60) ?? String(v);

  const date = (k: "notBefore" | "notAfter"): number | undefined => {
    const v = r[k];
    if (v === undefined) return undefined;
    const t = typeof v === "string" ? parseIsoDateTime(v) : undefined;
    if (t === undefined) bad(`"${k}" must be an ISO 8601 date-time with a time zone, like "2030-01-31T23:59:59Z" (got ${show(v)})`);
    p[k] = v as string;
    return t;
  };
  const from = date("notBefore");
  const until = date("notAfter");
  if (from !== undefined && until !== undefined && until <= from) bad(`"notAfter" (${p.notAfter}) must be later than "notBefore" (${p.notBefore})`);

  const int = (k: "validDaysAfterFirstLaunch" | "maxLaunches", max: number) => {
    const v = r[k];
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) bad(`"${k}" must be a whole number, ${max === Number.MAX_SAFE_INTEGER ? "1 or more" : `from 1 to ${max}`} (got ${show(v)})`);
    p[k] = v as number;
  };
  int("validDaysAfterFirstLaunch", MAX_VALID_DAYS);
  int("maxLaunches", Number.MAX_SAFE_INTEGER);

  const minutes = r.maxSessionMinutes;
  if (minutes !== undefined) {
    if (typeof minutes !== "number" || !Number.isFinite(minutes) || minutes <= 0 || minutes > MAX_SESSION_MINUTES) {
      bad(`"maxSessionMinutes" must be a number above 0 and at most ${MAX_SESSION_MINUTES} (24 days) (got ${show(minutes)})`);
    }
    p.maxSessionMinutes = minutes as number;
  }

  const tolerance = r.clockToleranceMinutes;
  if (tolerance !== undefined) {
    if (typeof tolerance !== "number" || !Number.isFinite(tolerance) || tolerance < 0) bad(`"clockToleranceMinutes" must be a number of minutes, 0 or more (got ${show(tolerance)})`);
    p.clockToleranceMinutes = tolerance as number;
  }

  const machines = r.machines;
  if (machines !== undefined) {
    if (!Array.isArray(machines) || machines.length === 0) bad(`"machines" must be a non-empty list of machine fingerprints (got ${show(machines)})`);
    (machines as unknown[]).forEach((m, i) => {
      if (typeof m !== "string" || !FINGERPRINT.test(m)) {
        bad(`machines[${i}] ${show(m)} is not a machine fingerprint (32 lowercase hex digits); run \`vmsfx fingerprint\` on that machine and paste what it prints`);
      }
    });
    p.machines = [...(machines as string[])];
  }

  const bind = r.bindToFirstLocation;
  if (bind !== undefined) {
    if (typeof bind !== "boolean") bad(`"bindToFirstLocation" must be true or false (got ${show(bind)})`);
    p.bindToFirstLocation = bind as boolean;
  }

  const message = r.message;
  if (message !== undefined) {
    if (typeof message !== "string" || message.trim() === "" || [...message].length > MAX_MESSAGE_CHARS || CONTROL.test(message)) {
      bad(`"message" must be one line of text, 1 to ${MAX_MESSAGE_CHARS} characters, without control characters`);
    }
    p.message = message as string;
  }

  const url = r.url;
  if (url !== undefined) {
    let ok = typeof url === "string" && url.length <= MAX_URL_CHARS && /^https?:\/\/[^\s]+$/i.test(url) && !CONTROL.test(url);
    if (ok) {
      try {
        const u = new URL(url as string);
        ok = (u.protocol === "https:" || u.protocol === "http:") && u.hostname !== "";
      } catch {
        ok = false;
      }
    }
    if (!ok) bad(`"url" must be an https:// or http:// address without spaces (got ${show(url)})`);
    p.url = url as string;
  }

  const signer = r.signer;
  if (signer !== undefined) {
    // Buffer.from(…, "base64") accepts almost anything, so check the exact shape of 32 bytes.
    if (typeof signer !== "string" || !/^[A-Za-z0-9+/]{43}=$/.test(signer) || Buffer.from(signer, "base64").length !== 32) {
      bad(`"signer" must be an Ed25519 public key: the base64 of 32 bytes, as in the .pub file \`vmsfx keygen\` writes (got ${show(signer)})`);
    }
    p.signer = signer as string;
  }
  return p;
}

/** True when the policy restricts anything at launch (a policy with only message/url/signer does not). */
export function restrictsLaunch(p: Policy): boolean {
  return p.notBefore !== undefined || p.notAfter !== undefined || p.validDaysAfterFirstLaunch !== undefined ||
    p.maxLaunches !== undefined || p.maxSessionMinutes !== undefined || p.machines !== undefined || p.bindToFirstLocation === true;
}
