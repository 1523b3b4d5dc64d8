import { describe, expect, it } from "vitest";
import { VmsfxError } from "../../src/errors";
import { parseIsoDateTime, restrictsLaunch, validatePolicy } from "../../src/policy/policy";

function errorOf(fn: () => unknown): VmsfxError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VmsfxError);
    return e as VmsfxError;
  }
  throw new Error("expected an error");
}

const KEY = Buffer.alloc(32, 7).toString("base64");
const FULL = {
  notBefore: "2030-01-01T00:00:00Z",
  notAfter: "2030-12-31T23:59:59+02:00",
  validDaysAfterFirstLaunch: 30,
  maxLaunches: 5,
  maxSessionMinutes: 15,
  machines: ["0123456789abcdef0123456789abcdef"],
  bindToFirstLocation: true,
  clockToleranceMinutes: 0,
  message: "Thanks for trying Foo.",
  url: "https://example.com/buy",
  signer: KEY,
  outbound: ["api.example.com:443", "*.example.org", "10.0.0.0/8:5432"],
};

describe("validatePolicy", () => {
  it("accepts every field and returns an equal copy", () => {
    const p = validatePolicy(FULL, "policy.json");
    expect(p).toEqual(FULL);
    expect(p).not.toBe(FULL);
    expect(p.machines).not.toBe(FULL.machines);
  });

  it("accepts an empty policy, which restricts nothing", () => {
    expect(validatePolicy({}, "x")).toEqual({});
    expect(restrictsLaunch({})).toBe(false);
    expect(restrictsLaunch({ message: "hi", signer: KEY })).toBe(false);
    expect(restrictsLaunch({ maxLaunches: 1 })).toBe(true);
    expect(restrictsLaunch({ bindToFirstLocation: false })).toBe(false);
  });

  it("accepts fractional session minutes and an http URL", () => {
    expect(validatePolicy({ maxSessionMinutes: 0.5, url: "http://example.com" }, "x")).toEqual({ maxSessionMinutes: 0.5, url: "http://example.com" });
  });

  it.each<[string, unknown]>([
    ["a non-object", "maxLaunches: 3"],
    ["null", null],
    ["an array", [{ maxLaunches: 3 }]],
    ["an unknown key", { maxLaunch: 3 }],
    ["a date that is not a string", { notAfter: 1893456000000 }],
    ["a date without a time", { notAfter: "2030-01-31" }],
    ["a date without a time zone", { notAfter: "2030-01-31T12:00:00" }],
    ["an impossible day", { notAfter: "2030-02-30T12:00:00Z" }],
    ["an impossible hour", { notBefore: "2030-01-31T24:00:00Z" }],
    ["a date in another format", { notBefore: "31/01/2030 12:00" }],
    ["notAfter equal to notBefore", { notBefore: "2030-01-01T00:00:00Z", notAfter: "2030-01-01T00:00:00Z" }],
    ["notAfter before notBefore", { notBefore: "2030-01-02T00:00:00Z", notAfter: "2030-01-01T00:00:00Z" }],
    ["notAfter before notBefore across zones", { notBefore: "2030-01-01T10:00:00+00:00", notAfter: "2030-01-01T11:00:00+02:00" }],
    ["zero valid days", { validDaysAfterFirstLaunch: 0 }],
    ["fractional valid days", { validDaysAfterFirstLaunch: 1.5 }],
    ["valid days as a string", { validDaysAfterFirstLaunch: "30" }],
    ["too many valid days", { validDaysAfterFirstLaunch: 10_000_000 }],
    ["zero launches", { maxLaunches: 0 }],
    ["negative launches", { maxLaunches: -1 }],
    ["fractional launches", { maxLaunches: 2.5 }],
    ["zero session minutes", { maxSessionMinutes: 0 }],
    ["infinite session minutes", { maxSessionMinutes: Infinity }],
    ["a session longer than a timer can wait", { maxSessionMinutes: 60 * 24 * 30 }],
    ["an empty machine list", { machines: [] }],
    ["machines as a string", { machines: "0123456789abcdef0123456789abcdef" }],
    ["a placeholder machine", { machines: ["<fingerprint>"] }],
    ["an uppercase fingerprint", { machines: ["0123456789ABCDEF0123456789ABCDEF"] }],
    ["a short fingerprint", { machines: ["0123456789abcdef"] }],
    ["bindToFirstLocation as a string", { bindToFirstLocation: "yes" }],
    ["a negative clock tolerance", { clockToleranceMinutes: -1 }],
    ["outbound as true", { outbound: true }],
    ["an outbound rule that is a URL", { outbound: ["https://example.com/"] }],
    ["an outbound rule with a bad port", { outbound: ["example.com:99999"] }],
    ["an outbound rule that is not a string", { outbound: [443] }],
    ["a clock tolerance as a string", { clockToleranceMinutes: "10" }],
    ["an empty message", { message: "" }],
    ["a message over 500 characters", { message: "x".repeat(501) }],
    ["a message with a newline", { message: "line one\nline two" }],
    ["a message with a terminal escape", { message: "\u001b[2Jgotcha" }],
    ["a message that is not a string", { message: 42 }],
    ["a javascript: URL", { url: "javascript:alert(1)" }],
    ["a file: URL", { url: "file:///etc/passwd" }],
    ["a URL with a space", { url: "https://example.com/a b" }],
    ["a URL without a host", { url: "https://" }],
    ["a signer that is not base64 of 32 bytes", { signer: Buffer.alloc(31).toString("base64") }],
    ["a signer with junk", { signer: "not a key" }],
    ["a signer PEM", { signer: "-----BEGIN PUBLIC KEY-----" }],
  ])("rejects %s", (_name, raw) => {
    const e = errorOf(() => validatePolicy(raw, "policy.json"));
    expect(e.code).toBe("VMSFX_POLICY_INVALID");
    expect(e.message.startsWith("policy.json: ")).toBe(true);
    expect(e.message).not.toContain("\n");
  });

  it("names the field and tells how to get a fingerprint", () => {
    expect(errorOf(() => validatePolicy({ maxLaunch: 3 }, "p")).message).toContain('"maxLaunch"');
    expect(errorOf(() => validatePolicy({ machines: ["<fingerprint>"] }, "p")).message).toContain("vmsfx fingerprint");
  });

  it("accepts exactly 500 characters of message, counted as characters", () => {
    expect(validatePolicy({ message: "é".repeat(500) }, "x").message).toHaveLength(500);
    expect(validatePolicy({ message: "😀".repeat(500) }, "x").message).toBeDefined();
  });
});

describe("parseIsoDateTime", () => {
  it("reads zones and fractions, and rejects leap-day mistakes", () => {
    expect(parseIsoDateTime("2030-01-01T02:00:00+02:00")).toBe(Date.UTC(2030, 0, 1));
    expect(parseIsoDateTime("2030-01-01T00:00Z")).toBe(Date.UTC(2030, 0, 1));
    expect(parseIsoDateTime("2030-01-01T00:00:00.250Z")).toBe(Date.UTC(2030, 0, 1) + 250);
    expect(parseIsoDateTime("2028-02-29T00:00:00Z")).toBe(Date.UTC(2028, 1, 29));
    expect(parseIsoDateTime("2029-02-29T00:00:00Z")).toBeUndefined();
    expect(parseIsoDateTime("2030-13-01T00:00:00Z")).toBeUndefined();
  });
});
