import type { ErrorCode } from "../errors";

/**
 * Messages between the launcher (main thread) and the engine worker that runs v86. v86 lives in a
 * worker so block decoding, verification, disk reads and terminal I/O on the main thread overlap
 * with the emulator's own start-up, and stay responsive while the guest runs.
 */

export type DiskSlot = "hda" | "hdb";

export interface MachineSpec {
  memoryBytes: number;
  vgaMemoryBytes: number;
  /** `head` is the disk's first sector: v86 reads it while constructing (geometry), before the host could answer. */
  disks: { slot: DiskSlot; size: number; head?: Uint8Array }[];
  /** A virtio network card, wired to the engine's own user-mode network (v86-network.ts). */
  nic?: "virtio";
}

/** A guest TCP port served on the host: connections to `address:host` become connections to the guest's `guest`. */
export interface PortForward {
  host: number;
  guest: number;
  /** The host address to listen on; 127.0.0.1 unless the user asked for another. */
  address: string;
}

/** Why a forward could not listen: the port is taken, or the system refused it (a low port without privilege). */
export type ForwardFailure = { forward: PortForward; reason: "in-use" | "denied" | "unavailable"; message: string };

export interface BootFilesBytes {
  bios: Uint8Array;
  vgaBios: Uint8Array;
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
}

export type ImageTarget = "ram" | "vga";

/** Verified blocks of RAM or VGA memory, streamed to the worker as they are decoded (transferred, not copied). */
export interface ImageBlocks {
  target: ImageTarget;
  blockSize: number;
  /** Each decoded block with every block index it stands at (deduplicated blocks stand at several). */
  blocks: { indices: number[]; data: Uint8Array }[];
}

/** 1 where a block was (or will be) streamed; 0 where it is all zeros. */
export interface ImagePresence {
  blockSize: number;
  present: Uint8Array;
}

/** A block that differs from what the guest was resumed with; `data` empty means it is now all zero. */
export interface BlockChange {
  index: number;
  data: Uint8Array;
}

/**
 * What the guest's VGA shows, for the browser window. Text mode: the whole grid (4000 cells is
 * less than one graphics row band) with 0xRRGGBB colours. Graphics: the rows that changed, RGBA.
 */
export type ScreenUpdate =
  | { mode: "text"; cols: number; rows: number; chars: Uint8Array; fg: Uint32Array; bg: Uint32Array; cursor: { row: number; col: number; visible: boolean } }
  | { mode: "graphical"; width: number; height: number; y: number; rgba: Uint8Array };

export type HostToWorker =
  | { type: "create"; module: WebAssembly.Module; machine: MachineSpec; boot?: BootFilesBytes }
  | { type: "image"; image: ImageBlocks }
  /** Sent as soon as the manifest is read, so the worker clears stale blocks while the host decodes. */
  | { type: "presence"; ram: ImagePresence; vga: ImagePresence }
  | { type: "restore"; state: Uint8Array }
  | { type: "input"; bytes: Uint8Array }
  /** Bytes for the guest agent's port (the second serial port, ttyS1); see docs/guest-agent.md. */
  | { type: "agent-input"; bytes: Uint8Array }
  /** `failed`: the block could not be had (a thin bundle offline); the guest gets an I/O error, `data` is zeros. */
  | { type: "disk-reply"; id: number; data: Uint8Array; failed?: boolean }
  /** Stop the guest and return its whole state (capture). */
  | { type: "save" }
  /** Stop the guest and return its device state plus the RAM/VGA blocks that differ from what was restored. */
  | { type: "suspend"; ramBlockSize: number; vgaBlockSize: number }
  | { type: "stop" }
  /** Start reporting the screen (`--gui`); until then the VGA draws into nothing, as it always did. */
  | { type: "screen-watch" }
  /** PS/2 keyboard scancodes (set 1, as the guest's i8042 would receive them). */
  | { type: "keyboard"; codes: number[] }
  /** PS/2 mouse: relative motion (dy positive is down), buttons held, wheel steps (positive is down). */
  | { type: "mouse"; dx: number; dy: number; buttons?: [boolean, boolean, boolean]; wheel?: number }
  /** Listen on these host ports and carry each connection into the guest (a guest with a NIC only). */
  | { type: "forward"; forwards: PortForward[] }
  /** Whether the guest accepts TCP connections on `port` (it answers a SYN with SYN+ACK). */
  | { type: "probe"; id: number; port: number }
  /** Where the guest may connect: every list must allow it (outbound-rules.ts); never sent: nowhere. */
  | { type: "outbound"; allow: string[][] };

export type ExitReason = "poweroff" | "reboot";

export type WorkerToHost =
  /** `marks`: when each start-up step finished, in ms since the host process started. */
  | { type: "created"; marks: Record<string, number> }
  /** `agentListening`: the guest agent holds its port open (DTR up), so it will answer `fresh`. */
  | { type: "running"; agentListening?: boolean }
  | { type: "serial"; bytes: Uint8Array }
  /** Bytes the guest agent wrote to ttyS1; console bytes written before them were posted first. */
  | { type: "agent"; bytes: Uint8Array }
  | { type: "disk-read"; id: number; slot: DiskSlot; offset: number; length: number }
  | { type: "disk-write"; slot: DiskSlot; offset: number; data: Uint8Array }
  | { type: "exit"; reason: ExitReason }
  | { type: "saved"; state: Uint8Array; memory: ArrayBuffer; vga: ArrayBuffer }
  | { type: "suspended"; state: Uint8Array; ram: BlockChange[]; vga: BlockChange[] }
  | { type: "stopped" }
  | { type: "screen"; update: ScreenUpdate }
  /** Every forward listens (`bound` gives the port the system chose for a `host` of 0), or the first that could not. */
  | { type: "forwarded"; bound: PortForward[]; failure?: ForwardFailure }
  | { type: "probed"; id: number; open: boolean }
  /** `code`: the worker failed with a VmsfxError (its message is the user's); else a crash. */
  | { type: "error"; message: string; code?: ErrorCode };
