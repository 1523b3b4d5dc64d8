import { beforeAll, describe, expect, it } from "vitest";
import { MissingBlocksError, remoteFromUrl, type FetchedBlock, type HttpFetcher } from "../../src/remote/http-fetcher";
import { VmsfxError } from "../../src/errors";
import type { FaultRule } from "../helpers/fault-server";
import { deadUrl, harness, randomPublished, syntheticRemote, verifyFor, type Block } from "./fixture";

/**
 * Layout (a), a published folder, under every fault the fault server injects. Each case ends in
 * either the verified block (after a retry or a fail-over) or a MissingBlocksError, within the
 * test's few-second timeout; no case may return bytes whose hash differs.
 */

const h = harness();
let remote: Awaited<ReturnType<typeof syntheticRemote>>;
let block: Block;
beforeAll(async () => {
  remote = await syntheticRemote();
  block = remote.blocks.reduce((a, b) => (b.stored.byteLength > a.stored.byteLength ? b : a)); // the largest: drips take longest
});

const published = (url: string) => ({ kind: "published" as const, url: `${url}/` });
const blockPath = () => `/blocks/${block.hash}`;

async function serveWith(rules: FaultRule[]) {
  return h.serve({ dir: remote.dir, rules });
}

/**
 * Fetches the block and insists on the only two acceptable outcomes. The cap is the raw block
 * size (4 KiB), as the launcher will pass it: a little above the stored size of a compressed block.
 */
async function outcome(f: HttpFetcher, b = block, maxBytes = 4096): Promise<"verified" | MissingBlocksError> {
  try {
    const bytes = await f.fetchBlock(b.hash, maxBytes, verifyFor(b.hash));
    expect(Buffer.from(bytes).equals(b.stored)).toBe(true);
    return "verified";
  } catch (e) {
    expect(e).toBeInstanceOf(MissingBlocksError);
    return e as MissingBlocksError;
  }
}

describe("published folder: faults on the only remote", { timeout: 10_000 }, () => {
  it("latency under the limits: the block arrives", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "latency", ms: 150 } }]);
    expect(await outcome(h.fetcher([published(s.url)]))).toBe("verified");
  });

  it("500 twice, then OK: retried with backoff on the same remote", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "status", status: 500 }, times: 2 }]);
    expect(await outcome(h.fetcher([published(s.url)]))).toBe("verified");
    expect(s.countFor(blockPath())).toBe(3);
  });

  it("500 forever: bounded attempts (1 + retries), then the typed error", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "status", status: 503 } }]);
    const err = await outcome(h.fetcher([published(s.url)]));
    expect(err).toBeInstanceOf(MissingBlocksError);
    expect(s.countFor(blockPath())).toBe(3);
    const e = err as MissingBlocksError;
    expect(e.offline).toBe(false);
    expect(e.message).toMatch(/1 block \(.*\) of this app is not on this computer .*server error 503/);
  });

  it("connection reset mid-body once: retried, verified", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "reset", afterBytes: 100 }, times: 1 }]);
    expect(await outcome(h.fetcher([published(s.url)]))).toBe("verified");
    expect(s.countFor(blockPath())).toBe(2);
  });

  it("connection reset every time: the typed error, not a hang", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "reset", afterBytes: 100 } }]);
    expect(await outcome(h.fetcher([published(s.url)]))).toBeInstanceOf(MissingBlocksError);
    expect(s.countFor(blockPath())).toBe(3);
  });

  it("Content-Length larger than the body (then close): treated as a broken answer, retried", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "wrong-length", delta: 50 }, times: 1 }]);
    expect(await outcome(h.fetcher([published(s.url)]))).toBe("verified");
    expect(s.countFor(blockPath())).toBe(2);
  });

  it("Content-Length above the expected size: refused before reading, not retried", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "oversize", extra: 1 << 20, declare: true } }]);
    const err = await outcome(h.fetcher([published(s.url)]));
    expect((err as MissingBlocksError).message).toMatch(/announced \d+ bytes where at most \d+ were expected/);
    expect(s.countFor(blockPath())).toBe(1);
  });

  it("Content-Length above an exact cap: refused, even by a few bytes", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "wrong-length", delta: 1 } }]);
    const err = await outcome(h.fetcher([published(s.url)]), block, block.stored.byteLength);
    expect((err as MissingBlocksError).message).toMatch(/announced \d+ bytes where at most \d+ were expected/);
  });

  it("chunked body past the cap: the socket is cut at the cap", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "oversize", extra: 8 << 20, declare: false } }]);
    const err = await outcome(h.fetcher([published(s.url)]));
    expect((err as MissingBlocksError).message).toMatch(/sent more than the \d+ bytes expected/);
  });

  it("wrong bytes: never returned, not retried on that remote", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "corrupt" } }]);
    const seen: Buffer[] = [];
    const f = h.fetcher([published(s.url)]);
    await expect(
      f.fetchBlock(block.hash, block.stored.byteLength, (b) => {
        seen.push(Buffer.from(b));
        return verifyFor(block.hash)(b);
      }),
    ).rejects.toThrow(/do not match block .* \(SHA-256 differs\)/);
    expect(seen).toHaveLength(1);
    expect(s.countFor(blockPath())).toBe(1);
  });

  it("a verifier that throws counts as a rejection", async () => {
    const s = await serveWith([]);
    const f = h.fetcher([published(s.url)]);
    await expect(f.fetchBlock(block.hash, block.stored.byteLength, () => { throw new Error("boom"); })).rejects.toBeInstanceOf(MissingBlocksError);
  });

  it("slow drip: cut by the throughput floor", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "drip", bytes: 8, everyMs: 30 } }]);
    const t0 = Date.now();
    const err = await outcome(h.fetcher([published(s.url)], { retry: { retries: 0, backoffMs: 1, backoffMaxMs: 1 } }));
    expect((err as MissingBlocksError).message).toMatch(/too slow/);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("no answer at all: idle timeout, reported as offline", async () => {
    const s = await serveWith([{ fault: { kind: "hang" } }]);
    const err = (await outcome(h.fetcher([published(s.url)]))) as MissingBlocksError;
    expect(err.offline).toBe(true);
    expect(err.message).toMatch(/none of its servers answered: .*stalled/);
  });

  it("404: not retried", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "status", status: 404 } }]);
    expect(((await outcome(h.fetcher([published(s.url)]))) as MissingBlocksError).message).toMatch(/not found \(404\)/);
    expect(s.countFor(blockPath())).toBe(1);
  });

  it("redirect loop: stops after 3 redirects", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "redirect", location: "." } }]);
    expect(((await outcome(h.fetcher([published(s.url)]))) as MissingBlocksError).message).toMatch(/more than 3 redirects/);
    expect(s.countFor(blockPath())).toBe(4);
  });

  it("a plain-http redirect between two servers of this machine is followed (no network between them); elsewhere it is refused (redirect-policy.test.ts)", async () => {
    const other = await serveWith([]);
    const s = await serveWith([{ path: blockPath(), fault: { kind: "redirect", location: `${other.url}${blockPath()}` } }]);
    expect(await outcome(h.fetcher([published(s.url)]))).toBe("verified");
    expect(other.requests).toHaveLength(1);
  });

  it("a same-origin redirect is followed", async () => {
    const s = await serveWith([{ path: blockPath(), fault: { kind: "redirect", location: `/blocks/../blocks/${block.hash}` }, times: 1 }]);
    expect(await outcome(h.fetcher([published(s.url)]))).toBe("verified");
    expect(s.requests.map((r) => r.status)).toEqual([302, 200]);
  });
});

