import { parentPort, workerData } from "node:worker_threads";
import { V86 } from "v86";
import type { BootFilesBytes, DiskSlot, HostToWorker, ImageBlocks, ImagePresence, MachineSpec, PortForward, WorkerToHost } from "./engine-protocol";
import { VmsfxError, isVmsfxError } from "../errors";
import { createDiskProxy, type DiskProxies } from "./v86-disk";
import { captureState, changedBlocks, FRESH_DIRTY_LIMIT, guestMemoryView, svgaMemoryView, viewIsZero, writeBlocks, zeroAbsent } from "./v86-memory";
import { tapScreen, type ScreenTap } from "./v86-screen";
import { ByteQueue } from "./byte-queue";
import { GuestNetwork, nicOptions } from "./v86-network";
import { traceStop } from "./stop-trace";
import {
  checkV86Internals,
  cpuOf,
  ideDrives,
  isMemoryZeroed,
  onGuestReboot,
  restoreWithoutMemory,
  sendMouse as sendMouseEvents,
  serialPortOpen,
  serialUnread,
  tolerateMissingAgentPort,
  type V86Emulator,
  vgaOf,
} from "./v86-internals";

/**
 * The engine worker: the only code that drives v86 (what it reaches past v86's public API is in
 * v86-internals.ts). It owns one emulator, forwards serial bytes and disk requests to the host,
 * and turns guest power-off and reboot into exit messages.
 */

const port = parentPort!;
// Worker clocks start with the worker; report in the host's time base so marks line up.
const hostOrigin: number = (workerData as { hostTimeOrigin?: number } | null)?.hostTimeOrigin ?? performance.timeOrigin;
const marks: Record<string, number> = {};
const mark = (name: string) => (marks[name] = Math.round((performance.timeOrigin + performance.now() - hostOrigin) * 10) / 10);
mark("workerLoaded");

// v86 prints diagnostics (and whole objects) with console.log; the user's terminal belongs to the guest.
if (!process.env.VMSFX_DEBUG) {
  console.log = () => {};
  console.warn = () => {};
}
const post = (m: WorkerToHost, transfer: Transferable[] = []) => port.postMessage(m, transfer as never);

let emulator: V86Emulator;
let loaded = false;
let disks: DiskProxies;
let exited = false;
let network: GuestNetwork | undefined;

// Serial output arrives one byte per event; batch it per turn of the event loop.
let outBuf: number[] = [];
let flushScheduled = false;
function onSerialByte(b: number): void {
  outBuf.push(b);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushSerial);
  }
}
function flushSerial(): void {
  flushScheduled = false;
  if (outBuf.length === 0) return;
  const bytes = Uint8Array.from(outBuf);
  outBuf = [];
  post({ type: "serial", bytes }, [bytes.buffer]);
}

// The agent speaks in lines; each goes out whole, after the console bytes written before it, so
// an app's last output reaches the terminal before the launcher hears its exit status.
let agentLine: number[] = [];
function onAgentByte(b: number): void {
  agentLine.push(b);
  if (b !== 0x0a && agentLine.length < 4096) return;
  flushSerial();
  const bytes = Uint8Array.from(agentLine);
  agentLine = [];
  post({ type: "agent", bytes }, [bytes.buffer]);
}
// Host lines for the agent are short; they wait only until the guest runs.
const pendingAgentInput: number[] = [];
function queueAgentInput(bytes: Uint8Array): void {
  for (const b of bytes) pendingAgentInput.push(b);
  if (running) flushAgentInput();
}
function flushAgentInput(): void {
  if (pendingAgentInput.length > 0) emulator.serial_send_bytes(1, Uint8Array.from(pendingAgentInput.splice(0)));
}

// v86 queues input without limit but the guest's tty drops what overflows its buffers, so input
// is fed at the pace the guest reads it: topped up every millisecond while bytes wait (only
// then). v86 has no event for a guest read; topping up on each read through a hooked UART queue
// was tried and changed when an app's line editor saw typed-ahead bytes (the launcher's pacer
// then took sqlite's prompt for quiet, in app-sqlite's "input after the app quit" test).
const pendingInput = new ByteQueue();
const UART_LOW_WATER = 16;
const PUMP_MS = 1;
let inputTimer: NodeJS.Timeout | undefined;
let running = false;
function pumpInput(): void {
  // Input that arrives before the guest runs waits here; none is lost.
  if (running && pendingInput.length > 0) {
    const room = UART_LOW_WATER - serialUnread(cpuOf(emulator), "uart0");
    if (room > 0) emulator.serial_send_bytes(0, pendingInput.take(room));
  }
  if (pendingInput.length === 0 && inputTimer) {
    clearInterval(inputTimer);
    inputTimer = undefined;
  }
}
function queueInput(bytes: Uint8Array): void {
  pendingInput.push(bytes);
  pumpInput();
  if (pendingInput.length > 0) inputTimer ??= setInterval(pumpInput, PUMP_MS);
}

