import { describe, expect, it } from "vitest";
import { hopFor, nextHop, type Hop } from "../../src/remote/redirect-policy";

const hop = (url: string) => hopFor(new URL(url));
const basic = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;

describe("redirect policy", () => {
  it("credentials in a URL become Basic auth and leave the URL", () => {
    expect(hop("https://us%40r:p%3Aw@cdn.example/app/")).toEqual({ url: new URL("https://cdn.example/app/"), authorization: basic("us@r:p:w") });
    expect(hop("https://cdn.example/app/")).toEqual({ url: new URL("https://cdn.example/app/") });
  });

  it("Authorization follows a redirect on the same origin only", () => {
    const from = hop("https://u:p@cdn.example/a");
    expect((nextHop(from, 302, "/b", 0, 3) as Hop).authorization).toBe(basic("u:p"));
    expect(nextHop(from, 302, "https://mirror.example/b", 0, 3)).toEqual({ url: new URL("https://mirror.example/b") });
    expect(nextHop(from, 302, "http://cdn.example/b", 0, 3)).toMatchObject({ kind: "protocol" }); // another origin over plain http
    expect(nextHop(from, 302, "https://cdn.example:8443/b", 0, 3)).toEqual({ url: new URL("https://cdn.example:8443/b") });
  });

  it("refuses what it cannot follow", () => {
    const from = hop("http://a.example/f");
    expect(nextHop(from, 302, undefined, 0, 3)).toMatchObject({ reason: "answered 302 without a Location" });
    expect(nextHop(from, 302, "/g", 3, 3)).toMatchObject({ reason: expect.stringMatching(/more than 3 redirects/) });
    expect(nextHop(from, 302, "file:///etc/passwd", 0, 3)).toMatchObject({ reason: expect.stringMatching(/file: which is not supported/) });
    expect(nextHop(from, 302, "http://b.example/f", 0, 3)).toMatchObject({ reason: expect.stringMatching(/another server over plain http/) });
    expect(nextHop(from, 301, "https://b.example/f", 0, 3)).toEqual({ url: new URL("https://b.example/f") });
  });

  it("plain http between two servers of this machine crosses no network: followed, without the Authorization", () => {
    const local = { url: new URL("http://127.0.0.1:5000/v2/a/blobs/x"), authorization: "Bearer t" };
    expect(nextHop(local, 307, "http://127.0.0.1:9000/bucket/x", 0, 3)).toEqual({ url: new URL("http://127.0.0.1:9000/bucket/x") });
    expect(nextHop(local, 307, "http://localhost:9000/x", 0, 3)).toEqual({ url: new URL("http://localhost:9000/x") });
    expect(nextHop(local, 307, "http://storage.example/x", 0, 3)).toMatchObject({ reason: expect.stringMatching(/another server over plain http/) });
    expect(nextHop({ url: new URL("http://a.example/f") }, 307, "http://127.0.0.1/x", 0, 3)).toMatchObject({ kind: "protocol" });
  });
});
