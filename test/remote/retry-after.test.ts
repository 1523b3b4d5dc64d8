import { describe, expect, it } from "vitest";
import { parseRetryAfter } from "../../src/remote/retry-after";

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-12-02T05:00:00Z");

  it("delay-seconds", () => {
    expect(parseRetryAfter("0", now)).toBe(0);
    expect(parseRetryAfter(" 7 ", now)).toBe(7_000);
    expect(parseRetryAfter("86400", now)).toBe(86_400_000); // uncapped here: the policy caps
  });

  it("an HTTP-date, relative to now; a date already past means now", () => {
    expect(parseRetryAfter("Wed, 02 Dec 2026 05:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wednesday, 02-Dec-26 05:01:00 GMT", now)).toBe(60_000);
    expect(parseRetryAfter("Wed, 02 Dec 2026 04:00:00 GMT", now)).toBe(0);
  });

  it("missing or malformed: undefined", () => {
    for (const bad of [undefined, "", "soon", "-5", "1.5", "5 seconds", "Wed, 99 Foo 2026 xx GMT", "2026-12-02"]) expect(parseRetryAfter(bad, now), String(bad)).toBeUndefined();
  });
});
