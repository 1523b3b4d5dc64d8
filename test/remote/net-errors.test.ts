import { describe, expect, it } from "vitest";
import { errors } from "undici";
import { netVerdict } from "../../src/remote/net-errors";

const errno = (code: string) => Object.assign(new Error(code), { code });

describe("network errors in the user's words", () => {
  it("before an answer: unreachable; after: interrupted", () => {
    expect(netVerdict(errno("ECONNREFUSED"), false, 10)).toEqual({ kind: "unreachable", reason: "connection refused" });
    expect(netVerdict(new errors.HeadersTimeoutError(), false, 600)).toEqual({ kind: "unreachable", reason: "stalled: nothing received for 600 ms" });
    expect(netVerdict(new errors.BodyTimeoutError(), true, 600)).toEqual({ kind: "interrupted", reason: "stalled: nothing received for 600 ms" });
    expect(netVerdict(new errors.ConnectTimeoutError(), false, 600)).toEqual({ kind: "unreachable", reason: "connection timed out" });
  });

  it("a reset reaches undici as UND_ERR_SOCKET; its errno is what counts", () => {
    expect(netVerdict(Object.assign(new errors.SocketError("other side closed"), { cause: errno("ECONNRESET") }), true, 10)).toEqual({ kind: "interrupted", reason: "connection reset" });
    expect(netVerdict(new errors.SocketError("other side closed"), true, 10).reason).toBe("the connection closed early");
  });

  it("certificate problems are refusals, not outages", () => {
    expect(netVerdict(errno("DEPTH_ZERO_SELF_SIGNED_CERT"), false, 10)).toMatchObject({ kind: "refused", reason: expect.stringMatching(/TLS certificate is not trusted/) });
  });
});
