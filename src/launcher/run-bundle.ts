import { VmsfxError } from "../errors";
import { GuestHost } from "../engine/engine-host";
import { checkEngineIdentity, type EngineAssets } from "../engine/engine-assets";
import type { DiskSlot, ExitReason, MachineSpec } from "../engine/engine-protocol";
import { openSnapshot } from "../snapshot/open-snapshot";
import { BlockReader } from "../snapshot/snapshot-source";
import { presenceOf, streamImage } from "../snapshot/image-loader";
import { OverlayDisk } from "../snapshot/overlay-disk";
import { blockLength, serializeManifest, type BlockMap } from "../snapshot/manifest";
import { sha256Hex } from "../snapshot/block-codec";
import { defaultStateDir, saveOverlay } from "../snapshot/overlay-store";
import { attachConsole } from "./console-bridge";
import { SerialTail } from "./terminal-answerer";

/**
 * `vmsfx run`: open the bundle, check it was made for this engine, resume (or cold-boot with
 * --fresh), join the console, and on exit keep the guest's disk changes in the state folder.
 * The order matters for speed: the engine worker starts first and loads v86 while this thread
 * reads and verifies memory blocks.
 */

export interface RunOptions {
  fresh: boolean;
  stateDir?: string;
  /** Milliseconds since process start at each step, for `--timings` and the benchmark. */
  timings?: Record<string, number>;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export interface RunResult {
  exitCode: number;
  reason: ExitReason | "detached" | "signal";
  overlay?: { stateDir: string; changedBlocks: number; bytesWritten: number };
}

export async function runBundle(file: string, assets: EngineAssets, opts: RunOptions): Promise<RunResult> {
  const mark = (name: string) => opts.timings && (opts.timings[name] = Math.round(performance.now() * 10) / 10);
  const host = new GuestHost(assets.worker);
  const modulePromise = WebAssembly.compile(assets.wasm);
  const source = await openSnapshot(file);
  mark("opened");
  try {
    const m = source.manifest;
    if (!opts.fresh) checkEngineIdentity(m.engine, assets.identity, file);
    const reader = await BlockReader.open(source);
    const disks: Partial<Record<DiskSlot, OverlayDisk>> = {};
    for (const d of m.disks) disks[d.slot] = new OverlayDisk(d.map.size, d.map.blockSize, baseReader(reader, d.map));
    const machine: MachineSpec = {
      memoryBytes: m.machine.memoryBytes,
      vgaMemoryBytes: m.machine.vgaMemoryBytes,
      disks: await Promise.all(m.disks.map(async (d) => ({ slot: d.slot, size: d.map.size, head: (await disks[d.slot]!.read(0, 512)).slice() }))),
    };

    let fatal: VmsfxError | undefined;
    let finish!: (r: RunResult["reason"]) => void;
    const finished = new Promise<RunResult["reason"]>((resolve) => (finish = resolve));
    host.on("exit", (reason) => finish(reason));
    host.on("fatal", (e) => {
      fatal = e;
      finish("poweroff");
    });

    let inputGate: Promise<void> | undefined;
    if (opts.fresh) {
      if (!m.boot) throw new VmsfxError("VMSFX_MANIFEST_INVALID", `${file}: this bundle carries no boot files, so it cannot be cold-booted. Run it without --fresh.`);
      const boot = {
        bios: await readWhole(reader, m.boot.bios),
        vgaBios: await readWhole(reader, m.boot.vgaBios),
        kernel: await readWhole(reader, m.boot.kernel),
        initrd: m.boot.initrd ? await readWhole(reader, m.boot.initrd) : undefined,
        cmdline: m.boot.cmdline,
      };
      if (m.boot.ready) inputGate = waitForPattern(host, new RegExp(m.boot.ready), 120_000);
      await host.create(await modulePromise, machine, disks, boot);
    } else {
      const created = modulePromise.then((module) => {
        mark("wasmCompiled");
        return host.create(module, machine, disks).then((workerMarks) => {
          if (opts.timings) Object.assign(opts.timings, workerMarks);
          mark("engineCreated");
        });
      });
      host.sendPresence(presenceOf(m.memory), presenceOf(m.vgaMemory));
      const send = host.sendImage.bind(host);
      const state = await readWhole(reader, m.state);
      mark("zstdReady");
      await streamImage(reader, m.memory, "ram", send);
      await streamImage(reader, m.vgaMemory, "vga", send);
      mark("verified");
      await created;
      mark("engineReady");
      await host.restore(state);
      opts.stdout.write(m.console.tail);
    }
    mark("running");

    const bridge = attachConsole(host, { stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr, onDetach: () => finish("detached"), inputGate });
    const onSignal = () => finish("signal");
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    process.once("SIGHUP", onSignal);
    const reason = await finished;
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("SIGHUP", onSignal);
    bridge.close();
    await host.flushDisks();
    await host.stop();
    if (fatal) throw fatal;

    const stateDir = opts.stateDir ?? defaultStateDir(file);
    const entries = m.disks.map((entry) => ({ entry, disk: disks[entry.slot]! }));
    const overlay = entries.some((e) => e.disk.dirty.size > 0)
      ? { stateDir, ...(await saveOverlay(stateDir, sha256Hex(serializeManifest(m)), entries)) }
      : undefined;
    if (reason === "reboot") opts.stderr.write("\r\nvmsfx: the guest rebooted; a resumed guest has no firmware to reboot into, so it was stopped.\r\n");
    if (reason === "detached") opts.stderr.write("\r\nvmsfx: stopped.\r\n");
    return { exitCode: reason === "signal" ? 130 : 0, reason, overlay };
  } finally {
    await host.stop();
    await source.close();
  }
}

/** Resolves once the console shows the pattern (or after `timeoutMs`, so input is never held forever). */
function waitForPattern(host: GuestHost, pattern: RegExp, timeoutMs: number): Promise<void> {
  const tail = new SerialTail();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    host.on("serial", (bytes) => {
      tail.push(bytes);
      if (pattern.test(tail.value)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

function baseReader(reader: BlockReader, map: BlockMap) {
  return async (index: number): Promise<Uint8Array> => {
    const h = map.blocks[index];
    const len = blockLength(map, index);
    return h ? reader.read(h, len) : new Uint8Array(len);
  };
}

async function readWhole(reader: BlockReader, map: BlockMap): Promise<Uint8Array> {
  const out = new Uint8Array(map.size);
  const read = baseReader(reader, map);
  for (let i = 0; i < map.blocks.length; i++) out.set(await read(i), i * map.blockSize);
  return out;
}
