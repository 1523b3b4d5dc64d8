import { describe, expect, it } from "vitest";
import { OverlayDisk } from "../../src/snapshot/overlay-disk";
import { VmsfxError } from "../../src/errors";

/** The copy-on-write disk, and what it does when a base block cannot be read (a thin bundle offline). */

const BS = 4096;
const SIZE = 4 * BS;
const baseByte = (index: number) => 0x10 + index;

/** A base whose blocks can be switched off, as a thin bundle's are when their fetch fails. */
function base() {
  const down = new Set<number>();
  const reads: number[] = [];
  const read = async (index: number) => {
    reads.push(index);
    if (down.has(index)) throw new VmsfxError("VMSFX_OFFLINE", `block ${index} is not here`);
    return new Uint8Array(BS).fill(baseByte(index));
  };
  return { down, reads, read };
}

describe("OverlayDisk", () => {
  it("reads the base, keeps writes in whole-block copies and never changes the base", async () => {
    const b = base();
    const disk = new OverlayDisk(SIZE, BS, b.read);
    await disk.write(BS + 10, new Uint8Array([1, 2, 3]));
    expect([...(await disk.read(BS + 8, 6))]).toEqual([0x11, 0x11, 1, 2, 3, 0x11]);
    expect([...disk.dirty.keys()]).toEqual([1]);
    expect((await disk.baseBlock(1))[10]).toBe(0x11);
  });

  it("keeps a sector-aligned write into a block whose base cannot be read, and completes it when the base comes back", async () => {
    const b = base();
    b.down.add(2);
    const disk = new OverlayDisk(SIZE, BS, b.read);
    const sector = new Uint8Array(512).fill(0xaa);
    await disk.write(2 * BS + 512, sector);
    expect(disk.partialBlocks).toBe(1);
    expect(disk.dirty.size).toBe(0);
    // What the guest wrote reads back without the base; the rest of the block is an error.
    expect((await disk.read(2 * BS + 512, 512)).every((x) => x === 0xaa)).toBe(true);
    await expect(disk.read(2 * BS, 1024)).rejects.toMatchObject({ code: "VMSFX_OFFLINE" });
    await expect(disk.completePartial()).rejects.toMatchObject({ code: "VMSFX_OFFLINE" });
    expect(disk.partialBlocks).toBe(1);
    b.down.delete(2);
    await disk.completePartial();
    expect(disk.partialBlocks).toBe(0);
    const whole = disk.dirty.get(2)!;
    expect(whole[0]).toBe(0x12);
    expect(whole[512]).toBe(0xaa);
    expect(whole[1024]).toBe(0x12);
  });

  it("a partly written block becomes whole without the base once every sector was written", async () => {
    const b = base();
    b.down.add(3);
    const disk = new OverlayDisk(SIZE, BS, b.read);
    await disk.write(3 * BS, new Uint8Array(BS / 2).fill(1));
    await disk.write(3 * BS + BS / 2, new Uint8Array(BS / 2).fill(2));
    expect(disk.partialBlocks).toBe(0);
    expect([...(await disk.read(3 * BS + BS / 2 - 1, 2))]).toEqual([1, 2]);
  });

  it("a write that is not sector-aligned into an unreadable block fails with the base's error", async () => {
    const b = base();
    b.down.add(1);
    const disk = new OverlayDisk(SIZE, BS, b.read);
    await expect(disk.write(BS + 3, new Uint8Array(2))).rejects.toMatchObject({ code: "VMSFX_OFFLINE" });
    expect(disk.partialBlocks).toBe(0);
  });

  it("rejects access outside the disk", async () => {
    const disk = new OverlayDisk(SIZE, BS, base().read);
    await expect(disk.read(SIZE - 1, 2)).rejects.toBeInstanceOf(RangeError);
  });
});
