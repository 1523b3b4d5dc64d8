import { Worker } from "node:worker_threads";
import { VmsfxError, isVmsfxError, type ErrorCode } from "../errors";
import type { BootFilesBytes, DiskSlot, ExitReason, HostToWorker, ImageBlocks, ImagePresence, MachineSpec, WorkerToHost } from "./engine-protocol";
import type { BlockDevice } from "../snapshot/overlay-disk";
import type { ScreenUpdate } from "./engine-protocol";

/**
 * The launcher's handle on a guest: starts the engine worker, answers its disk requests from the
 * snapshot layer's block devices, and exposes serial I/O, save and stop. Nothing here knows v86.
 */

export interface GuestEvents {
  serial: (bytes: Uint8Array) => void;
  /** A line (or a 4 KiB piece of one) the guest agent wrote on its port. */
  agent: (bytes: Uint8Array) => void;
  exit: (reason: ExitReason) => void;
  /** What the VGA shows; only after watchScreen(). */
  screen: (update: ScreenUpdate) => void;
  /** The guest cannot go on (a disk block failed verification, the engine crashed). */
  fatal: (error: VmsfxError) => void;
  /** A disk read could not be served (a thin bundle's block could not be fetched); the guest got an I/O error. */
  "disk-error": (slot: DiskSlot, offset: number, error: VmsfxError) => void;
}

const RECOVERABLE_READ = new Set<ErrorCode>(["VMSFX_OFFLINE", "VMSFX_REMOTE_FAILED"]);

type Waiter = { type: WorkerToHost["type"]; resolve: (m: WorkerToHost) => void };

export class GuestHost {
  private readonly worker: Worker;
  private readonly waiters: Waiter[] = [];
  private readonly listeners: { [K in keyof GuestEvents]: GuestEvents[K][] } = { serial: [], agent: [], exit: [], fatal: [], screen: [], "disk-error": [] };
  private disks: Partial<Record<DiskSlot, BlockDevice>> = {};
  private pendingWrites = new Set<Promise<void>>();
  private failed: VmsfxError | undefined;
  private terminated = false;

  /** Spawning first and configuring later lets the worker load v86 while the caller reads blocks. */
  constructor(workerSource: { path: string } | { code: string }) {
    const workerData = { hostTimeOrigin: performance.timeOrigin };
    this.worker = "path" in workerSource ? new Worker(workerSource.path, { workerData }) : new Worker(workerSource.code, { eval: true, workerData });
    this.worker.on("message", (m: WorkerToHost) => this.onMessage(m));
    this.worker.on("error", (e) => this.fail(new VmsfxError("VMSFX_GUEST_FAILED", `the engine crashed: ${e.message}. Please report this with the bundle's \`vmsfx inspect\` output.`, { cause: e })));
    this.worker.on("exit", () => {
      if (!this.terminated) this.fail(new VmsfxError("VMSFX_GUEST_FAILED", "the engine stopped unexpectedly. Please report this."));
    });
  }

  on<K extends keyof GuestEvents>(event: K, fn: GuestEvents[K]): void {
    this.listeners[event].push(fn);
  }

  /** Resolves with the worker's start-up marks (ms since this process started). */
  async create(module: WebAssembly.Module, machine: MachineSpec, disks: Partial<Record<DiskSlot, BlockDevice>>, boot?: BootFilesBytes): Promise<Record<string, number>> {
    this.disks = disks;
    this.send({ type: "create", module, machine, boot });
    return ((await this.wait("created")) as Extract<WorkerToHost, { type: "created" }>).marks;
  }

  /** Streams verified RAM/VGA blocks to the engine; their buffers are transferred, not copied. */
  sendImage(image: ImageBlocks): void {
    this.worker.postMessage({ type: "image", image } satisfies HostToWorker, image.blocks.map((b) => b.data.buffer as ArrayBuffer));
  }

  /** Which RAM/VGA blocks hold data; everything else must read as zero after restore. */
  sendPresence(ram: ImagePresence, vga: ImagePresence): void {
    this.send({ type: "presence", ram, vga });
  }

  /** Resolves once the guest runs; says whether its agent was listening when it was saved. */
  async restore(state: Uint8Array): Promise<{ agentListening: boolean }> {
    this.send({ type: "restore", state });
    const m = (await this.wait("running")) as Extract<WorkerToHost, { type: "running" }>;
    return { agentListening: m.agentListening === true };
  }


  input(bytes: Uint8Array): void {
    if (!this.terminated) this.send({ type: "input", bytes });
  }

  /** Bytes for the guest agent's port. */
  agentInput(bytes: Uint8Array): void {
    if (!this.terminated) this.send({ type: "agent-input", bytes });
  }

  /** Reports the screen from now on (the browser window); costs nothing until called. */
  watchScreen(): void {
    if (!this.terminated) this.send({ type: "screen-watch" });
  }

