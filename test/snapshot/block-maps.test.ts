import { describe, expect, it } from "vitest";
import { blockHashes, blockLength, blockRefs, hotRefs, namedMaps, uniqueBlocks } from "../../src/snapshot/block-maps";
import { hotOrder } from "../../src/snapshot/hot-order";
import { manifestBlocks, type BlockMap, type Manifest } from "../../src/snapshot/manifest";

const h = (n: number) => n.toString(16).padStart(64, "0");
const map = (size: number, blockSize: number, blocks: (number | null)[]): BlockMap => ({ size, blockSize, blocks: blocks.map((b) => (b === null ? null : h(b))) });

const manifest = {
  state: map(5000, 4096, [1, 2]),
  memory: map(8192, 4096, [3, null]),
  vgaMemory: map(4096, 4096, [3]),
  disks: [{ slot: "hda", map: map(12288, 4096, [4, 5, 6]) }],
  boot: { bios: map(4096, 4096, [7]), vgaBios: map(4096, 4096, [7]), kernel: map(4096, 4096, [8]), cmdline: "" },
  hot: [{ slot: "hda", blocks: [2, 0] }],
} as unknown as Manifest;

describe("block maps: the one walk over a manifest", () => {
  it("names every map in a fixed order", () => {
    expect(namedMaps(manifest).map((n) => n.part)).toEqual(["state", "memory", "vgaMemory", "disk:hda", "boot:bios", "boot:vgaBios", "boot:kernel"]);
  });

  it("refers to stored blocks only, with the raw length at that place", () => {
    const refs = [...blockRefs(manifest, (p) => p === "state" || p === "memory")];
    expect(refs).toEqual([
      { part: "state", index: 0, hash: h(1), size: 4096 },
      { part: "state", index: 1, hash: h(2), size: 904 },
      { part: "memory", index: 0, hash: h(3), size: 4096 },
    ]);
    expect(blockLength(manifest.state, 1)).toBe(904);
  });

  it("the hot set, unique blocks and the set of hashes", () => {
    expect([...hotRefs(manifest)].map((r) => r.index)).toEqual([2, 0]);
    expect(uniqueBlocks(blockRefs(manifest)).map((b) => b.hash)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map(h));
    expect(blockHashes(manifest).size).toBe(8);
    expect([...manifestBlocks(manifest)]).toEqual(uniqueBlocks(blockRefs(manifest)));
  });

  it("hot order: resume parts, then the recorded hot disk blocks, then the other disk blocks, then boot files", () => {
    expect(hotOrder(manifest).map((b) => b.hash)).toEqual([1, 2, 3, 6, 4, 5, 7, 8].map(h));
  });
});
