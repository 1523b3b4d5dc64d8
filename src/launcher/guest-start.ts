import { VmsfxError } from "../errors";
import type { GuestHost } from "../engine/engine-host";
import { checkEngineIdentity } from "../engine/engine-assets";
import type { DiskSlot, MachineSpec, PortForward } from "../engine/engine-protocol";
import { blockLength, type BlockMap, type EngineIdentity, type Manifest } from "../snapshot/manifest";
import { BlockReader } from "../snapshot/snapshot-source";
import { presenceOf, streamImage } from "../snapshot/image-loader";
import type { OverlayDisk } from "../snapshot/overlay-disk";
import { describeMachine, mapBootFiles, type DiskBase } from "../snapshot/machine";
import { waitForConsole } from "../engine/console-wait";
import { blocksNeededBeforeRun } from "../remote/prefetch-plan";
import type { LaunchPlan } from "./launch-plan";
import { listenForwards } from "./port-forwards";

/**
 * The second stage of a launch: the machine the plan describes (its disks as copy-on-write
 * overlays over verified blocks), then the guest started in it, resumed from its memory image or
 * cold-booted from the bundle's boot files.
 */

/** What a stage records in `--timings`: milliseconds since process start at each step. */
export type Mark = (name: string) => void;

/** The part of the engine the start uses (a test gives a fake). */
export type GuestEngine = Pick<GuestHost, "on" | "create" | "sendPresence" | "sendImage" | "restore" | "forward" | "allowOutbound">;

export interface GuestMachine {
  reader: BlockReader;
  disks: Partial<Record<DiskSlot, OverlayDisk>>;
  spec: MachineSpec;
}

export async function loadMachine(plan: LaunchPlan, o: { engine: EngineIdentity; onDiskRead?: (slot: DiskSlot, index: number) => void; timings?: Record<string, number> }, mark: Mark): Promise<GuestMachine> {
  const m = plan.manifest;
  if (!plan.coldBoot) checkEngineIdentity(m.engine, o.engine, plan.file);
  if (plan.thin) {
    const local = new Set(Object.keys(plan.previous?.pack?.blocks ?? {}));
    const got = await plan.thin.prefetch(blocksNeededBeforeRun(m, plan.coldBoot, local));
    mark("fetched");
    if (o.timings) o.timings.fetchedBytes = got.bytes;
  }
  const reader = await BlockReader.open(plan.source);
  const onRead = o.onDiskRead;
  const bases = m.disks.map((d): DiskBase => {
    const read = blockReader(reader, d.map);
    return { slot: d.slot, size: d.map.size, blockSize: d.map.blockSize, read: onRead ? (i) => (onRead(d.slot, i), read(i)) : read };
  });
  const { disks, spec } = await describeMachine(m.machine, bases);
  return { reader, disks, spec };
}

export interface StartOptions {
  args?: string[];
  stdout: { write(s: string): unknown };
  timings?: Record<string, number>;
  /** The agent, attached before the guest runs: piped input waits for it. */
  agent: { freshened(timeoutMs: number): Promise<void>; started(timeoutMs: number): Promise<void> };
  /** Sees the resumed screen, so the terminal modes it set can be undone later. */
  screenShown(tail: string): void;
  /** Host ports to serve the guest's on, listened on before the guest runs (port-forwards.ts). */
  forwards?: PortForward[];
  /** Where the guest may connect out (outbound-lists.ts); undefined: nowhere. */
  outbound?: string[][];
}

/** Starts the guest; resolves once it runs, with what piped input must wait for (if anything). */
export async function startGuest(host: GuestEngine, module: Promise<WebAssembly.Module>, plan: LaunchPlan, g: GuestMachine, o: StartOptions, mark: Mark): Promise<{ inputGate?: Promise<void>; bound: PortForward[] }> {
  if (plan.coldBoot) {
    const { ready } = await coldBootGuest(host, await module, g, plan.manifest, plan.file);
    return { inputGate: ready, bound: await openNetwork(host, o) };
  }
  const m = plan.manifest;
  const created = module.then((mod) => {
    mark("wasmCompiled");
    return host.create(mod, g.spec, g.disks).then((workerMarks) => {
      if (o.timings) Object.assign(o.timings, workerMarks);
      mark("engineCreated");
    });
  });
  // If verifying a block fails first, that error is the one to report; this one is moot.
  created.catch(() => undefined);
  // The engine worker loads v86 while this thread reads and verifies memory blocks.
  host.sendPresence(presenceOf(m.memory), presenceOf(m.vgaMemory));
  const send = host.sendImage.bind(host);
  const deviceState = await readWhole(g.reader, m.state);
  mark("zstdReady");
  await streamImage(g.reader, m.memory, "ram", send);
  await streamImage(g.reader, m.vgaMemory, "vga", send);
  mark("verified");
  await created;
  mark("engineReady");
  // A port that cannot be had fails the launch before the guest has run: nothing to save.
  const bound = await openNetwork(host, o);
  const { agentListening } = await host.restore(deviceState);
  let inputGate: Promise<void> | undefined;
  // Piped input waits (at most 2 s) until the agent has set the clock and reseeded, so a
  // script's first command never sees the capture's clock or random state.
  if (agentListening) inputGate = o.agent.freshened(2000);
  // An app gets its input once it runs, not the console before it (10 s: a slow machine).
  if (m.app && plan.previous?.kind !== "suspended") inputGate = o.agent.started(10_000);
  // With arguments the user asked for the app's output, not the screen they left.
  if (!o.args) {
    o.stdout.write(m.console.tail);
    o.screenShown(m.console.tail);
  }
  return { inputGate, bound };
}

/** Cold boot: the bundle's own BIOS, kernel and initrd; piped input waits for the ready pattern. */
/** The guest's network, before it runs: where it may connect, and its ports listened on. */
function openNetwork(host: GuestEngine, o: StartOptions): Promise<PortForward[]> {
  if (o.outbound) host.allowOutbound(o.outbound);
  return listenForwards(host, o.forwards ?? []);
}

async function coldBootGuest(host: GuestEngine, module: WebAssembly.Module, g: GuestMachine, m: Manifest, file: string): Promise<{ ready?: Promise<void> }> {
  if (!m.boot) throw new VmsfxError("VMSFX_MANIFEST_INVALID", `${file}: this bundle carries no boot files, so it cannot be cold-booted. Run it without --fresh.`);
  const boot = await mapBootFiles(m.boot, (map) => readWhole(g.reader, map));
  // At most 120 s, so piped input is never held forever.
  const ready = m.boot.ready ? waitForConsole(host, { pattern: new RegExp(m.boot.ready) }, { timeoutMs: 120_000 }).then(() => undefined) : undefined;
  await host.create(module, g.spec, g.disks, boot);
  return { ready };
}

function blockReader(reader: BlockReader, map: BlockMap) {
  return async (index: number): Promise<Uint8Array> => {
    const h = map.blocks[index];
    const len = blockLength(map, index);
    return h ? reader.read(h, len) : new Uint8Array(len);
  };
}

async function readWhole(reader: BlockReader, map: BlockMap): Promise<Uint8Array> {
  const out = new Uint8Array(map.size);
  const read = blockReader(reader, map);
  for (let i = 0; i < map.blocks.length; i++) out.set(await read(i), i * map.blockSize);
  return out;
}