  /** PS/2 scancodes, set 1. */
  keyboard(codes: number[]): void {
    if (!this.terminated) this.send({ type: "keyboard", codes });
  }

  mouse(event: { dx: number; dy: number; buttons?: [boolean, boolean, boolean]; wheel?: number }): void {
    if (!this.terminated) this.send({ type: "mouse", ...event });
  }

  /** Stops the guest and returns its state; every disk write it made has reached its device. */
  async save(): Promise<{ state: Uint8Array; memory: Uint8Array; vga: Uint8Array }> {
    this.send({ type: "save" });
    const m = (await this.wait("saved")) as Extract<WorkerToHost, { type: "saved" }>;
    await Promise.all([...this.pendingWrites]);
    if (this.failed) throw this.failed;
    return { state: m.state, memory: new Uint8Array(m.memory), vga: new Uint8Array(m.vga) };
  }

  /** Stops the guest; returns its device state and the RAM/VGA blocks changed since resume. */
  async suspend(ramBlockSize: number, vgaBlockSize: number): Promise<Extract<WorkerToHost, { type: "suspended" }>> {
    this.send({ type: "suspend", ramBlockSize, vgaBlockSize });
    const m = (await this.wait("suspended")) as Extract<WorkerToHost, { type: "suspended" }>;
    await Promise.all([...this.pendingWrites]);
    if (this.failed) throw this.failed;
    return m;
  }

  /** Waits until all guest disk writes received so far are applied to the overlays. */
  async flushDisks(): Promise<void> {
    await Promise.all([...this.pendingWrites]);
  }

  async stop(): Promise<void> {
    if (this.terminated) return;
    this.terminated = true;
    await this.worker.terminate();
  }

  private send(m: HostToWorker): void {
    const transfer: Transferable[] = [];
    this.worker.postMessage(m, transfer as never);
  }

  private wait(type: WorkerToHost["type"]): Promise<WorkerToHost> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const onFatal = (e: VmsfxError) => reject(e);
      this.waiters.push({
        type,
        resolve: (m) => {
          this.listeners.fatal = this.listeners.fatal.filter((f) => f !== onFatal);
          resolve(m);
        },
      });
      this.on("fatal", onFatal);
    });
  }

  private fail(e: VmsfxError): void {
    if (this.failed || this.terminated) return;
    this.failed = e;
    for (const fn of this.listeners.fatal) fn(e);
  }

  private onMessage(m: WorkerToHost): void {
    switch (m.type) {
      case "serial":
        for (const fn of this.listeners.serial) fn(m.bytes);
        return;
      case "agent":
        for (const fn of this.listeners.agent) fn(m.bytes);
        return;
      case "exit":
        for (const fn of this.listeners.exit) fn(m.reason);
        return;
      case "screen":
        for (const fn of this.listeners.screen) fn(m.update);
        return;
      case "disk-read":
        this.diskRead(m.id, m.slot, m.offset, m.length);
        return;
      case "disk-write":
        this.diskWrite(m.slot, m.offset, m.data);
        return;
      case "error":
        this.fail(new VmsfxError("VMSFX_GUEST_FAILED", `the engine failed: ${m.message.split("\n")[0]}. Please report this.`));
        return;
    }
    const i = this.waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(m);
  }

  private diskRead(id: number, slot: DiskSlot, offset: number, length: number): void {
    const dev = this.disks[slot];
    if (!dev) return this.fail(new VmsfxError("VMSFX_GUEST_FAILED", `the guest read from disk ${slot}, which this machine does not have.`));
    dev.read(offset, length).then(
      (data) => this.terminated || this.worker.postMessage({ type: "disk-reply", id, data } satisfies HostToWorker, [data.buffer as ArrayBuffer]),
      (e) => {
        // A block that is missing (offline, a server without it) is the guest's I/O error, as a
        // bad sector would be; anything else (a block that fails verification) stops the guest.
        if (isVmsfxError(e) && RECOVERABLE_READ.has(e.code) && !this.terminated) {
          this.worker.postMessage({ type: "disk-reply", id, data: new Uint8Array(length), failed: true } satisfies HostToWorker);
          for (const fn of this.listeners["disk-error"]) fn(slot, offset, e);
          return;
        }
        this.fail(isVmsfxError(e) ? e : new VmsfxError("VMSFX_GUEST_FAILED", `disk ${slot} read failed: ${(e as Error).message}`));
      },
    );
  }

  private diskWrite(slot: DiskSlot, offset: number, data: Uint8Array): void {
    const dev = this.disks[slot];
    if (!dev) return;
    const p = dev.write(offset, data).catch((e) => this.fail(isVmsfxError(e) ? e : new VmsfxError("VMSFX_GUEST_FAILED", `disk ${slot} write failed: ${(e as Error).message}`)));
    this.pendingWrites.add(p);
    void p.finally(() => this.pendingWrites.delete(p));
  }
}
