import { traceStop } from "./stop-trace";
import { EventEmitter } from "node:events";
import { Worker } from "node:worker_threads";
import { VmsfxError, hasTrait, isVmsfxError } from "../errors";
import type { BootFilesBytes, DiskSlot, ExitReason, ForwardFailure, HostToWorker, ImageBlocks, ImagePresence, MachineSpec, PortForward, WorkerToHost } from "./engine-protocol";
import type { BlockDevice } from "./engine-types";
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

type Waiter = { type: WorkerToHost["type"]; resolve: (m: WorkerToHost) => void };
type GuestEvent = keyof GuestEvents;

const TERMINATE_WAIT_MS = 5000;

export class GuestHost {
  private readonly worker: Worker;
  private readonly waiters: Waiter[] = [];
  // Node's EventEmitter, typed through on/off/once below (none of our events is named "error").
  private readonly events = new EventEmitter();
  private disks: Partial<Record<DiskSlot, BlockDevice>> = {};
  private pendingWrites = new Set<Promise<void>>();
  private failed: VmsfxError | undefined;
  private terminated = false;
  private readonly probes = new Map<number, (open: boolean) => void>();
  private probeId = 0;

  /** Spawning first and configuring later lets the worker load v86 while the caller reads blocks. */
  constructor(workerSource: { path: string } | { code: string }) {
    // Several front-ends listen to the console at once; a warning would land on the user's terminal.
    this.events.setMaxListeners(100);
    const workerData = { hostTimeOrigin: performance.timeOrigin };
    this.worker = "path" in workerSource ? new Worker(workerSource.path, { workerData }) : new Worker(workerSource.code, { eval: true, workerData });
    this.worker.on("message", (m: WorkerToHost) => this.onMessage(m));
    this.worker.on("error", (e) => this.fail(new VmsfxError("VMSFX_GUEST_FAILED", `the engine crashed: ${e.message}. Please report this with the bundle's \`vmsfx inspect\` output.`, { cause: e })));
    this.worker.on("exit", () => {
      if (!this.terminated) this.fail(new VmsfxError("VMSFX_GUEST_FAILED", "the engine stopped unexpectedly. Please report this."));
    });
  }

  /** Returns the unsubscribe, the same as off(event, fn). */
  on<K extends GuestEvent>(event: K, fn: GuestEvents[K]): () => void {
    this.events.on(event, fn);
    return () => this.off(event, fn);
  }

  off<K extends GuestEvent>(event: K, fn: GuestEvents[K]): void {
    this.events.off(event, fn);
  }

  /** `fn` runs for the next event only; returns the unsubscribe for before it came. */
  once<K extends GuestEvent>(event: K, fn: GuestEvents[K]): () => void {
    this.events.once(event, fn);
    return () => this.off(event, fn);
  }

  /** How many listeners an event has (for tests and leak checks). */
  listenerCount(event: GuestEvent): number {
    return this.events.listenerCount(event);
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

  /** Listens on the host ports and carries their connections into the guest (a machine with a NIC). */
  async forward(forwards: PortForward[]): Promise<{ bound: PortForward[]; failure?: ForwardFailure }> {
    this.send({ type: "forward", forwards });
    const m = (await this.wait("forwarded")) as Extract<WorkerToHost, { type: "forwarded" }>;
    return { bound: m.bound, failure: m.failure };
  }

  /** Lets the guest connect out where every list allows (outbound-rules.ts); a guest without a NIC ignores it. */
  allowOutbound(allow: string[][]): void {
    if (!this.terminated) this.send({ type: "outbound", allow });
  }

  /** Whether the guest accepts connections on this TCP port now. */
  probe(port: number): Promise<boolean> {
    if (this.failed) return Promise.reject(this.failed);
    const id = ++this.probeId;
    this.send({ type: "probe", id, port });
    return new Promise((resolve, reject) => {
      const unsubscribe = this.once("fatal", reject);
      this.probes.set(id, (open) => {
        unsubscribe();
        resolve(open);
      });
    });
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
    traceStop("terminating the engine");
    // Bounded: whatever the guest's state, it was saved before this; a worker slow to end must
    // not keep the launcher (and the user's terminal) waiting. process.exit ends it anyway.
    const ended = await Promise.race([this.worker.terminate().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), TERMINATE_WAIT_MS).unref())]);
    traceStop(ended ? "engine terminated" : "engine still ending; not waited for");
  }

  private send(m: HostToWorker): void {
    const transfer: Transferable[] = [];
    this.worker.postMessage(m, transfer as never);
  }

  private wait(type: WorkerToHost["type"]): Promise<WorkerToHost> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const unsubscribe = this.once("fatal", reject);
      this.waiters.push({
        type,
        resolve: (m) => {
          unsubscribe();
          resolve(m);
        },
      });
    });
  }

  private emit<K extends GuestEvent>(event: K, ...args: Parameters<GuestEvents[K]>): void {
    this.events.emit(event, ...args);
  }

  private fail(e: VmsfxError): void {
    if (this.failed || this.terminated) return;
    this.failed = e;
    this.emit("fatal", e);
  }

  private onMessage(m: WorkerToHost): void {
    switch (m.type) {
      case "serial":
        this.emit("serial", m.bytes);
        return;
      case "agent":
        this.emit("agent", m.bytes);
        return;
      case "exit":
        this.emit("exit", m.reason);
        return;
      case "screen":
        this.emit("screen", m.update);
        return;
      case "disk-read":
        this.diskRead(m.id, m.slot, m.offset, m.length);
        return;
      case "disk-write":
        this.diskWrite(m.slot, m.offset, m.data);
        return;
      case "probed":
        this.probes.get(m.id)?.(m.open);
        this.probes.delete(m.id);
        return;
      case "error":
        this.fail(m.code ? new VmsfxError(m.code, m.message) : new VmsfxError("VMSFX_GUEST_FAILED", `the engine failed: ${m.message.split("\n")[0]}. Please report this.`));
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
        // A block that is missing (offline, a server without it: a recoverable error, errors.ts) is
        // the guest's I/O error, as a bad sector would be; anything else (a block that fails
        // verification) stops the guest.
        if (hasTrait(e, "recoverable") && !this.terminated) {
          this.worker.postMessage({ type: "disk-reply", id, data: new Uint8Array(length), failed: true } satisfies HostToWorker);
          this.emit("disk-error", slot, offset, e);
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
