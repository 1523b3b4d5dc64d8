import { describe, expect, it } from "vitest";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { openHttpPort } from "../../src/remote/http-range-port";
import { readContainer } from "../../src/snapshot/bundle-container";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { harness, syntheticRemote } from "./fixture";

/** An HTTP range source as a ByteRangePort: one suffix request to open, then one range per read. */
const h = harness();

describe("HTTP range port", { timeout: 10_000 }, () => {
  it("learns the size and keeps the tail from one suffix request; reads are ranges of that size", async () => {
    const file = path.join(h.scratch("vmsfx-port-"), "f.bin");
    const bytes = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    await fsp.writeFile(file, bytes);
    const s = await h.serve({ files: { "/f.bin": file } });
    const port = await openHttpPort(`${s.url}/f.bin`, h.client(), 1000);
    expect([port.size, port.origin, port.tail?.offset]).toEqual([10_000, "server", 9000]);
    expect(port.tail!.bytes.equals(bytes.subarray(9000))).toBe(true);
    expect((await port.read(100, 50)).equals(bytes.subarray(100, 150))).toBe(true);
    expect((await port.read(5, 0)).byteLength).toBe(0);
    expect(s.requests.map((r) => r.range)).toEqual(["bytes=-1000", "bytes=100-149"]);
  });

  it("the container reader opens a served bundle through it, as it opens a local one", async () => {
    const remote = await syntheticRemote();
    const s = await h.serve({ files: { "/app.vmsfx": remote.bundle } });
    const c = await readContainer(await openHttpPort(`${s.url}/app.vmsfx`, h.client(), 64 << 10));
    const local = await openBundle(remote.bundle);
    expect(c.manifestBytes.equals(local.manifestBytes)).toBe(true);
    expect(c.toc.blocks.size).toBe(local.toc.blocks.size);
    await local.close();
  });
});