describe("published folder: fail-over and offline", { timeout: 10_000 }, () => {
  it("first remote bad in each way, second good: verified from the second", async () => {
    const good = await serveWith([]);
    for (const fault of [{ kind: "status", status: 500 }, { kind: "corrupt" }, { kind: "status", status: 404 }, { kind: "hang" }, { kind: "reset", afterBytes: 10 }, { kind: "wrong-length", delta: -10 }, { kind: "oversize", extra: 1 << 20, declare: false }] as const) {
      const bad = await serveWith([{ fault }]);
      const f = h.fetcher([published(bad.url), published(good.url)]);
      expect(await outcome(f), fault.kind).toBe("verified");
    }
  });

  it("a remote that did not answer is skipped for later blocks (offline fails fast)", async () => {
    const dead = await deadUrl();
    const good = await serveWith([]);
    const f = h.fetcher([published(dead), published(good.url)]);
    for (const b of remote.blocks) expect(await outcome(f, b)).toBe("verified");
    expect(good.requests.length).toBe(remote.blocks.length);
  });

  it("every remote unreachable: one offline error with the count and size", async () => {
    const f = h.fetcher([published(await deadUrl()), published(await deadUrl())]);
    const items = remote.blocks.map((b) => ({ hash: b.hash, maxBytes: 4096, verify: verifyFor(b.hash) }));
    const got: FetchedBlock[] = [];
    const t0 = Date.now();
    const err = await (async () => {
      for await (const b of f.fetchMany(items)) got.push(b);
    })().then(() => undefined, (e) => e);
    expect(got).toEqual([]);
    expect(err).toBeInstanceOf(MissingBlocksError);
    expect(err).toBeInstanceOf(VmsfxError);
    expect(err).toMatchObject({ blocks: items.length, bytes: items.length * 4096, offline: true, code: "VMSFX_OFFLINE" });
    expect(err.message).toMatch(new RegExp(`^${items.length} blocks \\(${(items.length * 4).toFixed(1)} KiB\\) of this app are not on this computer and none of its servers answered: .*connection refused.*Check the internet connection`));
    expect(Date.now() - t0).toBeLessThan(3_000);
  });
});

