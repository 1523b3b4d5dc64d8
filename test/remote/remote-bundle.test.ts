import { beforeAll, describe, expect, it } from "vitest";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { openRemoteBundle } from "../../src/remote/remote-bundle";
import { HttpClient } from "../../src/remote/http-request";
import { MissingBlocksError } from "../../src/remote/http-fetcher";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { openSnapshotDir } from "../../src/snapshot/snapshot-dir";
import { writeBundle } from "../../src/snapshot/bundle-writer";
import { FOOTER_FROM_END } from "../../src/snapshot/bundle-layout";
import { VmsfxError } from "../../src/errors";
import { FAST, harness, syntheticRemote, verifyFor } from "./fixture";

/**
 * Layout (b): a bundle file served over HTTP. Footer and TOC come from the end with a suffix
 * range, each block with `Range: bytes=a-b`; every answer must be a 206 for exactly that range
 * of a file of the size first seen.
 */

const h = harness();
let remote: Awaited<ReturnType<typeof syntheticRemote>>;
let localManifest: Buffer;
beforeAll(async () => {
  remote = await syntheticRemote();
  const b = await openBundle(remote.bundle);
  localManifest = b.manifestBytes;
  await b.close();
});

const bundleAt = (url: string) => ({ kind: "bundle" as const, url: `${url}/app.vmsfx` });
const serveBundle = (file = remote.bundle) => h.serve({ files: { "/app.vmsfx": file } });
const items = () => remote.blocks.map((b) => ({ hash: b.hash, maxBytes: 4096, verify: verifyFor(b.hash) }));

async function fetchAll(f: ReturnType<typeof h.fetcher>) {
  const got = new Map<string, Uint8Array>();
  for await (const b of f.fetchMany(items())) got.set(b.hash, b.bytes);
  return got;
}

async function corruptCopy(mutate: (b: Buffer) => void): Promise<string> {
  const bytes = await fsp.readFile(remote.bundle);
  mutate(bytes);
  const file = path.join(h.scratch("vmsfx-remote-bad-"), "app.vmsfx");
  await fsp.writeFile(file, bytes);
  return file;
}

describe("remote bundle: opening", { timeout: 10_000 }, () => {
  it("footer and TOC in one suffix request; manifest checked against the TOC", async () => {
    const s = await serveBundle();
    const client = new HttpClient(FAST);
    try {
      const rb = await openRemoteBundle(`${s.url}/app.vmsfx`, { client });
      expect(s.requests.map((r) => r.range)).toEqual(["bytes=-65536"]);
      expect(rb.fileSize).toBe((await fsp.stat(remote.bundle)).size);
      expect(rb.toc.blocks.size).toBe(remote.blocks.length);
      expect((await rb.readManifest()).equals(localManifest)).toBe(true);
      expect(await rb.readSignature()).toBeUndefined();
      expect(s.requests[1].status).toBe(206);
    } finally {
      client.close();
    }
  });

  it("with only the last 1536 bytes first, the TOC takes a second range request", async () => {
    const s = await serveBundle();
    const rb = await openRemoteBundle(`${s.url}/app.vmsfx`, { tailBytes: FOOTER_FROM_END });
    try {
      expect(s.requests.map((r) => r.range?.startsWith("bytes=-1536") || /^bytes=\d+-\d+$/.test(r.range ?? ""))).toEqual([true, true]);
      expect(rb.toc.blocks.size).toBe(remote.blocks.length);
    } finally {
      rb.close();
    }
  });

  it("a bundle appended to an executable is found from the end", async () => {
    const prefix = path.join(h.scratch("vmsfx-remote-exe-"), "runtime");
    await fsp.writeFile(prefix, Buffer.alloc(100_000, 0xcc));
    const exe = path.join(path.dirname(prefix), "app");
    await writeBundle(await openSnapshotDir(remote.dir), exe, { prefixFile: prefix });
    const s = await serveBundle(exe);
    const got = await fetchAll(h.fetcher([bundleAt(s.url)]));
    expect(got.size).toBe(remote.blocks.length);
    for (const b of remote.blocks) expect(Buffer.from(got.get(b.hash)!).equals(b.stored)).toBe(true);
  });

  it("damage is reported with the bundle codes", async () => {
    const cases: [string, string][] = [
      [await corruptCopy((b) => (b[b.byteLength - FOOTER_FROM_END + 40] ^= 1)), "VMSFX_BUNDLE_CORRUPT"], // inside the TOC hash field
      [await corruptCopy((b) => b.fill(0x41, b.byteLength - FOOTER_FROM_END, b.byteLength - FOOTER_FROM_END + 8)), "VMSFX_NOT_A_BUNDLE"],
      [await corruptCopy((b) => b.writeUInt32LE(99, b.byteLength - FOOTER_FROM_END + 8)), "VMSFX_UNSUPPORTED_VERSION"],
    ];
    const tiny = path.join(h.scratch("vmsfx-remote-tiny-"), "tiny");
    await fsp.writeFile(tiny, "not a bundle");
    cases.push([tiny, "VMSFX_NOT_A_BUNDLE"]);
    for (const [file, code] of cases) {
      const s = await serveBundle(file);
      const err = await openRemoteBundle(`${s.url}/app.vmsfx`).then(() => undefined, (e) => e);
      expect(err, code).toBeInstanceOf(VmsfxError);
      expect(err.code, file).toBe(code);
    }
  });

  it("the manifest entry is checked against the TOC's SHA-256", async () => {
    const file = await corruptCopy((b) => (b[600] ^= 1)); // first bytes of manifest.json's data
    const s = await serveBundle(file);
    const rb = await openRemoteBundle(`${s.url}/app.vmsfx`);
    try {
      await expect(rb.readManifest()).rejects.toMatchObject({ code: "VMSFX_BUNDLE_CORRUPT" });
    } finally {
      rb.close();
    }
  });
});

