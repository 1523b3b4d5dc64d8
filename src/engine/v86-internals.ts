import { VmsfxError } from "../errors";
import { VGA_STATE_PIXEL_BUFFER, VGA_STATE_SVGA_MEMORY, VGA_TOUCHPOINTS, type V86Vga } from "./v86-vga-internals";
import { networkMissing } from "./v86-network";

/**
 * Every place vmsfx reaches past v86's public API (the V86 methods and bus events of
 * src/browser/starter.js), typed, here and in v86-vga-internals.ts (the screen); no other file
 * reaches them (test/architecture/v86-facade.test.ts). Each is here because no public call does
 * the job; the reason is next to it. All were read in v86 0.5.462's sources. checkV86Internals() runs
 * when the engine starts and fails loudly, naming each one, when a new v86 moved any of them:
 * a silent change here would corrupt saved guests rather than crash.
 */

/** The public API of a V86 instance that the engine uses (starter.js). */
export interface V86Public {
  add_listener(event: string, fn: (value: never) => void): void;
  remove_listener(event: string, fn: (value: never) => void): void;
  run(): Promise<void>;
  stop(): Promise<void>;
  destroy?(): Promise<void>;
  save_state(): Promise<ArrayBuffer>;
  restore_state(state: ArrayBuffer): Promise<void>;
  keyboard_send_scancodes(codes: number[]): Promise<void>;
  serial_send_bytes(serial: number, data: Uint8Array): void;
  /** v86's event bus; public (the browser adapters use it), but mouse input has no method. */
  bus: { send(event: string, value?: unknown): void };
}

/** A V86 instance with its private emulator core (`emulator.v86`). */
export interface V86Emulator extends V86Public {
  v86: { cpu: V86Cpu };
}

export interface V86Cpu {
  wasm_memory: WebAssembly.Memory;
  /** A view whose byteOffset is where guest RAM starts in the wasm memory. */
  mem8: Uint8Array;
  /** memory_size[0]: guest RAM in bytes. */
  memory_size: ArrayLike<number>;
  /** 1 or 0: a wasm export. */
  is_memory_zeroed(offset: number, length: number): number;
  /** restore_state copies RAM pages out of the state with it. */
  unpack_memory(...args: unknown[]): void;
  /** save_state packs RAM pages into the state with it. */
  pack_memory(): unknown;
  /** What a guest's reboot request runs (there is no bus event for it). */
  reboot_internal(): unknown;
  devices: { vga: V86Vga; uart0: V86Uart; uart1?: V86Uart; ide?: Record<string, { master?: IdeDrive; slave?: IdeDrive } | undefined> };
}

export interface V86Uart {
  /** Bytes the guest has not read yet; the read of the data register shifts them out. */
  input: number[];
  /** Bit 0 is DTR, raised by a process that opened the port; saved with the state. */
  modem_control: number;
  set_state(state: unknown): void;
}

/** An IDE drive (v86's IDEInterface) as far as reporting a failed read needs it. */
export interface IdeDrive {
  buffer: unknown;
  status_reg: number;
  error_reg: number;
}

/**
 * The shape an accessor's touchpoints must have: `present` names properties that must exist
 * (their value may be null), the others their type.
 */
