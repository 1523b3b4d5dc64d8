import type { BootFilesBytes, DiskSlot, MachineSpec } from "../engine/engine-protocol";
import { OverlayDisk, type BaseBlockReader } from "./overlay-disk";

/**
 * The machine a guest runs in, as capture (from a recipe's images) and the launch (from a
 * snapshot's blocks) both describe it: memory sizes, each disk a copy-on-write overlay over its
 * base blocks, and the spec the engine is created with. Boot files are read (and stored) the same way.
 */

export interface DiskBase {
  slot: DiskSlot;
  size: number;
  blockSize: number;
  /** The base's block `index`, whole (the last one may be short). */
  read: BaseBlockReader;
}

export interface MachineDescription {
  disks: Partial<Record<DiskSlot, OverlayDisk>>;
  spec: MachineSpec;
}

export async function describeMachine(memory: { memoryBytes: number; vgaMemoryBytes: number; nic?: "virtio" }, bases: DiskBase[]): Promise<MachineDescription> {
  const disks: Partial<Record<DiskSlot, OverlayDisk>> = {};
  for (const b of bases) disks[b.slot] = new OverlayDisk(b.size, b.blockSize, b.read);
  const spec: MachineSpec = {
    memoryBytes: memory.memoryBytes,
    vgaMemoryBytes: memory.vgaMemoryBytes,
    ...(memory.nic ? { nic: memory.nic } : {}),
    // v86 reads each disk's first sector while constructing (its geometry), before the host could answer.
    disks: await Promise.all(bases.map(async (b) => ({ slot: b.slot, size: b.size, head: (await disks[b.slot]!.read(0, 512)).slice() }))),
  };
  return { disks, spec };
}

/** The boot files as one thing each: a path, a block map, the bytes. */
export interface BootFilesOf<T> {
  bios: T;
  vgaBios: T;
  kernel: T;
  initrd?: T;
  cmdline: string;
}

/**
 * Turns each boot file into another form, one after the other in this order: read them (from
 * paths, from block maps) into BootFilesBytes, or store their bytes as block maps.
 */
export async function mapBootFiles<T, U>(from: BootFilesOf<T>, f: (file: T) => Promise<U>): Promise<BootFilesOf<U>> {
  return {
    bios: await f(from.bios),
    vgaBios: await f(from.vgaBios),
    kernel: await f(from.kernel),
    initrd: from.initrd ? await f(from.initrd) : undefined,
    cmdline: from.cmdline,
  };
}

/** v86 places the initrd at 64 MiB; a smaller machine crashes the engine while it loads. */
export function minimumMemoryMiB(boot: Pick<BootFilesBytes, "initrd">): number {
  return boot.initrd ? 64 + Math.ceil(boot.initrd.byteLength / 2 ** 20) + 4 : 16;
}