function signalExit(reason: "poweroff" | "reboot"): void {
  if (exited) return;
  exited = true;
  flushSerial();
  post({ type: "exit", reason });
}

async function create(module: WebAssembly.Module, machine: MachineSpec, boot?: BootFilesBytes): Promise<void> {
  disks = {};
  for (const d of machine.disks) disks[d.slot] = createDiskProxy(d.slot, d.size, d.head, post, () => (emulator ? ideDrives(cpuOf(emulator)) : []));
  const options: Record<string, unknown> = {
    wasm_fn: async (imports: WebAssembly.Imports) => (await WebAssembly.instantiate(module, imports)).exports,
    memory_size: machine.memoryBytes,
    vga_memory_size: machine.vgaMemoryBytes,
    // The device set must be identical at capture and resume: keep every option here, never vary it.
    acpi: false,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
    // ttyS1 (0x2f8, IRQ 3) carries the guest agent's line protocol (docs/guest-agent.md).
    uart1: true,
    autostart: !!boot,
    hda: disks.hda?.buffer,
    hdb: disks.hdb?.buffer,
    ...(machine.nic ? nicOptions() : {}),
  };
  if (boot) {
    options.bios = { buffer: copyOut(boot.bios) };
    options.vga_bios = { buffer: copyOut(boot.vgaBios) };
    options.bzimage = { buffer: copyOut(boot.kernel) };
    if (boot.initrd) options.initrd = { buffer: copyOut(boot.initrd) };
    options.cmdline = boot.cmdline;
  }
  mark("createReceived");
  const instance = new V86(options as never);
  await new Promise<void>((resolve) => instance.add_listener("emulator-loaded", () => resolve()));
  // Only now does emulator.v86 exist: blocks and presence maps that arrived earlier were held.
  checkV86Internals(instance, { disks: machine.disks.length, network: !!machine.nic });
  emulator = instance;
  if (machine.nic) network = GuestNetwork.of(instance);
  loaded = true;
  mark("v86Loaded");
  if (screenWanted) watchScreen();
  emulator.add_listener("serial0-output-byte", onSerialByte);
  emulator.add_listener("serial1-output-byte", onAgentByte);
  const cpu = cpuOf(emulator);
  tolerateMissingAgentPort(cpu);
  // Without ACPI, Linux powers off by halting with interrupts disabled; v86 reports exactly that.
  emulator.add_listener("cpu-event-halt", () => signalExit("poweroff"));
  onGuestReboot(cpu, () => signalExit("reboot"));
  for (const image of earlyImages.splice(0)) applyImage(image);
  mark("earlyBlocksWritten");
  clearAbsent();
  mark("absentCleared");
  post({ type: "created", marks });
  if (boot) {
    running = true;
    post({ type: "running" });
  }
}

