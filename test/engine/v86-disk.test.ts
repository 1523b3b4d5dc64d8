import { describe, expect, it } from "vitest";
import { createDiskProxy } from "../../src/engine/v86-disk";
import type { WorkerToHost } from "../../src/engine/engine-protocol";

describe("a disk proxy", () => {
  it("settles once every read it forwarded has been answered", async () => {
    const posted: WorkerToHost[] = [];
    const proxy = createDiskProxy("hda", 4096, undefined, (m) => posted.push(m), () => []);
    await proxy.settled();
    const buffer = proxy.buffer as { get(start: number, len: number, fn: (d: Uint8Array) => void): void };
    const got: number[] = [];
    buffer.get(0, 512, (d) => got.push(d.byteLength));
    buffer.get(512, 512, (d) => got.push(d.byteLength));
    let settled = false;
    const done = proxy.settled().then(() => (settled = true));
    const ids = posted.map((m) => (m as Extract<WorkerToHost, { type: "disk-read" }>).id);
    proxy.reply(ids[0], new Uint8Array(512));
    await Promise.resolve();
    expect(settled).toBe(false);
    proxy.reply(ids[1], new Uint8Array(512));
    await done;
    expect(got).toEqual([512, 512]);
    expect(proxy.pending()).toBe(0);
  });
});
