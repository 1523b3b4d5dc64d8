import { describe, expect, it } from "vitest";
import { thinSelection } from "../../src/cli/publish-commands";
import type { BlockMap, Manifest } from "../../src/snapshot/manifest";

const h = (n: number) => n.toString(16).padStart(64, "0");
const map = (size: number, blockSize: number, blocks: (number | null)[]): BlockMap => ({ size, blockSize, blocks: blocks.map((b) => (b === null ? null : h(b))) });

const manifest = {
  state: map(5000, 4096, [1, 2]),
  memory: map(8192, 4096, [3, null]),
  vgaMemory: map(4096, 4096, [9]),
  disks: [{ slot: "hda", map: map(12288, 4096, [4, 5, 6]) }],
  boot: { bios: map(4096, 4096, [7]), vgaBios: map(4096, 4096, [7]), kernel: map(4096, 4096, [8]), cmdline: "" },
  hot: [{ slot: "hda", blocks: [2, 0, 7] }],
} as unknown as Manifest;

const sorted = (s: Set<string>) => [...s].sort();

describe("thinSelection: what a thin bundle keeps, walked with block-maps.ts", () => {
  it("none: the device state; memory: with RAM and VGA memory; hot: with the recorded hot disk blocks", () => {
    expect(sorted(thinSelection(manifest, "none"))).toEqual([1, 2].map(h));
    expect(sorted(thinSelection(manifest))).toEqual([1, 2, 3, 9].map(h));
    expect(sorted(thinSelection(manifest, "hot"))).toEqual([1, 2, 3, 4, 6, 9].map(h));
  });

  it("regression: an app's data disk is always kept (a thin app's quit could not keep it whole offline, so --update moved the user's data aside)", () => {
    const app = { ...manifest, disks: [...manifest.disks, { slot: "hdb", map: map(12288, 4096, [10, null, 11]) }], app: { protocol: 2, dataDisk: "hdb", data: ["/data"] } } as unknown as Manifest;
    expect(sorted(thinSelection(app, "none"))).toEqual([1, 2, 10, 11].map(h));
    expect(sorted(thinSelection(app))).toEqual([1, 2, 3, 9, 10, 11].map(h).sort());
  });

  it("hot without a recorded hot set is a usage error", () => {
    expect(() => thinSelection({ ...manifest, hot: undefined }, "hot")).toThrow(expect.objectContaining({ code: "VMSFX_USAGE" }));
  });
});
