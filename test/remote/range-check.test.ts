import { describe, expect, it } from "vitest";
import { checkBody, checkHeaders, parseContentRange, totalOf } from "../../src/remote/range-check";

const range = (start: number, end: number) => ({ range: { start, end }, maxBytes: end - start + 1 });
const partial = (cr: string, length?: number) => ({ "content-range": cr, ...(length === undefined ? {} : { "content-length": String(length) }) });

describe("range checks", () => {
  it("a 206 for exactly the range asked passes", () => {
    expect(checkHeaders(206, partial("bytes 100-199/1000", 100), { ...range(100, 199), expectedTotal: 1000 })).toBeUndefined();
    expect(checkHeaders(206, partial("bytes 900-999/1000"), { range: { suffix: 100 }, maxBytes: 100 })).toBeUndefined();
  });

  it("a shifted, short or foreign Content-Range is refused as a protocol error", () => {
    expect(checkHeaders(206, partial("bytes 101-200/1000", 100), range(100, 199))).toMatchObject({ kind: "protocol", reason: "answered bytes 101-200 for bytes 100-199" });
    expect(checkHeaders(206, partial("bytes 100-199/1000", 99), range(100, 199))?.reason).toMatch(/Content-Length that does not match its Content-Range/);
    expect(checkHeaders(206, partial("bytes */1000"), range(100, 199))?.reason).toMatch(/unusable Content-Range/);
    expect(checkHeaders(206, partial("bytes 100-199/2000"), { ...range(100, 199), expectedTotal: 1000 })?.reason).toMatch(/the file changed on the server/);
  });

  it("a 200 to a range request: only a suffix covering the whole file is the same answer", () => {
    expect(checkHeaders(200, { "content-length": "50" }, { range: { suffix: 100 }, maxBytes: 100 })).toBeUndefined();
    expect(checkHeaders(200, { "content-length": "500" }, { range: { suffix: 100 }, maxBytes: 100 })?.reason).toMatch(/ignores Range requests/);
    expect(checkHeaders(200, { "content-length": "100" }, range(0, 99))?.reason).toMatch(/ignores Range requests/);
  });

  it("status lines: kinds, and Retry-After only on 429 and 503", () => {
    expect(checkHeaders(404, {}, { maxBytes: 1 })).toMatchObject({ kind: "not-found" });
    expect(checkHeaders(503, { "retry-after": "3" }, { maxBytes: 1 })).toEqual({ kind: "server", reason: "server error 503", retryAfterMs: 3_000, status: 503 });
    expect(checkHeaders(429, { "retry-after": "2" }, { maxBytes: 1 })).toMatchObject({ retryAfterMs: 2_000 });
    expect(checkHeaders(500, { "retry-after": "3" }, { maxBytes: 1 })).toEqual({ kind: "server", reason: "server error 500", status: 500 });
    expect(checkHeaders(403, {}, { maxBytes: 1 })).toEqual({ kind: "refused", reason: "answered 403", status: 403 });
    expect(checkHeaders(416, {}, range(0, 9))).toMatchObject({ kind: "refused" });
    expect(checkHeaders(206, partial("bytes 0-9/10"), { maxBytes: 10 })?.reason).toMatch(/answered 206 to a plain request/);
    expect(checkHeaders(200, { "content-encoding": "gzip" }, { maxBytes: 10 })?.reason).toMatch(/gzip-encoded/);
    expect(checkHeaders(200, { "content-length": "11" }, { maxBytes: 10 })).toMatchObject({ kind: "too-large" });
  });

  it("a 200 for a range is taken whole only when the caller can use a whole file (a registry's pack), up to its size", () => {
    expect(checkHeaders(200, { "content-length": "100" }, { ...range(0, 9), wholeIfIgnored: 100 })).toBeUndefined();
    expect(checkHeaders(200, { "content-length": "101" }, { ...range(0, 9), wholeIfIgnored: 100 })).toMatchObject({ kind: "too-large" });
    expect(checkHeaders(200, { "content-length": "100" }, range(0, 9))?.reason).toMatch(/ignores Range/);
  });

  it("after the body: its length must be what was announced", () => {
    expect(checkBody(206, partial("bytes 0-9/100"), 10)).toBeUndefined();
    expect(checkBody(206, partial("bytes 0-9/100"), 9)?.reason).toBe("sent 9 bytes for a 10-byte range");
    expect(checkBody(200, { "content-length": "10" }, 9)).toMatchObject({ kind: "interrupted" });
    expect([totalOf(206, partial("bytes 0-9/100"), 10), totalOf(200, {}, 7), totalOf(206, {}, 7)]).toEqual([100, 7, undefined]);
  });

  it("Content-Range is parsed strictly", () => {
    expect(parseContentRange("bytes 0-99/100")).toEqual({ start: 0, end: 99, total: 100 });
    for (const bad of ["bytes 0-99/*", "bytes 10-5/100", "bytes 0-100/100", "items 0-1/2", "bytes -1-5/10", undefined]) expect(parseContentRange(bad), String(bad)).toBeUndefined();
  });
});
