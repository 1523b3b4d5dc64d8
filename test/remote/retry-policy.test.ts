import { describe, expect, it } from "vitest";
import { RemoteError } from "../../src/remote/remote-error";
import { backoffDelay, retryDelay, withRetries } from "../../src/remote/retry-policy";

const policy = { retries: 3, backoffMs: 100, backoffMaxMs: 1000, retryAfterMaxMs: 5_000 };
const server = (retryAfterMs?: number) => new RemoteError("server", "http://x/f", "server error 503", retryAfterMs === undefined ? undefined : { retryAfterMs });

describe("retry policy", () => {
  it("backoff doubles up to its cap, with half of each delay random", () => {
    const p = { backoffMs: 100, backoffMaxMs: 1000 };
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(n, p, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(n, p, () => 0.999999))).toEqual([100, 200, 400, 800, 1000].map((x) => expect.closeTo(x, 2)));
  });

  it("a server's Retry-After is honoured, capped, and never shortens the backoff", () => {
    expect(retryDelay(server(), 0, policy, () => 0)).toBe(50);
    expect(retryDelay(server(2_000), 0, policy, () => 0)).toBe(2_000);
    expect(retryDelay(server(3_600_000), 0, policy, () => 0)).toBe(5_000);
    expect(retryDelay(server(0), 3, policy, () => 0)).toBe(400);
    expect(retryDelay(server(3_600_000), 0, { ...policy, retryAfterMaxMs: undefined }, () => 0)).toBe(15_000); // the default cap
  });

  it("only retryable RemoteErrors are retried, at most `retries` times", async () => {
    let n = 0;
    await expect(withRetries({ ...policy, backoffMs: 1, backoffMaxMs: 1 }, undefined, async () => { n++; throw server(); })).rejects.toBeInstanceOf(RemoteError);
    expect(n).toBe(4);
    n = 0;
    await expect(withRetries(policy, undefined, async () => { n++; throw new RemoteError("not-found", "http://x/f", "not found (404)"); })).rejects.toMatchObject({ kind: "not-found" });
    expect(n).toBe(1);
  });

  it("cancelling ends a long Retry-After wait at once", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = Date.now();
    await expect(withRetries(policy, ac.signal, async () => { throw server(60_000); })).rejects.toMatchObject({ kind: "aborted" });
    expect(Date.now() - t0).toBeLessThan(3_000);
  });
});
