import { VmsfxError } from "../errors";
import { GuestHost } from "../engine/engine-host";
import { checkEngineIdentity, type EngineAssets } from "../engine/engine-assets";
import type { DiskSlot, ExitReason, MachineSpec } from "../engine/engine-protocol";
import { openSnapshot } from "../snapshot/open-snapshot";
import { BlockReader, type SnapshotSource } from "../snapshot/snapshot-source";
import { presenceOf, streamImage } from "../snapshot/image-loader";
import { OverlayDisk } from "../snapshot/overlay-disk";
import { blockLength, serializeManifest, type BlockMap, type Manifest } from "../snapshot/manifest";
import { sha256Hex } from "../snapshot/block-codec";
import type { BundleSource } from "../snapshot/bundle-reader";
import { openLayeredSource } from "../snapshot/layered-source";
import { guardPackBlocks, openResumePoint, setAsideResumePoint, type ResumePoint } from "../snapshot/resume-point";
import { chooseVersion } from "../remote/manifest-update";
import { blocksNeededBeforeRun } from "../remote/prefetch-plan";
import { attachConsole } from "./console-bridge";
import type { UnreadInput } from "./line-pacer";
import { attachGuestAgent } from "./guest-agent";
import { SerialTail } from "./terminal-answerer";
import { TerminalModes } from "./terminal-modes";
import { openStateDir } from "./state-dir";
import { saveOnExit } from "./save-on-exit";
import { enforceLaunch } from "../policy/launch-gate";
import { sessionLimitMessage } from "../policy/restrictions";
import type { Unlocker } from "../snapshot/bundle-reader";
import { openRemoteBacked } from "../remote/remote-source";
import * as path from "node:path";
import { outputClosed } from "../cli/report-error";
import type { GuiOptions } from "../gui/gui-session";

/**
 * `vmsfx run` and the executable: open the bundle, take the state folder, pick up where the user
 * left off (a resume point) or the bundle's own state, check the engine, resume (or cold-boot),
 * join the console, and on the way out keep the user's work as a new resume point.
 * The order matters for speed: the engine worker starts first and loads v86 while this thread
 * reads and verifies memory blocks.
 */

