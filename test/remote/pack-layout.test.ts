import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { endsPack, locateBlocks, parsePackIndex, planPacks, serializePackIndex, PACK_INDEX_FORMAT, PACK_INDEX_VERSION } from "../../src/remote/pack-layout";
import { VmsfxError } from "../../src/errors";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const block = (seed: string, size = 1000) => Buffer.alloc(size, seed);
const limits = { minBytes: 10_000, maxBytes: 40_000, cutEvery: 4 };

async function packsOf(blocks: Buffer[]) {
  const byHash = new Map(blocks.map((b) => [sha(b), b]));
  return planPacks([...byHash.keys()].map((hash) => ({ hash })), async (h) => byHash.get(h)!, limits);
}

describe("pack layout", () => {
  it("packs are the blocks back to back; the index says where each is; digests are of the pack's bytes", async () => {
    const blocks = Array.from({ length: 120 }, (_, i) => block(`b${i}`, 700 + i));
    const packs = await packsOf(blocks);
    expect(packs.length).toBeGreaterThan(1);
    for (const p of packs) {
      expect(p.size).toBeLessThanOrEqual(limits.maxBytes + 1000);
      const bytes = Buffer.concat(p.blocks.map((b) => blocks.find((x) => sha(x) === b.hash)!));
      expect(p.digest).toBe(`sha256:${sha(bytes)}`);
      expect(p.size).toBe(bytes.length);
    }
    const index = { format: PACK_INDEX_FORMAT, version: PACK_INDEX_VERSION, manifestSha256: "0".repeat(64), packs } as const;
    const back = parsePackIndex(serializePackIndex(index), "test");
    expect(back).toEqual(index);
    const at = locateBlocks(back);
    expect(at.size).toBe(120);
  });

  it("a changed block changes only the packs around it: the others keep their digests (reuse on republish)", async () => {
    const v1 = Array.from({ length: 300 }, (_, i) => block(`v${i}`, 900));
    const v2 = [...v1];
    v2[150] = block("changed", 900);
    const [a, b] = [await packsOf(v1), await packsOf(v2)];
    const same = b.filter((p) => a.some((q) => q.digest === p.digest)).length;
    expect(same).toBeGreaterThanOrEqual(b.length - 2);
    expect(same).toBeLessThan(b.length);
  });

  it("a pack ends where the section ends (the resume state apart from the disks), however small", async () => {
    const blocks = Array.from({ length: 10 }, (_, i) => block(`s${i}`, 100));
    const packs = await planPacks(blocks.map((b, i) => ({ hash: sha(b), section: i < 3 ? 0 : 2 })), async (h) => blocks.find((b) => sha(b) === h)!, limits);
    expect(packs.map((p) => p.blocks.length)).toEqual([3, 7]);
  });

  it("a pack ends at the size cap whatever the hashes say, and never before the minimum", () => {
    expect(endsPack("00000000" + "0".repeat(56), 5_000, limits)).toBe(false);
    expect(endsPack("00000000" + "0".repeat(56), 10_000, limits)).toBe(true);
    expect(endsPack("00000001" + "0".repeat(56), 10_000, limits)).toBe(false);
    expect(endsPack("00000001" + "0".repeat(56), 40_000, limits)).toBe(true);
  });

  it.each([
    ["not JSON", "{"],
    ["another format", JSON.stringify({ format: "x", version: 1 })],
    ["a size that disagrees with its blocks", JSON.stringify({ format: PACK_INDEX_FORMAT, version: 1, manifestSha256: "0".repeat(64), packs: [{ digest: `sha256:${"1".repeat(64)}`, size: 5, blocks: [["2".repeat(64), 4]] }] })],
    ["a block that is not a hash", JSON.stringify({ format: PACK_INDEX_FORMAT, version: 1, manifestSha256: "0".repeat(64), packs: [{ digest: `sha256:${"1".repeat(64)}`, size: 4, blocks: [["../x", 4]] }] })],
  ])("refuses an index with %s (VMSFX_REGISTRY_NOT_VMSFX)", (_what, text) => {
    expect(() => parsePackIndex(Buffer.from(text), "oci://r/a:t")).toThrow(VmsfxError);
    try {
      parsePackIndex(Buffer.from(text), "oci://r/a:t");
    } catch (e) {
      expect((e as VmsfxError).code).toBe("VMSFX_REGISTRY_NOT_VMSFX");
    }
  });
});
