import { describe, expect, it } from "vitest";
import { describeMachine, mapBootFiles, minimumMemoryMiB, type DiskBase } from "../../src/snapshot/machine";

function base(slot: DiskBase["slot"], bytes: Uint8Array, blockSize: number, reads: number[] = []): DiskBase {
  return {
    slot,
    size: bytes.byteLength,
    blockSize,
    read: async (i) => (reads.push(i), bytes.slice(i * blockSize, (i + 1) * blockSize)),
  };
}

describe("describeMachine", () => {
  it("gives the engine the memory sizes and each disk's size and first sector, in order", async () => {
    const hda = Uint8Array.from({ length: 8192 }, (_, i) => i & 0xff);
    const hdb = new Uint8Array(4096).fill(7);
    const reads: number[] = [];
    const m = await describeMachine({ memoryBytes: 64 << 20, vgaMemoryBytes: 8 << 20 }, [base("hda", hda, 4096, reads), base("hdb", hdb, 1024)]);
    expect(m.spec).toEqual({
      memoryBytes: 64 << 20,
      vgaMemoryBytes: 8 << 20,
      disks: [
        { slot: "hda", size: 8192, head: hda.slice(0, 512) },
        { slot: "hdb", size: 4096, head: hdb.slice(0, 512) },
      ],
    });
    expect(reads).toEqual([0]);
    expect(Object.keys(m.disks)).toEqual(["hda", "hdb"]);
  });

  it("each disk is a copy-on-write overlay: writes show, the base is untouched", async () => {
    const hda = new Uint8Array(2048);
    const m = await describeMachine({ memoryBytes: 16 << 20, vgaMemoryBytes: 0 }, [base("hda", hda, 1024)]);
    await m.disks.hda!.write(1024, new Uint8Array(512).fill(9));
    expect((await m.disks.hda!.read(1024, 4))).toEqual(new Uint8Array([9, 9, 9, 9]));
    expect(hda.every((b) => b === 0)).toBe(true);
    // The head the engine was given is a copy, not a view of the overlay.
    await m.disks.hda!.write(0, new Uint8Array(512).fill(1));
    expect(m.spec.disks[0].head!.every((b) => b === 0)).toBe(true);
  });

  it("a machine with no disks", async () => {
    const m = await describeMachine({ memoryBytes: 32 << 20, vgaMemoryBytes: 2 << 20 }, []);
    expect(m).toEqual({ disks: {}, spec: { memoryBytes: 32 << 20, vgaMemoryBytes: 2 << 20, disks: [] } });
  });
});

describe("mapBootFiles", () => {
  it("reads each file in order, the initrd only when there is one, and keeps the command line", async () => {
    const order: string[] = [];
    const read = async (f: string) => (order.push(f), new TextEncoder().encode(f));
    const with_ = await mapBootFiles({ bios: "b", vgaBios: "v", kernel: "k", initrd: "i", cmdline: "console=ttyS0" }, read);
    expect(order).toEqual(["b", "v", "k", "i"]);
    expect(with_.cmdline).toBe("console=ttyS0");
    expect(new TextDecoder().decode(with_.initrd)).toBe("i");
    const without = await mapBootFiles({ bios: "b", vgaBios: "v", kernel: "k", cmdline: "" }, read);
    expect(without.initrd).toBeUndefined();
    expect(order).toEqual(["b", "v", "k", "i", "b", "v", "k"]);
  });

  it("a failing read rejects with its error", async () => {
    const err = new Error("no such file");
    await expect(mapBootFiles({ bios: "b", vgaBios: "v", kernel: "k", cmdline: "" }, async (f) => (f === "v" ? Promise.reject(err) : new Uint8Array()))).rejects.toBe(err);
  });
});

describe("minimumMemoryMiB", () => {
  it("is 16 without an initrd; with one, 64 MiB (where v86 loads it) plus its size plus 4", () => {
    expect(minimumMemoryMiB({})).toBe(16);
    expect(minimumMemoryMiB({ initrd: new Uint8Array(1) })).toBe(69);
    expect(minimumMemoryMiB({ initrd: new Uint8Array(3 << 20) })).toBe(71);
  });
});