describe("fetchMany", { timeout: 15_000 }, () => {
  it("bounded sockets and concurrency, every block verified, yielded as they complete", async () => {
    const { dir, blocks } = await randomPublished(40, 16 << 10);
    const s = await h.serve({ dir, rules: [{ fault: { kind: "latency", ms: 20 } }] });
    const f = h.fetcher([published(s.url)], { maxSockets: 3 });
    const got = new Map<string, Uint8Array>();
    for await (const b of f.fetchMany(blocks.map((b) => ({ hash: b.hash, maxBytes: b.stored.byteLength, verify: verifyFor(b.hash) })), 8)) got.set(b.hash, b.bytes);
    expect(got.size).toBe(40);
    for (const b of blocks) expect(Buffer.from(got.get(b.hash)!).equals(b.stored)).toBe(true);
    expect(s.stats.maxConcurrent).toBeLessThanOrEqual(3);
    expect(s.stats.connections).toBeLessThanOrEqual(3); // keep-alive reuses them
  });

  it("bytes in flight bounded: a consumer that does not read stops new requests", async () => {
    const { dir, blocks } = await randomPublished(20, 16 << 10);
    const s = await h.serve({ dir });
    const f = h.fetcher([published(s.url)], { maxInFlightBytes: 64 << 10 });
    const it = f.fetchMany(blocks.map((b) => ({ hash: b.hash, maxBytes: b.stored.byteLength, verify: verifyFor(b.hash) })))[Symbol.asyncIterator]();
    await it.next(); // take one, then stall
    await new Promise((r) => setTimeout(r, 200));
    expect(s.requests.length).toBeLessThanOrEqual(5); // 64 KiB budget / 16 KiB blocks (+ the one taken)
    let n = 1;
    while (!(await it.next()).done) n++;
    expect(n).toBe(20);
  });

  it("some blocks missing everywhere: the rest are yielded, then one error counts the missing", async () => {
    const { dir, blocks } = await randomPublished(10, 4096);
    const missing = blocks.slice(0, 3);
    const rules: FaultRule[] = missing.map((b) => ({ path: `/blocks/${b.hash}`, fault: { kind: "corrupt" } as const }));
    const a = await h.serve({ dir, rules });
    const b = await h.serve({ dir, rules: rules.map((r) => ({ ...r })) });
    const f = h.fetcher([published(a.url), published(b.url)]);
    const got: string[] = [];
    const err = await (async () => {
      for await (const x of f.fetchMany(blocks.map((b) => ({ hash: b.hash, maxBytes: 4096, verify: verifyFor(b.hash) })))) got.push(x.hash);
    })().then(() => undefined, (e) => e);
    expect(got.sort()).toEqual(blocks.slice(3).map((b) => b.hash).sort());
    expect(err).toMatchObject({ blocks: 3, bytes: 3 * 4096, offline: false });
    expect(err.message).toMatch(/^3 blocks \(12\.0 KiB\) .* its servers could not provide them: .*SHA-256 differs.*publish it again/);
  });

  it("stopping early cancels what is still running", async () => {
    const { dir, blocks } = await randomPublished(12, 4096);
    const s = await h.serve({ dir, rules: [{ fault: { kind: "latency", ms: 100 } }] });
    const f = h.fetcher([published(s.url)]);
    for await (const _ of f.fetchMany(blocks.map((b) => ({ hash: b.hash, maxBytes: 4096, verify: verifyFor(b.hash) })))) break;
    await new Promise((r) => setTimeout(r, 300));
    expect(s.requests.length).toBeLessThanOrEqual(5);
  });
});

describe("a remote whose answer is not what it should be", { timeout: 10_000 }, () => {
  it("a bundle remote that is not a bundle: the error quotes the reason once, after the URL (built from fields, not by editing a message)", async () => {
    const s = await serveWith([]);
    const url = `${s.url}/blocks/${block.hash}`;
    const e = await outcome(h.fetcher([{ kind: "bundle", url }]));
    expect(e).toBeInstanceOf(MissingBlocksError);
    const m = (e as MissingBlocksError).message;
    expect((e as MissingBlocksError).reasons).toEqual([`${url} (not a vmsfx bundle (no vmsfx footer at its end))`]);
    expect(m.split(url).length).toBe(2);
  });
});

describe("remote specs", () => {
  it("a trailing slash means a published folder, anything else a bundle file", () => {
    expect(remoteFromUrl("https://cdn.example/app/")).toEqual({ kind: "published", url: "https://cdn.example/app/" });
    expect(remoteFromUrl("https://cdn.example/app.vmsfx")).toEqual({ kind: "bundle", url: "https://cdn.example/app.vmsfx" });
  });
});
