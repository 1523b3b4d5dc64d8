import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { GuestHost } from "../engine/engine-host";
import type { BootFilesBytes, MachineSpec } from "../engine/engine-protocol";
import type { EngineAssets } from "../engine/engine-assets";
import { SerialTail, TerminalAnswerer } from "../launcher/terminal-answerer";
import { BlockStoreWriter, bufferSource, fileSource, type StoreStats } from "./block-store";
import { OverlayDisk } from "./overlay-disk";
import { MANIFEST_FORMAT, MANIFEST_VERSION, type AppInfo, type BlockMap, type DiskEntry, type Manifest } from "./manifest";
import { BLOCKS_DIR, writeManifestFile } from "./snapshot-dir";
import { loadIcon, type Recipe } from "./recipe";

/**
 * Capture: cold-boot a recipe, wait for its ready pattern on the serial console, let the guest
 * settle, save, and cut state, RAM, VGA memory, disks (with the writes made during boot) and the
 * boot files into a content-addressed snapshot directory.
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

async function readAll(file: string): Promise<Uint8Array> {
  return fsp.readFile(file).catch((e) => Promise.reject(fromFsError(e, file, "reading a boot file")));
}

export async function capture(recipe: Recipe, assets: EngineAssets, opts: CaptureOptions): Promise<CaptureResult> {
  const existing = await fsp.readdir(opts.out).catch(() => []);
  if (existing.length > 0) {
    throw new VmsfxError("VMSFX_IO", `${opts.out} exists and is not empty. Choose a new folder for the snapshot, or remove it.`);
  }
  const host = new GuestHost(assets.worker);
  const module = await WebAssembly.compile(assets.wasm);
  const diskFiles = await Promise.all(recipe.disks.map((d) => fileSource(d.image)));
  try {
    const disks: Partial<Record<"hda" | "hdb", OverlayDisk>> = {};
    recipe.disks.forEach((d, i) => {
      const src = diskFiles[i];
      disks[d.slot] = new OverlayDisk(src.size, opts.diskBlockSize, (index) => {
        const offset = index * opts.diskBlockSize;
        return src.read(offset, Math.min(opts.diskBlockSize, src.size - offset));
      });
    });
    const machine: MachineSpec = {
      memoryBytes: recipe.memoryMiB << 20,
      vgaMemoryBytes: recipe.vgaMemoryMiB << 20,
      disks: await Promise.all(recipe.disks.map(async (d, i) => ({ slot: d.slot, size: diskFiles[i].size, head: (await disks[d.slot]!.read(0, 512)).slice() }))),
    };
    const boot: BootFilesBytes = {
      bios: await readAll(recipe.bios),
      vgaBios: await readAll(recipe.vgaBios),
      kernel: await readAll(recipe.kernel),
      initrd: recipe.initrd ? await readAll(recipe.initrd) : undefined,
      cmdline: recipe.cmdline,
    };
    // v86 places the initrd at 64 MiB; a smaller machine crashes the engine while it loads.
    const needMiB = boot.initrd ? 64 + Math.ceil(boot.initrd.byteLength / 2 ** 20) + 4 : 16;
    if (recipe.memoryMiB < needMiB) throw new VmsfxError("VMSFX_RECIPE_INVALID", `${recipe.file}: "memoryMiB" must be at least ${needMiB} for this initrd (v86 loads it at 64 MiB).`);
    const tail = new SerialTail();
    const answerer = new TerminalAnswerer((b) => host.input(b));
    let lastOutput = Date.now();
    let fatal: VmsfxError | undefined;
    host.on("fatal", (e) => (fatal = e));
    host.on("serial", (bytes) => {
      lastOutput = Date.now();
      tail.push(bytes);
      answerer.observe(bytes);
      opts.echo?.(bytes);
    });
    const started = Date.now();
    opts.onPhase?.("booting");
    await host.create(module, machine, disks, boot);
    const deadline = started + recipe.ready.timeoutSeconds * 1000;
    if (opts.untilReady) await opts.untilReady({ host, console: tail, deadline, fatal: () => fatal });
    else await waitForPattern(recipe, tail, deadline, () => fatal);
    const bootMs = Date.now() - started;
    // Let trailing output (and the terminal query answer) land so the saved guest is idle.
    const settle = opts.settleMs ?? 300;
    while (Date.now() - lastOutput < settle) await new Promise((r) => setTimeout(r, 20));
    opts.onPhase?.("saving");
    const saved = await host.save();
    await host.stop();

    opts.onPhase?.("writing blocks");
    const store = await BlockStoreWriter.create(path.join(opts.out, BLOCKS_DIR), opts.level);
    const total = saved.memory.byteLength + saved.vga.byteLength + Object.values(disks).reduce((n, d) => n + d!.size, 0);
    let base = 0;
    const progress = (done: number) => opts.onProgress?.(base + done, total);
    const state = await store.putImage(bufferSource(saved.state), saved.state.byteLength, opts.blockSize);
    const memory = await store.putImage(bufferSource(saved.memory), saved.memory.byteLength, opts.blockSize, progress);
    base += saved.memory.byteLength;
    const vgaMemory = await store.putImage(bufferSource(saved.vga), saved.vga.byteLength, opts.blockSize, progress);
    base += saved.vga.byteLength;
    const diskEntries: DiskEntry[] = [];
    for (const d of recipe.disks) {
      const dev = disks[d.slot]!;
      // The disk as the guest left it: the image plus the writes made while booting (ext4's
      // mount, journal replay), so the captured page cache and the captured disk agree.
      diskEntries.push({ slot: d.slot, map: await store.putImage((o, l) => dev.read(o, l), dev.size, opts.diskBlockSize, progress) });
      base += dev.size;
    }
    const bootMap = (bytes: Uint8Array): Promise<BlockMap> => store.putImage(bufferSource(bytes), bytes.byteLength, opts.diskBlockSize);
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      createdAt: new Date().toISOString(),
      guest: { name: recipe.name, description: recipe.description, icon: await loadIcon(recipe) },
      engine: assets.identity,
      machine: { memoryBytes: machine.memoryBytes, vgaMemoryBytes: machine.vgaMemoryBytes },
      state,
      memory,
      vgaMemory,
      disks: diskEntries,
      boot: {
        bios: await bootMap(boot.bios),
        vgaBios: await bootMap(boot.vgaBios),
        kernel: await bootMap(boot.kernel),
        initrd: boot.initrd ? await bootMap(boot.initrd) : undefined,
        cmdline: boot.cmdline,
        ready: opts.readyPattern === undefined ? recipe.ready.serial.source : opts.readyPattern?.source,
      },
      // An app's console is its own from the first launch; nothing of the build shows.
      console: { tail: opts.app ? "" : tail.currentLine() },
      app: opts.app,
    };
    await writeManifestFile(opts.out, manifest);
    return { manifest, stats: store.stats, bootMs };
  } finally {
    await host.stop();
    await Promise.all(diskFiles.map((f) => f.close()));
  }
}

async function waitForPattern(recipe: Recipe, tail: SerialTail, deadline: number, fatal: () => VmsfxError | undefined): Promise<void> {
  while (!recipe.ready.serial.test(tail.value)) {
    const failed = fatal();
    if (failed) throw failed;
    if (Date.now() > deadline) {
      throw new VmsfxError(
        "VMSFX_CAPTURE_TIMEOUT",
        `${recipe.file}: the guest did not reach its ready pattern /${recipe.ready.serial.source}/ within ${recipe.ready.timeoutSeconds} s. Last console lines:\n${tail.lastLines()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