function copyOut(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

// Blocks can arrive before the emulator exists (the host decodes while v86 starts); keep them until then.
const earlyImages: ImageBlocks[] = [];
// What each block held at resume. Kept (the arrays arrive transferred, so this costs no copy) so
// a suspend can tell which blocks the guest changed and save only those.
const baseline: Record<"ram" | "vga", Map<number, Uint8Array>> = { ram: new Map(), vga: new Map() };
function applyImage(image: ImageBlocks): void {
  if (!loaded) {
    earlyImages.push(image);
    return;
  }
  const cpu = cpuOf(emulator);
  writeBlocks(image.target === "ram" ? guestMemoryView(cpu) : svgaMemoryView(cpu), image);
  for (const b of image.blocks) for (const i of b.indices) baseline[image.target].set(i, b.data);
}

// Blocks the snapshot says are all zero must be zero in the emulator too; v86 leaves a byte or
// two in fresh memory. Done once both the emulator and the presence maps exist, while the host
// is still decoding, so it costs the resume nothing.
let presence: { ram: ImagePresence; vga: ImagePresence } | undefined;
function clearAbsent(): void {
  if (!loaded || !presence) return;
  const cpu = cpuOf(emulator);
  const svga = svgaMemoryView(cpu);
  zeroAbsent(svga, presence.vga, viewIsZero(svga), FRESH_DIRTY_LIMIT);
  zeroAbsent(guestMemoryView(cpu), presence.ram, (offset, length) => isMemoryZeroed(cpu, offset, length), FRESH_DIRTY_LIMIT);
}

async function restore(state: Uint8Array): Promise<void> {
  // The state carries no RAM pages: the verified blocks were written into RAM as they arrived
  // (VGA memory too, which restore_state leaves alone), and absent blocks were cleared by clearAbsent().
  await restoreWithoutMemory(emulator, copyOut(state));
  await emulator.run();
  running = true;
  // The agent's lines go first: the guest should be made current before it sees the user's input.
  flushAgentInput();
  pumpInput();
  // A process that opened ttyS1 raised DTR, and that bit is part of the saved state.
  post({ type: "running", agentListening: serialPortOpen(cpuOf(emulator), "uart1") });
}

async function stopQuiet(): Promise<void> {
  traceStop("begin");
  // The window stops with the guest: rendering a frame between stop and save would touch VGA state.
  screenTap?.stop();
  screenTap = undefined;
  // Connections do not survive a save: their host sockets are not part of the guest's state.
  network?.close();
  traceStop("network closed");
  // A disk request in flight or input not yet read by the guest is not part of v86's state.
  // An answered read may issue the next one, so wait until every disk is idle at the same time.
  const proxies = Object.values(disks ?? {}).filter((d) => d !== undefined);
  while (proxies.some((d) => d.pending() > 0)) {
    traceStop(`disks pending ${proxies.map((d) => d.pending()).join(",")}`);
    await Promise.all(proxies.map((d) => d.settled()));
  }
  await emulator.stop();
  traceStop("emulator stopped");
  flushSerial();
}

async function save(): Promise<void> {
  await stopQuiet();
  const { state, memory, vga } = await captureState(emulator);
  post({ type: "saved", state, memory, vga }, [state.buffer, memory, vga]);
}

async function suspend(ramBlockSize: number, vgaBlockSize: number): Promise<void> {
  await stopQuiet();
  const { state, memory, vga } = await captureState(emulator);
  const ram = changedBlocks(new Uint8Array(memory), ramBlockSize, baseline.ram);
  const vgaChanges = changedBlocks(new Uint8Array(vga), vgaBlockSize, baseline.vga);
  const transfer = [state.buffer, ...ram.map((c) => c.data.buffer), ...vgaChanges.map((c) => c.data.buffer)];
  post({ type: "suspended", state, ram, vga: vgaChanges }, transfer.filter((b, i, all) => b.byteLength > 0 && all.indexOf(b) === i) as ArrayBuffer[]);
}

// The browser window (`--gui`): the screen is reported, and PS/2 input taken, only once asked
// for. v86 always has the i8042 keyboard and mouse; its browser-side adapters are what
// `disable_keyboard`/`disable_mouse` leave out, so the codes go straight to the controller.
let screenWanted = false;
let screenTap: ScreenTap | undefined;
function watchScreen(): void {
  screenWanted = true;
  if (!loaded || screenTap) return;
  screenTap = tapScreen(vgaOf(emulator), (update) => {
    const transfer = update.mode === "text" ? [update.chars.buffer, update.fg.buffer, update.bg.buffer] : [update.rgba.buffer];
    post({ type: "screen", update }, transfer as ArrayBuffer[]);
  });
}
function sendKeys(codes: number[]): void {
  // Without a delay v86 sends every code before its promise first yields: the order is kept.
  if (running) void emulator.keyboard_send_scancodes(codes.map((c) => c & 0xff));
}
function sendMouse(m: Extract<HostToWorker, { type: "mouse" }>): void {
  if (running) sendMouseEvents(emulator, m);
}

port.on("message", (m: HostToWorker) => {
  const run = async () => {
    switch (m.type) {
      case "create":
        return create(m.module, m.machine, m.boot);
      case "image":
        return applyImage(m.image);
      case "presence":
        presence = { ram: m.ram, vga: m.vga };
        return clearAbsent();
      case "restore":
        return restore(m.state);
      case "input":
        return queueInput(m.bytes);
      case "agent-input":
        return queueAgentInput(m.bytes);
      case "disk-reply":
        return disks[findSlot(m.id)]?.reply(m.id, m.data, m.failed);
      case "save":
        return save();
      case "suspend":
        return suspend(m.ramBlockSize, m.vgaBlockSize);
      case "screen-watch":
        return watchScreen();
      case "keyboard":
        return sendKeys(m.codes);
      case "mouse":
        return sendMouse(m);
      case "forward":
        return forward(m.forwards);
      case "probe":
        return probe(m.id, m.port);
      case "outbound":
        return network?.setOutbound(m.allow);
      case "stop":
        traceStop("worker stop");
        clearInterval(inputTimer);
        network?.close();
        screenTap?.stop();
        await emulator?.destroy?.();
        traceStop("worker destroyed");
        post({ type: "stopped" });
        return;
    }
  };
  run().catch((e: unknown) => {
    // A coded error (the v86 self-check) keeps its code and message; anything else is a crash.
    if (isVmsfxError(e)) post({ type: "error", message: e.message, code: e.code });
    else post({ type: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  });
});

async function forward(forwards: PortForward[]): Promise<void> {
  if (!network) throw new VmsfxError("VMSFX_USAGE", "this guest has no network card, so no port can be forwarded to it. Build the app with \"ports\" in its spec.");
  post({ type: "forwarded", ...(await network.forward(forwards)) });
}

async function probe(id: number, guestPort: number): Promise<void> {
  post({ type: "probed", id, open: network ? await network.probe(guestPort) : false });
}

function findSlot(id: number): DiskSlot {
  for (const [slot, d] of Object.entries(disks)) if (d?.owns(id)) return slot as DiskSlot;
  return "hda";
}
