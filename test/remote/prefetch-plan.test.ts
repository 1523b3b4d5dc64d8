import { describe, expect, it } from "vitest";
import { blocksNeededBeforeRun } from "../../src/remote/prefetch-plan";
import { blockLength, type Manifest } from "../../src/snapshot/manifest";
import { makeSyntheticSnapshot } from "../helpers/synthetic-snapshot";

/** What a thin launch fetches before the guest runs. */

const hashes = (list: { hash: string }[]) => new Set(list.map((b) => b.hash));
const present = (blocks: (string | null)[]) => new Set(blocks.filter((h): h is string => !!h));

describe("blocksNeededBeforeRun", () => {
  it("a resume needs the device state, all of RAM and VGA, each disk's first block and the hot set, each once", async () => {
    const { manifest } = await makeSyntheticSnapshot();
    const disk = manifest.disks[0]!.map;
    const m: Manifest = { ...manifest, hot: [{ slot: "hda", blocks: [disk.blocks.length - 1] }] };
    const plan = blocksNeededBeforeRun(m, false, new Set());
    const want = new Set([...present(m.state.blocks), ...present(m.memory.blocks), ...present(m.vgaMemory.blocks), disk.blocks[0]!, disk.blocks[disk.blocks.length - 1]!]);
    expect(hashes(plan)).toEqual(want);
    expect(plan).toHaveLength(want.size); // a block that stands at several places is fetched once
    const last = plan.find((b) => b.hash === disk.blocks[disk.blocks.length - 1]);
    expect(last!.size).toBe(blockLength(disk, disk.blocks.length - 1)); // the partial last block's real size
  });

  it("leaves out what the state folder already holds, and the hot set on a cold boot", async () => {
    const { manifest } = await makeSyntheticSnapshot();
    const local = present(manifest.memory.blocks);
    const m: Manifest = { ...manifest, hot: [{ slot: "hda", blocks: [1] }] };
    expect([...hashes(blocksNeededBeforeRun(m, false, local))].some((h) => local.has(h))).toBe(false);
    // A cold boot needs the firmware and kernel, not RAM, and no hot set.
    const boot = { bios: manifest.state, vgaBios: manifest.state, kernel: manifest.vgaMemory, cmdline: "" };
    const cold = hashes(blocksNeededBeforeRun({ ...m, boot }, true, new Set()));
    expect(cold.has(manifest.disks[0]!.map.blocks[1]!)).toBe(false);
    expect([...present(manifest.memory.blocks)].some((h) => cold.has(h))).toBe(false);
    expect(cold).toEqual(new Set([...present(manifest.state.blocks), ...present(manifest.vgaMemory.blocks), manifest.disks[0]!.map.blocks[0]!]));
  });
});
