import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { GuestHost } from "../engine/engine-host";
import type { BootFilesBytes, MachineSpec } from "../engine/engine-protocol";
import { waitForConsole } from "../engine/console-wait";
import type { EngineAssets } from "../engine/engine-assets";
import { SerialTail, TerminalAnswerer } from "../engine/terminal-answerer";
import { BlockStoreWriter, bufferSource, fileSource, type StoreStats } from "./block-store";
import type { OverlayDisk } from "./overlay-disk";
import { describeMachine, mapBootFiles, minimumMemoryMiB, type MachineDescription } from "./machine";
import { MANIFEST_FORMAT, MANIFEST_VERSION, type AppInfo, type DiskEntry, type Manifest } from "./manifest";
import { BLOCKS_DIR, writeManifestFile } from "./snapshot-dir";
import { loadIcon, type Recipe } from "./recipe";

/**
 * Capture: cold-boot a recipe, wait for its ready pattern on the serial console, let the guest
 * settle, save, and cut state, RAM, VGA memory, disks (with the writes made during boot) and the
 * boot files into a content-addressed snapshot directory. Each of those is a stage below; the
 * machine (snapshot/machine.ts) and the console waits (engine/console-wait.ts) are the launch's.
 */

export interface CaptureOptions {
  out: string;
  /** Block size of RAM, VGA memory and the device state: these load in full at resume, so big blocks compress best. */
  blockSize: number;
  /** Block size of disks and boot files: the guest reads them piecemeal, so smaller blocks read less. */
  diskBlockSize: number;
  level: number;
  /** Guest console echoed here while booting (the CLI passes stderr with --verbose). */
  echo?: (bytes: Uint8Array) => void;
  onPhase?: (phase: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** Quiet period after the ready pattern before saving, in ms. */
  settleMs?: number;
  /**
   * Brings the booted guest to the moment to capture, in place of waiting for the recipe's ready
   * pattern (an app build drives its guest agent through a trial run). Throws to give up.
   */
  untilReady?: (guest: BootingGuest) => Promise<void>;
  /** Recorded in the manifest: this is an app built with `vmsfx build`. */
  app?: AppInfo;
  /** The app's own ready pattern, kept as `boot.ready` in place of the recipe's (null: none). */
  readyPattern?: RegExp | null;
}

/** What `untilReady` sees of the guest while it boots. */
export interface BootingGuest {
  host: GuestHost;
  /** The console so far (the last 4 KiB). */
  console: SerialTail;
  /** When the recipe's timeout runs out (ms since the epoch). */
  deadline: number;
  /** The engine's own failure, if it failed. */
  fatal(): VmsfxError | undefined;
}

export interface CaptureResult {
  manifest: Manifest;
  stats: StoreStats;
  bootMs: number;
}

type DiskFile = Awaited<ReturnType<typeof fileSource>>;
type SavedGuest = Awaited<ReturnType<GuestHost["save"]>>;

export async function capture(recipe: Recipe, assets: EngineAssets, opts: CaptureOptions): Promise<CaptureResult> {
  const existing = await fsp.readdir(opts.out).catch(() => []);
  if (existing.length > 0) {
    throw new VmsfxError("VMSFX_IO", `${opts.out} exists and is not empty. Choose a new folder for the snapshot, or remove it.`);
  }
  const host = new GuestHost(assets.worker);
  const module = await WebAssembly.compile(assets.wasm);
  const diskFiles = await Promise.all(recipe.disks.map((d) => fileSource(d.image)));
  try {
    const { machine, boot } = await prepareMachine(recipe, diskFiles, opts.diskBlockSize);
    const { console: guestConsole, bootMs } = await bootUntilReady(host, module, machine, boot, recipe, opts);
    const saved = await settleAndSave(host, guestConsole, opts);
    opts.onPhase?.("writing blocks");
    const store = await BlockStoreWriter.create(path.join(opts.out, BLOCKS_DIR), opts.level);
    const images = await writeImages(store, saved, recipe.disks.map((d) => ({ slot: d.slot, dev: machine.disks[d.slot]! })), opts);
    const manifest = await snapshotManifest(store, recipe, assets.identity, machine.spec, images, boot, guestConsole.tail, opts);
    await writeManifestFile(opts.out, manifest);
    return { manifest, stats: store.stats, bootMs };
  } finally {
    await host.stop();
    await Promise.all(diskFiles.map((f) => f.close()));
  }
}

/** The recipe's machine: its disks as overlays over the images, and its boot files read in. */
async function prepareMachine(recipe: Recipe, diskFiles: DiskFile[], diskBlockSize: number): Promise<{ machine: MachineDescription; boot: BootFilesBytes }> {
  const bases = recipe.disks.map((d, i) => {
    const src = diskFiles[i];
    const read = (index: number) => {
      const offset = index * diskBlockSize;
      return src.read(offset, Math.min(diskBlockSize, src.size - offset));
    };
    return { slot: d.slot, size: src.size, blockSize: diskBlockSize, read };
  });
  const machine = await describeMachine({ memoryBytes: recipe.memoryMiB << 20, vgaMemoryBytes: recipe.vgaMemoryMiB << 20, nic: recipe.nic }, bases);
  const boot = await mapBootFiles(recipe, readAll);
  const needMiB = minimumMemoryMiB(boot);
  if (recipe.memoryMiB < needMiB) throw new VmsfxError("VMSFX_RECIPE_INVALID", `${recipe.file}: "memoryMiB" must be at least ${needMiB} for this initrd (v86 loads it at 64 MiB).`);
  return { machine, boot };
}

async function readAll(file: string): Promise<Uint8Array> {
  return fsp.readFile(file).catch((e) => Promise.reject(fromFsError(e, file, "reading a boot file")));
}

/** The console as capture keeps it from the start: its tail, when it last wrote, the engine's failure. */
interface CaptureConsole {
  tail: SerialTail;
  lastOutputAt(): number;
  fatal(): VmsfxError | undefined;
}

/** Listens for the rest of the capture (the guest stops with it); answers the terminal queries. */
function attachConsole(host: GuestHost, echo?: (bytes: Uint8Array) => void): CaptureConsole {
  const tail = new SerialTail();
  const answerer = new TerminalAnswerer((b) => host.input(b));
  let lastOutput = Date.now();
  let fatal: VmsfxError | undefined;
  host.on("fatal", (e) => (fatal = e));
  host.on("serial", (bytes) => {
    lastOutput = Date.now();
    tail.push(bytes);
    answerer.observe(bytes);
    echo?.(bytes);
  });
  return { tail, lastOutputAt: () => lastOutput, fatal: () => fatal };
}

/** Cold-boots the machine and waits for the recipe's ready pattern (or the caller's `untilReady`). */
async function bootUntilReady(host: GuestHost, module: WebAssembly.Module, machine: MachineDescription, boot: BootFilesBytes, recipe: Recipe, opts: CaptureOptions): Promise<{ console: CaptureConsole; bootMs: number }> {
  const guestConsole = attachConsole(host, opts.echo);
  const started = Date.now();
  opts.onPhase?.("booting");
  await host.create(module, machine.spec, machine.disks, boot);
  const deadline = started + recipe.ready.timeoutSeconds * 1000;
  if (opts.untilReady) await opts.untilReady({ host, console: guestConsole.tail, deadline, fatal: guestConsole.fatal });
  else await waitForReadyPattern(host, recipe, guestConsole, deadline);
  return { console: guestConsole, bootMs: Date.now() - started };
}

async function waitForReadyPattern(host: GuestHost, recipe: Recipe, guestConsole: CaptureConsole, deadline: number): Promise<void> {
  const result = await waitForConsole(host, { pattern: recipe.ready.serial, seen: guestConsole.tail }, { timeoutMs: deadline - Date.now(), failed: guestConsole.fatal });
  if (result === "timeout") {
    throw new VmsfxError(
      "VMSFX_CAPTURE_TIMEOUT",
      `${recipe.file}: the guest did not reach its ready pattern /${recipe.ready.serial.source}/ within ${recipe.ready.timeoutSeconds} s. Last console lines:\n${guestConsole.tail.lastLines()}`,
    );
  }
}

/** Lets trailing output (and the terminal query answer) land so the saved guest is idle, then saves it. */
async function settleAndSave(host: GuestHost, guestConsole: CaptureConsole, opts: CaptureOptions): Promise<SavedGuest> {
  await waitForConsole(host, { quietMs: opts.settleMs ?? 300, lastOutputAt: guestConsole.lastOutputAt() });
  opts.onPhase?.("saving");
  const saved = await host.save();
  await host.stop();
  return saved;
}

type Images = Pick<Manifest, "state" | "memory" | "vgaMemory" | "disks">;

/** Cuts the saved state, RAM, VGA memory and the disks into blocks, reporting progress over all but the state. */
async function writeImages(store: BlockStoreWriter, saved: SavedGuest, disks: { slot: DiskEntry["slot"]; dev: OverlayDisk }[], opts: CaptureOptions): Promise<Images> {
  const total = saved.memory.byteLength + saved.vga.byteLength + disks.reduce((n, d) => n + d.dev.size, 0);
  let base = 0;
  const progress = (done: number) => opts.onProgress?.(base + done, total);
  const state = await store.putImage(bufferSource(saved.state), saved.state.byteLength, opts.blockSize);
  const memory = await store.putImage(bufferSource(saved.memory), saved.memory.byteLength, opts.blockSize, progress);
  base += saved.memory.byteLength;
  const vgaMemory = await store.putImage(bufferSource(saved.vga), saved.vga.byteLength, opts.blockSize, progress);
  base += saved.vga.byteLength;
  const diskEntries: DiskEntry[] = [];
  for (const { slot, dev } of disks) {
    // The disk as the guest left it: the image plus the writes made while booting (ext4's
    // mount, journal replay), so the captured page cache and the captured disk agree.
    diskEntries.push({ slot, map: await store.putImage((o, l) => dev.read(o, l), dev.size, opts.diskBlockSize, progress) });
    base += dev.size;
  }
  return { state, memory, vgaMemory, disks: diskEntries };
}

/** The manifest: the images, the boot files (stored here), the guest's name and icon, the console line. */
async function snapshotManifest(store: BlockStoreWriter, recipe: Recipe, engine: EngineAssets["identity"], spec: MachineSpec, images: Images, boot: BootFilesBytes, tail: SerialTail, opts: CaptureOptions): Promise<Manifest> {
  const createdAt = new Date().toISOString();
  const icon = await loadIcon(recipe);
  const bootMaps = await mapBootFiles(boot, (bytes) => store.putImage(bufferSource(bytes), bytes.byteLength, opts.diskBlockSize));
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    createdAt,
    guest: { name: recipe.name, description: recipe.description, icon },
    engine,
    machine: { memoryBytes: spec.memoryBytes, vgaMemoryBytes: spec.vgaMemoryBytes, ...(spec.nic ? { nic: spec.nic } : {}) },
    ...images,
    boot: { ...bootMaps, ready: opts.readyPattern === undefined ? recipe.ready.serial.source : opts.readyPattern?.source },
    // An app's console is its own from the first launch; nothing of the build shows.
    console: { tail: opts.app ? "" : tail.currentLine() },
    app: opts.app,
  };
}
