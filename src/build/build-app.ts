import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError } from "../errors";
import type { EngineAssets } from "../engine/engine-assets";
import { capture, type CaptureResult } from "../snapshot/capture";
import type { Recipe } from "../snapshot/recipe";
import { appScript, resolveLaunch, type AppLaunch } from "./app-launch";
import type { AppSpec } from "./app-spec";
import { appTrial, type TrialPhase } from "./app-trial";
import { debianRootfs } from "./debian-rootfs";
import { ext4FromTar } from "./disk-image";
import { writeBusyboxRoot } from "./busybox-root";
import { writeFilesLayer } from "./files-layer";
import { imageLayers, mergeLayers, tarFileLayer, type TarLayer } from "./flat-rootfs";
import { guestBase, type GuestBase } from "./guest-base";
import { openOciImage, type OciImage } from "./oci-image";

/**
 * `vmsfx build`: an app spec becomes a snapshot folder, in named stages — the guest base, the
 * app's file system (Debian packages, an OCI image, the spec's files), its two disks (the
 * read-only root and the data disk), a cold boot with a trial run of the app, and the capture.
 */

export interface BuildOptions {
  out: string;
  /** The user's vmsfx cache (`~/.cache/vmsfx`): the guest base, packages and rootfs tars. */
  cacheDir: string;
  level: number;
  blockSize: number;
  diskBlockSize: number;
  /** Seconds since the epoch for every file time in the disks (reproducible bytes). */
  epoch: number;
  onPhase?: (phase: BuildPhase, detail?: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** Tool output (mmdebstrap, the base's build) and the guest console, with --verbose. */
  onLog?: (text: string) => void;
  /**
   * Also keep the app's two disk images here, with machine.json naming the base's boot files:
   * what another emulator (the benchmark's peers, a publisher debugging) needs to boot the app.
   */
  keepDisks?: string;
}

export type BuildPhase = "guest base" | "packages" | "image" | "files" | "disks" | TrialPhase | "saving" | "writing blocks";

export interface BuildResult extends CaptureResult {
  launch: AppLaunch;
  rootBytes: number;
}

// Fixed UUIDs and superblock times (the file times inside still come from the build: not yet
// reproducible byte for byte).
const ROOT_UUID = "6d5f1c2e-0b7d-4e08-8c3a-76d6d5f1a001";
const DATA_UUID = "6d5f1c2e-0b7d-4e08-8c3a-76d6d5f1a002";

/** What the build host must be, said before anything is downloaded. */
export function checkBuildHost(spec: AppSpec): void {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new VmsfxError("VMSFX_BUILD_FAILED", `vmsfx build runs on a Linux x86-64 host (this is ${process.platform}-${process.arch}): it runs the guest's i386 programs while it builds. The executables it makes run anywhere.`);
  }
  if (spec.packages.length && process.getuid?.() !== 0) {
    throw new VmsfxError("VMSFX_BUILD_FAILED", `${spec.file}: installing Debian packages runs their maintainer scripts, which needs root: run vmsfx build as root (for example with sudo).`);
  }
}

export async function buildApp(spec: AppSpec, assets: EngineAssets, opts: BuildOptions): Promise<BuildResult> {
  checkBuildHost(spec);
  const existing = await fsp.readdir(opts.out).catch(() => []);
  if (existing.length > 0) throw new VmsfxError("VMSFX_IO", `${opts.out} exists and is not empty. Choose a new folder for the snapshot, or remove it.`);
  await fsp.mkdir(opts.out, { recursive: true });
  const work = await fsp.mkdtemp(path.join(path.dirname(path.resolve(opts.out)), ".vmsfx-build-"));
  let image: OciImage | undefined;
  try {
    opts.onPhase?.("guest base");
    const base = await guestBase(opts.cacheDir, (l) => opts.onLog?.(`${l}\n`));
    const layers: TarLayer[] = [];
    if (spec.packages.length) {
      opts.onPhase?.("packages", spec.packages.join(" "));
      const tar = await debianRootfs({ packages: spec.packages, cacheDir: opts.cacheDir, onLine: (l) => opts.onLog?.(`${l}\n`) });
      layers.push(tarFileLayer(tar, "the Debian packages"));
    }
    if (!spec.packages.length && !spec.image) {
      const tar = path.join(work, "busybox.tar");
      await writeBusyboxRoot(base, tar, opts.epoch);
      layers.push(tarFileLayer(tar, "the busybox root"));
    }
    if (spec.image) {
      opts.onPhase?.("image", spec.image.path);
      image = await openOciImage(spec.image.path);
      layers.push(...imageLayers(image));
    }
    if (spec.files.length) {
      opts.onPhase?.("files");
      const tar = path.join(work, "files.tar");
      await writeFilesLayer(spec.files, tar, opts.epoch, spec.file);
      layers.push(tarFileLayer(tar, "the spec's files"));
    }
    const disks = await makeDisks(spec, image, layers, work, opts);
    await fsp.rm(opts.out, { recursive: true, force: true });
    const r = await capture(recipeFor(spec, base, disks), assets, {
      out: opts.out,
      blockSize: opts.blockSize,
      diskBlockSize: opts.diskBlockSize,
      level: opts.level,
      echo: opts.onLog ? (b) => opts.onLog!(Buffer.from(b).toString("latin1")) : undefined,
      untilReady: appTrial(spec.ready, spec.file, (p) => opts.onPhase?.(p)),
      onPhase: (p) => (p === "saving" || p === "writing blocks") && opts.onPhase?.(p),
      onProgress: opts.onProgress,
      app: { protocol: 2, dataDisk: "hdb", data: spec.data, ...(spec.ports.length ? { ports: spec.ports } : {}), ...(spec.open ? { open: spec.open } : {}), ...(spec.outbound.length ? { outbound: spec.outbound } : {}) },
      readyPattern: "serial" in spec.ready ? spec.ready.serial : null,
    });
    if (opts.keepDisks) await keepDisks(opts.keepDisks, spec, base, disks);
    return { ...r, launch: disks.launch, rootBytes: disks.rootBytes };
  } finally {
    await image?.close();
    await fsp.rm(work, { recursive: true, force: true });
  }
}

interface AppDisks {
  root: string;
  data: string;
  launch: AppLaunch;
  rootBytes: number;
}

async function makeDisks(spec: AppSpec, image: OciImage | undefined, layers: TarLayer[], work: string, opts: BuildOptions): Promise<AppDisks> {
  opts.onPhase?.("disks");
  const rootTar = path.join(work, "root.tar");
  const dataTar = path.join(work, "data.tar");
  let launch: AppLaunch | undefined;
  const merged = await mergeLayers(layers, {
    root: rootTar,
    data: { paths: spec.data, out: dataTar },
    finish: async (view) => {
      const l = (launch = await resolveLaunch(spec, image?.defaults, view));
      // A data folder the files do not have yet belongs to the app's user, as a container
      // runtime makes a volume's folder: the app must be able to keep its work there.
      const folders = spec.data.filter((d) => !view.tree.get(view.tree.follow(d))).map((d) => ({ path: d, mode: 0o755, uid: l.uid, gid: l.gid }));
      return [...folders, appScript(l)];
    },
  });
  const root = path.join(work, "root.img");
  const data = path.join(work, "data.img");
  await ext4FromTar(rootTar, root, { sizeMiB: spec.diskMiB, label: "vmsfx-root", uuid: ROOT_UUID, epoch: opts.epoch });
  await ext4FromTar(dataTar, data, { sizeMiB: spec.dataMiB, label: "vmsfx-data", uuid: DATA_UUID, epoch: opts.epoch });
  await fsp.rm(rootTar);
  await fsp.rm(dataTar);
  return { root, data, launch: launch!, rootBytes: merged.bytes };
}

async function keepDisks(dir: string, spec: AppSpec, base: GuestBase, disks: AppDisks): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  await fsp.rename(disks.root, path.join(dir, "root.img"));
  await fsp.rename(disks.data, path.join(dir, "data.img"));
  const { memoryMiB, vgaMemoryMiB, kernel, initrd, bios, vgaBios, cmdline } = recipeFor(spec, base, disks);
  const machine = {
    about: "The app's guest for another emulator: boot these files, then send `start` lines on the second serial port until the app's console shows up (docs/guest-agent.md, protocol 2).",
    memoryMiB,
    vgaMemoryMiB,
    kernel,
    initrd,
    bios,
    vgaBios,
    cmdline,
    hda: path.join(dir, "root.img"),
    hdb: path.join(dir, "data.img"),
    ready: "serial" in spec.ready ? spec.ready.serial.source : null,
  };
  await fsp.writeFile(path.join(dir, "machine.json"), `${JSON.stringify(machine, null, 2)}\n`);
}

function recipeFor(spec: AppSpec, base: GuestBase, disks: AppDisks): Recipe {
  return {
    name: spec.name,
    description: spec.description,
    icon: spec.icon,
    memoryMiB: spec.memoryMiB,
    vgaMemoryMiB: 8,
    ...(spec.ports.length || spec.outbound.length ? { nic: "virtio" as const } : {}),
    kernel: base.kernel,
    initrd: base.initrd,
    bios: base.bios,
    vgaBios: base.vgaBios,
    cmdline: base.cmdline,
    disks: [
      { slot: "hda", image: disks.root },
      { slot: "hdb", image: disks.data },
    ],
    // The trial decides readiness; this only bounds the whole boot.
    ready: { serial: /(?!)/, timeoutSeconds: spec.ready.timeoutSeconds },
    file: spec.file,
  };
}