describe("remote bundle: blocks by range under faults", { timeout: 10_000 }, () => {
  it("every block, each one 206 range request, verified", async () => {
    const s = await serveBundle();
    const got = await fetchAll(h.fetcher([bundleAt(s.url)]));
    for (const b of remote.blocks) expect(Buffer.from(got.get(b.hash)!).equals(b.stored)).toBe(true);
    expect(s.requests.slice(1).every((r) => r.status === 206 && /^bytes=\d+-\d+$/.test(r.range!))).toBe(true);
    expect(s.requests).toHaveLength(1 + remote.blocks.length); // opened once, shared by all
  });

  it("a server that ignores Range: refused with a clear reason, the next remote serves", async () => {
    const bad = await serveBundle();
    const good = await serveBundle();
    bad.rules.push({ fault: { kind: "ignore-range" } });
    const f = h.fetcher([bundleAt(bad.url), bundleAt(good.url)]);
    const got = await fetchAll(f);
    expect(got.size).toBe(remote.blocks.length);
    // The small file as a whole is a valid answer to the suffix request; block requests are not.
    expect(bad.requests.slice(1).every((r) => r.status === 200)).toBe(true);
    const only = h.fetcher([bundleAt(bad.url)]);
    await expect(only.fetchBlock(remote.blocks[0].hash, 4096, verifyFor(remote.blocks[0].hash))).rejects.toThrow(/ignores Range requests \(answered 200 instead of 206\)/);
  });

  it("200 with an endless body where 206 was asked: the body is never read", async () => {
    const s = await serveBundle();
    const f = h.fetcher([bundleAt(s.url)]);
    await f.fetchBlock(remote.blocks[0].hash, 4096, verifyFor(remote.blocks[0].hash)); // opened
    s.rules.push({ fault: { kind: "flood", bytes: 1 << 30 } });
    const t0 = Date.now();
    const err = await f.fetchBlock(remote.blocks[1].hash, 4096, verifyFor(remote.blocks[1].hash)).catch((e) => e);
    expect(err).toBeInstanceOf(MissingBlocksError);
    expect(Date.now() - t0).toBeLessThan(1_000);
    await new Promise((r) => setTimeout(r, 50));
    const flood = s.requests.find((r) => r.fault === "flood")!;
    expect(flood.aborted).toBe(true);
    expect(flood.bytesWritten).toBeLessThan(64 << 20); // socket buffers at most; 1 GiB was offered
  });

  it("a Content-Range for other bytes: refused, not retried", async () => {
    const s = await serveBundle();
    const f = h.fetcher([bundleAt(s.url)]);
    await f.fetchBlock(remote.blocks[0].hash, 4096, verifyFor(remote.blocks[0].hash));
    s.rules.push({ fault: { kind: "bad-content-range" } });
    const before = s.requests.length;
    await expect(f.fetchBlock(remote.blocks[1].hash, 4096, verifyFor(remote.blocks[1].hash))).rejects.toThrow(/answered bytes \d+-\d+ for bytes \d+-\d+/);
    expect(s.requests.length - before).toBe(1);
  });

  it("the file changed size on the server since the TOC was read: refused", async () => {
    const files = { "/app.vmsfx": remote.bundle };
    const s = await h.serve({ files });
    const f = h.fetcher([bundleAt(s.url)]);
    await f.fetchBlock(remote.blocks[0].hash, 4096, verifyFor(remote.blocks[0].hash));
    files["/app.vmsfx"] = await corruptCopy(() => {});
    await fsp.appendFile(files["/app.vmsfx"], Buffer.alloc(512));
    await expect(f.fetchBlock(remote.blocks[1].hash, 4096, verifyFor(remote.blocks[1].hash))).rejects.toThrow(/the file changed on the server/);
  });

  it("reset, 500, drip and wrong bytes on some block requests end verified after retry or fail-over", async () => {
    const good = await serveBundle();
    for (const fault of [{ kind: "reset", afterBytes: 10 }, { kind: "status", status: 500 }, { kind: "drip", bytes: 4, everyMs: 40 }, { kind: "corrupt" }] as const) {
      const bad = await serveBundle();
      const f = h.fetcher([bundleAt(bad.url), bundleAt(good.url)]);
      await f.fetchBlock(remote.blocks[0].hash, 4096, verifyFor(remote.blocks[0].hash));
      bad.rules.push({ fault, times: 3 });
      const got = await fetchAll(f);
      expect(got.size, fault.kind).toBe(remote.blocks.length);
      for (const b of remote.blocks) expect(Buffer.from(got.get(b.hash)!).equals(b.stored), fault.kind).toBe(true);
    }
  });

  it("a damaged bundle remote is opened once and skipped for every block", async () => {
    const bad = await serveBundle(await corruptCopy((b) => (b[b.byteLength - FOOTER_FROM_END + 40] ^= 1)));
    const good = await serveBundle();
    const got = await fetchAll(h.fetcher([bundleAt(bad.url), bundleAt(good.url)]));
    expect(got.size).toBe(remote.blocks.length);
    expect(bad.requests).toHaveLength(1);
  });

  it("a block the TOC does not list, or lists larger than expected, is not requested", async () => {
    const s = await serveBundle();
    const f = h.fetcher([bundleAt(s.url)]);
    await expect(f.fetchBlock("ab".repeat(32), 4096, () => true)).rejects.toThrow(/does not hold block abababababab/);
    const b = remote.blocks[0];
    await expect(f.fetchBlock(b.hash, b.stored.byteLength - 1, verifyFor(b.hash))).rejects.toThrow(/more than the \d+ expected/);
    expect(s.requests).toHaveLength(1);
  });
});

describe("manifest over HTTP", { timeout: 10_000 }, () => {
  it("from a bundle remote (TOC-checked) and from a published folder (with its signature file)", async () => {
    const s = await h.serve({ dir: remote.dir, files: { "/app.vmsfx": remote.bundle } });
    const fromBundle = await h.fetcher([bundleAt(s.url)]).fetchManifest();
    expect(fromBundle.manifestBytes.equals(localManifest)).toBe(true);
    const pub = h.fetcher([{ kind: "published", url: s.url }]);
    const fromFolder = await pub.fetchManifest((m) => m.equals(localManifest));
    expect(fromFolder.signature).toBeUndefined();
    await fsp.writeFile(path.join(remote.dir, "signature"), "{}");
    try {
      expect((await pub.fetchManifest()).signature?.toString()).toBe("{}");
    } finally {
      await fsp.rm(path.join(remote.dir, "signature"));
    }
    await expect(pub.fetchManifest(() => false)).rejects.toThrow(/the manifest of this app is not on this computer .*does not match this app's/);
  });
});