export interface RunOptions {
  fresh: boolean;
  stateDir?: string;
  /** Ask a thin bundle's servers for a newer signed version first (`--update`). */
  update?: boolean;
  /** Arguments after `--`: the guest agent runs the guest's app with them; its exit status is ours. */
  args?: string[];
  /** Turns an encrypted bundle's header into its manifest and cipher (asks for the passphrase). */
  unlock?: Unlocker;
  /** The publisher key the bundle must be signed with (`--require-signer`). */
  requireSigner?: string;
  /** Called the first time the guest reads each disk block (`vmsfx record`). */
  onDiskRead?: (slot: DiskSlot, index: number) => void;
  /** Piped input: keep the guest running after the input ends (`vmsfx record` watches it for a while). */
  stayAfterInput?: boolean;
  /** Suspend after this long (`vmsfx record` ends its session this way). */
  maxRunMs?: number;
  /** Milliseconds since process start at each step, for `--timings` and the benchmark. */
  timings?: Record<string, number>;
  /** Also show the guest in a browser window (`--gui`); started once the guest runs. */
  gui?: GuiOptions;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export interface RunResult {
  exitCode: number;
  reason: ExitReason | "detached" | "signal" | "session-limit" | "app-exit" | "app-quit";
  /** Set when the publisher's session limit ended the run. */
  notice?: string;
  saved?: { stateDir: string; kind: string; blocks: number; packBytes: number; newBytes: number; ms: number };
}

export async function runBundle(file: string, assets: EngineAssets, opts: RunOptions): Promise<RunResult> {
  const mark = (name: string) => opts.timings && (opts.timings[name] = Math.round(performance.now() * 10) / 10);
  const host = new GuestHost(assets.worker);
  const modulePromise = WebAssembly.compile(assets.wasm);
  const bundle = await openSnapshot(file, { unlock: opts.unlock }).catch(async (e) => {
    await host.stop();
    throw e;
  });
  let source: SnapshotSource = bundle;
  const state = await openStateDir(file, opts.stateDir).catch(async (e) => {
    await host.stop();
    await bundle.close();
    throw e;
  });
  if (state.notice) opts.stderr.write(`${state.notice}\n`);
  let restoreHandlers = () => {};
  try {
    // Names this exact bundle (resume points and the usage ledger belong to it). A bundle's TOC
    // already holds its manifest's hash; only a snapshot folder needs hashing.
    const bundleManifestSha256 = (bundle as Partial<BundleSource>).toc?.manifest.sha256 ?? sha256Hex(serializeManifest(bundle.manifest));
    // A thin bundle may run a newer signed version published since (`--update`); the usage
    // ledger stays with the file, resume points with the version.
    const version = await chooseVersion(bundle, bundleManifestSha256, { stateDir: state.path, update: opts.update ?? false, engine: assets.identity, requireSigner: opts.requireSigner, say: (l) => opts.stderr.write(`${l}\n`) });
    // Signature and restrictions come first: nothing of the guest runs before they pass.
    const gate = await enforceLaunch({
      appId: bundleManifestSha256,
      manifest: version.manifest,
      manifestBytes: version.manifestBytes,
      signature: version.signature,
      location: file,
      requireSigner: opts.requireSigner,
      stateDir: state.path,
      appPath: file,
      now: new Date(),
    });
    // A damaged resume point is moved aside (kept for inspection) and the bundle's state is used.
    const opened = opts.fresh ? {} : await openResumePoint(state.path);
    if (opened.notice) opts.stderr.write(`${opened.notice}\n`);
    let previous: ResumePoint | undefined = opened.point;
    if (previous && previous.bundleManifestSha256 !== version.sha256) {
      // Made by another version (the file was replaced, or updated): kept aside, never lost.
      const aside = await setAsideResumePoint(state.path, previous, "other-version");
      opts.stderr.write(`vmsfx: the changes saved in ${state.path} belong to another version of this app; they were moved to ${aside}, and this version starts from its own state.\n`);
      previous = undefined;
    }
    // A thin bundle reads what it lacks from its remotes, through a verified cache in the state folder.
    const remotes = version.manifest.remotes;
    const thin = bundle.kind === "bundle" && remotes ? openRemoteBacked(version.source as unknown as BundleSource, remotes, path.join(state.path, "cache")) : undefined;
    const base = thin ?? version.source;
    source = base;
    if (previous && bundle.kind === "bundle") source = guardPackBlocks(await openLayeredSource(base as unknown as BundleSource, previous, state.path), previous, state.path);
    mark("opened");
    const m = source.manifest;
    const coldBoot = opts.fresh || previous?.kind === "powered-off";
    if (m.app && previous?.kind === "suspended" && opts.args?.length) opts.stderr.write("vmsfx: the app is still running where you left it, so the arguments after -- were not used; quit the app first to start it with them.\n");
    if (!coldBoot) checkEngineIdentity(m.engine, assets.identity, file);
    if (thin) {
      const local = new Set(Object.keys(previous?.pack?.blocks ?? {}));
      const got = await thin.prefetch(blocksNeededBeforeRun(m, coldBoot, local));
      mark("fetched");
      if (opts.timings) opts.timings.fetchedBytes = got.bytes;
    }
    const reader = await BlockReader.open(source);
    const disks: Partial<Record<DiskSlot, OverlayDisk>> = {};
    for (const d of m.disks) {
      const read = baseReader(reader, d.map);
      const onRead = opts.onDiskRead;
      disks[d.slot] = new OverlayDisk(d.map.size, d.map.blockSize, onRead ? (i) => (onRead(d.slot, i), read(i)) : read);
    }
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
    // Attached before the guest runs, so its first lines (clock, entropy, size, the app's
    // arguments) reach the resumed agent at once without the resume waiting for it.
    let appStatus = 0;
    let closeConsole = () => {};
    const agent = attachGuestAgent(host, {
      args: opts.args,
      coldBoot,
      terminal: opts.stdout,
      app: m.app ? { term: process.env.TERM } : undefined,
      onStarted: () => mark("appStarted"),
      onExit: (status, detached) => {
        mark("appExited");
        appStatus = status;
        // Everything the app wrote came before this; what follows is the guest's shell.
        closeConsole();
        // An app whose data disk is off keeps only that disk: the next launch is as fast as this one.
        finish(m.app && detached ? "app-quit" : "app-exit");
      },
    });
    // The guest sees a failed read as a bad sector; the user is told why, once per disk region.
    const told = new Set<string>();
    host.on("disk-error", (slot, offset, e) => {
      const where = `${slot}:${Math.floor(offset / (m.disks.find((d) => d.slot === slot)?.map.blockSize ?? 1))}`;
      if (told.has(where)) return;
      told.add(where);
      opts.stderr.write(`\r\nvmsfx: the guest got an I/O error reading its disk ${slot} at byte ${offset}: ${e.message} [${e.code}]\r\n`);
    });

    // What the guest's app set on the user's terminal: undone when the launcher leaves it running.
    const modes = new TerminalModes();
    let inputGate: Promise<void> | undefined;
    if (coldBoot) {
      inputGate = (await coldBootGuest(host, await modulePromise, machine, disks, reader, m, file)).ready;
    } else {
      const created = modulePromise.then((module) => {
        mark("wasmCompiled");
        return host.create(module, machine, disks).then((workerMarks) => {
          if (opts.timings) Object.assign(opts.timings, workerMarks);
          mark("engineCreated");
        });
      });
      // If verifying a block fails first, that error is the one to report; this one is moot.
      created.catch(() => undefined);
      host.sendPresence(presenceOf(m.memory), presenceOf(m.vgaMemory));
      const send = host.sendImage.bind(host);
      const deviceState = await readWhole(reader, m.state);
      mark("zstdReady");
      await streamImage(reader, m.memory, "ram", send);
      await streamImage(reader, m.vgaMemory, "vga", send);
      mark("verified");
      await created;
      mark("engineReady");
      const { agentListening } = await host.restore(deviceState);
      // Piped input waits (at most 2 s) until the agent has set the clock and reseeded, so a
      // script's first command never sees the capture's clock or random state.
      if (agentListening) inputGate = agent.freshened(2000);
      // An app gets its input once it runs, not the console before it (10 s: a slow machine).
      if (m.app && previous?.kind !== "suspended") inputGate = agent.started(10_000);
      // With arguments the user asked for the app's output, not the screen they left.
      if (!opts.args) {
        opts.stdout.write(m.console.tail);
        modes.push(Buffer.from(m.console.tail, "latin1"));
      }
    }
    mark("running");

    const bridge = attachConsole(host, { stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr, onDetach: () => finish("detached"), inputGate, resumedScreen: coldBoot ? undefined : m.console.tail, appStarting: !coldBoot && !!m.app && previous?.kind !== "suspended", promptPattern: m.boot?.ready ? new RegExp(m.boot.ready) : undefined, detachAtEndOfInput: !opts.stayAfterInput && !opts.args?.length });
    closeConsole = () => bridge.close();
    // Loaded only when asked for: a plain run does not even load the web server.
    const gui = opts.gui ? await (await import("../gui/gui-session")).startGui(host, { ...opts.gui, title: m.guest.name, consoleTail: coldBoot ? undefined : m.console.tail, onSuspend: () => finish("detached"), stdout: opts.stdout, stderr: opts.stderr }) : undefined;
    // What the user last saw, redrawn when this resume point is resumed.
    const screen = new SerialTail(1024);
    host.on("serial", (b) => {
      screen.push(b);
      modes.push(b);
    });
    // A signal asks for a suspend; once saving has begun, further signals wait for it to finish
    // (a kill -9 is still safe: the previous resume point stays until the new one is complete).
    const sessionTimer = gate.sessionLimitMs !== undefined ? setTimeout(() => finish("session-limit"), gate.sessionLimitMs) : undefined;
    const runTimer = opts.maxRunMs !== undefined ? setTimeout(() => finish("detached"), opts.maxRunMs) : undefined;
    const onSignal = () => finish("signal");
    const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
    for (const s of signals) process.on(s, onSignal);
    const closedBefore = outputClosed.handle;
    restoreHandlers = () => {
      for (const s of signals) process.off(s, onSignal);
      outputClosed.handle = closedBefore;
    };
    // The reader went away (`| grep -q`): no more input goes in, and the guest is suspended once
    // the line it already got has run, so the next launch does not start by running it.
    let outputGoneTimer: NodeJS.Timeout | undefined;
    outputClosed.handle = () => {
      if (outputGoneTimer) return;
      outputGoneTimer = setTimeout(() => finish("signal"), OUTPUT_GONE_GRACE_MS);
      bridge.outputGone(() => finish("signal"));
    };
    const reason = await finished;
    mark("finished");
    clearTimeout(sessionTimer);
    clearTimeout(runTimer);
    clearTimeout(outputGoneTimer);
    // Piped lines the guest never ran because it shut down, or the app quit, before reading them.
    const unread = reason === "poweroff" || reason === "reboot" || reason === "app-quit" ? bridge.unread() : { lines: 0 };
    bridge.close();
    // A suspended app keeps its screen for the next launch; the user's own terminal gets its modes back.
    if (bridge.interactive && reason !== "app-quit" && reason !== "app-exit") opts.stdout.write(modes.undo());
    agent.close();
    await gui?.close(reason === "poweroff" || reason === "reboot" ? "The guest has shut down." : "The guest is suspended; run the app again to continue where it stopped.");
    await host.flushDisks();
    if (fatal) throw fatal;

    // A resume point keeps whole blocks: sectors the guest wrote while a thin bundle's block
    // could not be fetched are completed now, or the session cannot be kept (the previous stays).
    for (const d of m.disks) {
      const disk = disks[d.slot]!;
      const partial = disk.partialBlocks;
      await disk.completePartial().catch((e: unknown) => {
        const why = e instanceof VmsfxError ? e : new VmsfxError("VMSFX_IO", String(e));
        throw new VmsfxError(why.code, `this session could not be saved: the guest changed part of ${partial} disk block${partial === 1 ? "" : "s"} whose rest could not be downloaded (${why.message}) The state saved before this session is kept.`);
      });
    }
    // Everything but a crash keeps the user's work: a shut-down guest keeps its disks, any other
    // exit (Ctrl-] q, a signal, the terminal closing) suspends the whole machine.
    const kind = reason === "app-quit" ? "quit" : reason === "poweroff" || reason === "reboot" ? "powered-off" : "suspended";
    const saved = await saveOnExit({
      kind,
      host,
      base: m,
      coldBooted: coldBoot,
      disks: m.disks.map((entry) => ({ entry, disk: disks[entry.slot]! })),
      stateDir: state.path,
      bundleManifest: version.manifest,
      bundleManifestSha256: version.sha256,
      previous,
      consoleLine: modes.redo() + screen.currentLine(),
      cipher: bundle.cipher,
    });
    const notice = reason === "session-limit" && gate.policy ? sessionLimitMessage(gate.policy) : undefined;
    const saveInfo = { stateDir: state.path, kind, ...saved };
    if (unread.lines > 0) {
      const e = inputNotRead(unread, reason === "app-quit");
      return { exitCode: e.exitCode, reason, notice: `vmsfx: ${e.message} [${e.code}]`, saved: saveInfo };
    }
    return { exitCode: reason === "signal" ? 130 : reason === "app-exit" || reason === "app-quit" ? appStatus : 0, reason, notice, saved: saveInfo };
  } finally {
    restoreHandlers();
    await host.stop();
    await source.close();
    if (source !== bundle) await bundle.close().catch(() => undefined);
    await state.release();
  }
}

/**
 * How long a launch whose output's reader has gone waits for the guest to finish the line it was
 * already given and show its prompt, before it suspends the guest wherever it is.
 */
const OUTPUT_GONE_GRACE_MS = 5000;

/** Piped lines the guest never ran because it shut down first: said, never silently dropped. */
function inputNotRead(unread: UnreadInput, app: boolean): VmsfxError {
  const lines = unread.lines === 1 ? "1 line" : `${unread.lines} lines`;
  const first = unread.first === undefined ? "" : `, starting with ${JSON.stringify(unread.first.slice(0, 80))}`;
  return new VmsfxError("VMSFX_INPUT_NOT_READ", `the ${app ? "app quit" : "guest shut down"} before it read all of its input: ${lines}${first} did not run. Its ${app ? "data is" : "disks are"} kept; run the app again with the rest of the input.`);
}

/** Cold boot: the bundle's own BIOS, kernel and initrd; piped input waits for the ready pattern. */
async function coldBootGuest(host: GuestHost, module: WebAssembly.Module, machine: MachineSpec, disks: Partial<Record<DiskSlot, OverlayDisk>>, reader: BlockReader, m: Manifest, file: string): Promise<{ ready?: Promise<void> }> {
  if (!m.boot) throw new VmsfxError("VMSFX_MANIFEST_INVALID", `${file}: this bundle carries no boot files, so it cannot be cold-booted. Run it without --fresh.`);
  const boot = {
    bios: await readWhole(reader, m.boot.bios),
    vgaBios: await readWhole(reader, m.boot.vgaBios),
    kernel: await readWhole(reader, m.boot.kernel),
    initrd: m.boot.initrd ? await readWhole(reader, m.boot.initrd) : undefined,
    cmdline: m.boot.cmdline,
  };
  const ready = m.boot.ready ? waitForPattern(host, new RegExp(m.boot.ready), 120_000) : undefined;
  await host.create(module, machine, disks, boot);
  return { ready };
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
