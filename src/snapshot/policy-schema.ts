import { VmsfxError } from "../errors";
import { parseOutboundRule } from "../engine/outbound-rules";

/**
 * The schema of the publisher's restrictions. It belongs to the bundle format: the restrictions
 * live inside the manifest, so reading a manifest checks them (policy/ enforces them), and a
 * signature over the manifest covers them; they are validated strictly because an unsigned bundle can carry anything, and a
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
  /**
   * Where the guest may connect out, on top of what the app allows (both must): rules as in
   * engine/outbound-rules.ts; `[]` forbids any. Absent: the app's own rules alone.
   */
  outbound?: string[];
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

type Bad = (what: string) => never;
/** Checks one field's raw value and returns it as the policy holds it; `r` is the whole raw policy. */
type FieldCheck = (v: unknown, bad: Bad, r: Record<string, unknown>) => unknown;

const show = (v: unknown) => JSON.stringify(v)?.slice(0, 60) ?? String(v);

function dateField(k: "notBefore" | "notAfter"): FieldCheck {
  return (v, bad) => {
    if (typeof v !== "string" || parseIsoDateTime(v) === undefined) bad(`"${k}" must be an ISO 8601 date-time with a time zone, like "2030-01-31T23:59:59Z" (got ${show(v)})`);
    return v;
  };
}

function wholeNumber(k: string, max: number): FieldCheck {
  return (v, bad) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) bad(`"${k}" must be a whole number, ${max === Number.MAX_SAFE_INTEGER ? "1 or more" : `from 1 to ${max}`} (got ${show(v)})`);
    return v;
  };
}

function httpUrl(v: unknown): boolean {
  if (typeof v !== "string" || v.length > MAX_URL_CHARS || !/^https?:\/\/[^\s]+$/i.test(v) || CONTROL.test(v)) return false;
  try {
    const u = new URL(v);
    return (u.protocol === "https:" || u.protocol === "http:") && u.hostname !== "";
  } catch {
    return false;
  }
}

/** Every field, in the order they are checked and kept (a policy's key order is part of the signed manifest); a field not here is refused. */
const FIELDS: Record<keyof Policy, FieldCheck> = {
  notBefore: dateField("notBefore"),
  notAfter: (v, bad, r) => {
    dateField("notAfter")(v, bad, r);
    const from = typeof r.notBefore === "string" ? parseIsoDateTime(r.notBefore) : undefined;
    if (from !== undefined && parseIsoDateTime(v as string)! <= from) bad(`"notAfter" (${v}) must be later than "notBefore" (${r.notBefore})`);
    return v;
  },
  validDaysAfterFirstLaunch: wholeNumber("validDaysAfterFirstLaunch", MAX_VALID_DAYS),
  maxLaunches: wholeNumber("maxLaunches", Number.MAX_SAFE_INTEGER),
  maxSessionMinutes: (v, bad) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || v > MAX_SESSION_MINUTES) bad(`"maxSessionMinutes" must be a number above 0 and at most ${MAX_SESSION_MINUTES} (24 days) (got ${show(v)})`);
    return v;
  },
  clockToleranceMinutes: (v, bad) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) bad(`"clockToleranceMinutes" must be a number of minutes, 0 or more (got ${show(v)})`);
    return v;
  },
  machines: (v, bad) => {
    if (!Array.isArray(v) || v.length === 0) bad(`"machines" must be a non-empty list of machine fingerprints (got ${show(v)})`);
    (v as unknown[]).forEach((m, i) => {
      if (typeof m !== "string" || !FINGERPRINT.test(m)) {
        bad(`machines[${i}] ${show(m)} is not a machine fingerprint (32 lowercase hex digits); run \`vmsfx fingerprint\` on that machine and paste what it prints`);
      }
    });
    return [...(v as string[])];
  },
  bindToFirstLocation: (v, bad) => {
    if (typeof v !== "boolean") bad(`"bindToFirstLocation" must be true or false (got ${show(v)})`);
    return v;
  },
  message: (v, bad) => {
    if (typeof v !== "string" || v.trim() === "" || [...v].length > MAX_MESSAGE_CHARS || CONTROL.test(v)) {
      bad(`"message" must be one line of text, 1 to ${MAX_MESSAGE_CHARS} characters, without control characters`);
    }
    return v;
  },
  url: (v, bad) => {
    if (!httpUrl(v)) bad(`"url" must be an https:// or http:// address without spaces (got ${show(v)})`);
    return v;
  },
  outbound: (v, bad) => {
    if (!Array.isArray(v) || v.length > 256) bad(`"outbound" must be a list of at most 256 rules like "example.com:443", or [] for none (got ${show(v)})`);
    (v as unknown[]).forEach((r, i) => {
      const rule = typeof r === "string" ? parseOutboundRule(r) : "a rule must be a string";
      if (typeof rule === "string") bad(`outbound[${i}] ${show(r)}: ${rule}`);
    });
    return [...(v as string[])];
  },
  signer: (v, bad) => {
    // Buffer.from(…, "base64") accepts almost anything, so check the exact shape of 32 bytes.
    if (typeof v !== "string" || !/^[A-Za-z0-9+/]{43}=$/.test(v) || Buffer.from(v, "base64").length !== 32) {
      bad(`"signer" must be an Ed25519 public key: the base64 of 32 bytes, as in the .pub file \`vmsfx keygen\` writes (got ${show(v)})`);
    }
    return v;
  },
};
const KEYS = Object.keys(FIELDS);
/** The field names as the "unknown field" message has always listed them (samples/policies/README.md's order). */
const KNOWN = ["notBefore", "notAfter", "validDaysAfterFirstLaunch", "maxLaunches", "maxSessionMinutes", "machines", "bindToFirstLocation", "clockToleranceMinutes", "message", "url", "signer", "outbound"];

/**
 * Checks a policy as read from JSON (a policy file or a manifest) and returns a copy holding
 * only the known fields. Throws VMSFX_POLICY_INVALID naming the field and what it must be.
 */
export function validatePolicy(raw: unknown, where: string): Policy {
  const bad: Bad = (what) => {
    throw new VmsfxError("VMSFX_POLICY_INVALID", `${where}: invalid policy: ${what}. The publisher must fix the policy and pack again.`);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad("it must be a JSON object");
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!Object.hasOwn(FIELDS, k)) bad(`unknown field "${k}" (known: ${KNOWN.join(", ")})`);
  }
  const p: Record<string, unknown> = {};
  for (const k of KEYS) if (r[k] !== undefined) p[k] = FIELDS[k as keyof Policy](r[k], bad, r);
  return p as Policy;
}