export interface Touchpoints {
  present?: readonly string[];
  functions?: readonly string[];
  numbers?: readonly string[];
  booleans?: readonly string[];
  arrays?: readonly string[];
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Loose = any;

/** What the self-check has reached: `cpu` and its devices exist, `vga` may not. */
interface Reached {
  emulator: Loose;
  cpu: Loose;
  vga: Loose;
  disks: number;
}

const PORTS = ["uart0", "uart1"] as const;

/**
 * What each accessor below reaches, checked by checkV86Internals; an accessor added here adds
 * its line (test/engine/v86-internals.test.ts fails otherwise). The VGA's are in v86-vga-internals.ts.
 */
const TOUCHPOINTS: Record<string, (at: Reached) => string[]> = {
  cpuOf: ({ cpu }) => (cpu ? [] : ["emulator.v86.cpu is missing"]),
  vgaOf: ({ vga }) => (vga ? [] : ["cpu.devices.vga is missing"]),
  guestMemoryView: ({ cpu }) => memoryMissing(cpu),
  svgaMemoryView: ({ cpu, vga }) => [...memoryMissing(cpu), ...(vga ? svgaMissing(vga) : [])],
  isMemoryZeroed: ({ cpu }) => shapeMissing(cpu, "cpu", { functions: ["is_memory_zeroed"] }),
  restoreWithoutMemory: ({ cpu }) => shapeMissing(cpu, "cpu", { functions: ["unpack_memory"] }),
  saveWithoutBuffers: ({ cpu, vga }) => [...shapeMissing(cpu, "cpu", { functions: ["pack_memory"] }), ...(vga ? vgaStateMissing(vga) : [])],
  tolerateMissingAgentPort: ({ cpu }) => uartsMissing(cpu, { functions: ["set_state"] }),
  onGuestReboot: ({ cpu }) => shapeMissing(cpu, "cpu", { functions: ["reboot_internal"] }),
  serialPortOpen: ({ cpu }) => uartsMissing(cpu, { numbers: ["modem_control"] }),
  serialUnread: ({ cpu }) => uartsMissing(cpu, { arrays: ["input"] }),
  ideDrives: ({ cpu, disks }) => (disks > 0 ? ideMissing(cpu) : []),
  sendMouse: ({ emulator }) => (typeof emulator?.bus?.send === "function" ? [] : ["emulator.bus.send is not a function"]),
};

/** Every accessor the self-check covers, by name. */
export const CHECKED_ACCESSORS: readonly string[] = [...Object.keys(TOUCHPOINTS), ...Object.keys(VGA_TOUCHPOINTS)];

const PUBLIC_FUNCTIONS = ["add_listener", "remove_listener", "run", "stop", "save_state", "restore_state", "keyboard_send_scancodes", "serial_send_bytes"];

/**
 * Throws VMSFX_GUEST_FAILED naming every touchpoint a new v86 moved. `disks`: how many IDE disks
 * the machine was given (the drive's registers are checked only when there is one).
 */
export function checkV86Internals(emulator: unknown, machine: { disks: number; network?: boolean } = { disks: 0 }): asserts emulator is V86Emulator {
  const missing = [...findMissing(emulator as Loose, machine.disks), ...(machine.network ? networkMissing(emulator) : [])];
  if (missing.length === 0) return;
  throw new VmsfxError(
    "VMSFX_GUEST_FAILED",
    `this vmsfx's v86 engine is not the one its code was written for (checked against v86 0.5.462): ${missing.join("; ")}. Pin v86 back or update src/engine/v86-internals.ts and v86-vga-internals.ts. Please report this.`,
  );
}

function findMissing(emulator: Loose, disks: number): string[] {
  const out = shapeMissing(emulator, "emulator", { functions: PUBLIC_FUNCTIONS });
  if (typeof emulator?.bus?.send !== "function") out.push("emulator.bus.send is not a function");
  const cpu = emulator?.v86?.cpu;
  if (!cpu) return [...out, "emulator.v86.cpu is missing"];
  if (!cpu.devices) return [...out, "cpu.devices is missing"];
  const at: Reached = { emulator, cpu, vga: cpu.devices.vga, disks };
  for (const check of Object.values(TOUCHPOINTS)) out.push(...check(at));
  if (at.vga) for (const shape of Object.values(VGA_TOUCHPOINTS)) out.push(...shapeMissing(at.vga, "vga", shape));
  // Accessors share touchpoints: each is named once.
  return [...new Set(out)];
}

function shapeMissing(obj: Loose, where: string, shape: Touchpoints): string[] {
  const out: string[] = [];
  for (const n of shape.present ?? []) if (!(typeof obj === "object" && obj !== null && n in obj)) out.push(`${where}.${n} is missing`);
  for (const n of shape.functions ?? []) if (typeof obj?.[n] !== "function") out.push(`${where}.${n} is not a function`);
  for (const n of shape.numbers ?? []) if (typeof obj?.[n] !== "number") out.push(`${where}.${n} is not a number`);
  for (const n of shape.booleans ?? []) if (typeof obj?.[n] !== "boolean") out.push(`${where}.${n} is not a boolean`);
  for (const n of shape.arrays ?? []) if (!Array.isArray(obj?.[n])) out.push(`${where}.${n} is not an array`);
  return out;
}

function memoryMissing(cpu: Loose): string[] {
  const out: string[] = [];
  if (!(cpu.wasm_memory?.buffer instanceof ArrayBuffer)) out.push("cpu.wasm_memory.buffer is not an ArrayBuffer");
  if (typeof cpu.mem8?.byteOffset !== "number") out.push("cpu.mem8.byteOffset is missing");
  if (typeof cpu.memory_size?.[0] !== "number") out.push("cpu.memory_size[0] is not a number");
  return out;
}

// v86's memory views are Proxies over the wasm memory, not typed arrays: check their shape.
function svgaMissing(vga: Loose): string[] {
  const svga = vga.svga_memory;
  return typeof svga?.byteOffset !== "number" || typeof svga?.length !== "number" ? ["vga.svga_memory has no byteOffset/length"] : [];
}

function vgaStateMissing(vga: Loose): string[] {
  const out = shapeMissing(vga, "vga", { functions: ["get_state"] });
  if (typeof vga.get_state === "function" && vga.svga_memory && vga.get_state()?.[VGA_STATE_SVGA_MEMORY] !== vga.svga_memory) {
    out.push(`vga.get_state()[${VGA_STATE_SVGA_MEMORY}] is not the SVGA memory`);
  }
  return out;
}

function uartsMissing(cpu: Loose, shape: Touchpoints): string[] {
  return PORTS.flatMap((p) => (cpu.devices[p] ? shapeMissing(cpu.devices[p], `cpu.devices.${p}`, shape) : [`cpu.devices.${p} is missing`]));
}

function ideMissing(cpu: Loose): string[] {
  const drives = ideDrives(cpu);
  const out = drives.length === 0 ? ["cpu.devices.ide.primary.master is missing"] : [];
  for (const d of drives) if (typeof d.status_reg !== "number" || typeof d.error_reg !== "number") out.push("an IDE drive has no status_reg/error_reg");
  return out;
}

/** The emulator's core: only the accessors here take it apart. */
export function cpuOf(emulator: V86Emulator): V86Cpu {
  return emulator.v86.cpu;
}

export function vgaOf(emulator: V86Emulator): V86Vga {
  return emulator.v86.cpu.devices.vga;
}

/** v86's own scan of guest RAM (in wasm, word-wise); `offset` is from the start of RAM. */
export function isMemoryZeroed(cpu: V86Cpu, offset: number, length: number): boolean {
  return !!cpu.is_memory_zeroed(offset, length);
}

/** Guest RAM, viewed once: v86's own views build a new typed array on every access. */
export function guestMemoryView(cpu: V86Cpu): Uint8Array {
  return new Uint8Array(cpu.wasm_memory.buffer, cpu.mem8.byteOffset, cpu.memory_size[0]);
}

export function svgaMemoryView(cpu: V86Cpu): Uint8Array {
  const svga = cpu.devices.vga.svga_memory;
  return new Uint8Array(cpu.wasm_memory.buffer, svga.byteOffset, svga.length);
}

/**
 * restore_state without its RAM step: v86 would zero all of RAM and copy pages out of the state,
 * but our states carry none (the verified blocks are already in RAM). No option skips it.
 */
export async function restoreWithoutMemory(emulator: V86Emulator, state: ArrayBuffer): Promise<void> {
  const cpu = cpuOf(emulator);
  const original = cpu.unpack_memory;
  cpu.unpack_memory = function () {};
  try {
    await emulator.restore_state(state);
  } finally {
    cpu.unpack_memory = original;
  }
}

/**
 * save_state without RAM pages, SVGA memory and the pixel buffer (~50 MB down to well under
 * 1 MB); the caller copies RAM and VGA memory out itself. No option leaves them out.
 */
export async function saveWithoutBuffers(emulator: V86Emulator): Promise<ArrayBuffer> {
  const cpu = cpuOf(emulator);
  const vga = cpu.devices.vga;
  const packMemory = cpu.pack_memory;
  const vgaGetState = vga.get_state;
  cpu.pack_memory = () => ({ bitmap: { get_buffer: () => new ArrayBuffer(0) }, packed_memory: new Uint8Array(0) });
  vga.get_state = function (this: V86Vga) {
    const s = vgaGetState.call(this);
    s[VGA_STATE_SVGA_MEMORY] = new Uint8Array(0);
    s[VGA_STATE_PIXEL_BUFFER] = 0;
    return s;
  };
  try {
    return await emulator.save_state();
  } finally {
    cpu.pack_memory = packMemory;
    vga.get_state = vgaGetState;
  }
}

/** A state saved before the agent port existed has no entry for it; v86 would throw restoring it. */
export function tolerateMissingAgentPort(cpu: V86Cpu): void {
  const uart = cpu.devices.uart1;
  if (!uart) return;
  const setState = uart.set_state;
  uart.set_state = function (this: V86Uart, s: unknown) {
    if (s) setState.call(this, s);
  };
}

/** Runs `fn` when the guest asks to reboot: v86 announces power-off (halt) on its bus, not reboot. */
export function onGuestReboot(cpu: V86Cpu, fn: () => void): void {
  const reboot = cpu.reboot_internal;
  cpu.reboot_internal = function (this: V86Cpu) {
    fn();
    return reboot.call(this);
  };
}

/** Whether a guest process holds the serial port open (DTR up); v86 only announces changes of it. */
export function serialPortOpen(cpu: V86Cpu, port: "uart0" | "uart1"): boolean {
  return ((cpu.devices[port]?.modem_control ?? 0) & 1) === 1;
}

/** Bytes on the port the guest has not read yet. */
export function serialUnread(cpu: V86Cpu, port: "uart0" | "uart1"): number {
  return cpu.devices[port]?.input.length ?? 0;
}

/** The IDE drives of a running v86 (IDEController/IDEChannel). */
export function ideDrives(cpu: Pick<V86Cpu, "devices"> | undefined): IdeDrive[] {
  const ide = cpu?.devices?.ide;
  if (!ide) return [];
  return [ide.primary, ide.secondary].flatMap((ch) => [ch?.master, ch?.slave]).filter((d): d is IdeDrive => !!d);
}

/** Mouse input: the bus events v86's own browser mouse adapter sends; there is no method for them. */
export function sendMouse(emulator: V86Public, m: { dx: number; dy: number; buttons?: [boolean, boolean, boolean]; wheel?: number }): void {
  // v86 takes motion with y up, and a wheel step up as positive.
  if (m.dx || m.dy) emulator.bus.send("mouse-delta", [m.dx, -m.dy]);
  if (m.buttons) emulator.bus.send("mouse-click", m.buttons);
  if (m.wheel) emulator.bus.send("mouse-wheel", [-Math.sign(m.wheel), 0]);
}
