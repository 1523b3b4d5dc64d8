import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";

/**
 * An ext4 disk image made from a file-system tar (a Debian rootfs, or an image's merged tree):
 * the tar is unpacked into a scratch folder and `mke2fs -d` copies it into the image, owners,
 * modes and device nodes included. Unpacking keeps owners only as root, so elsewhere both steps
 * run in one fakeroot session (Debian's fakeroot). The tar must be one we trust to unpack: our own
 * merged tree (no `..`, no entry under a symlink) or mmdebstrap's output.
 */

export interface Ext4Options {
  sizeMiB: number;
  label: string;
  /** Fixed for reproducible bytes (also the directory hash seed). */
  uuid: string;
  /** Seconds since the epoch for the superblock's times. */
  epoch: number;
}

export async function ext4FromTar(tar: string, out: string, opts: Ext4Options): Promise<void> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(opts.uuid)) throw new VmsfxError("VMSFX_USAGE", `not a UUID: ${opts.uuid}`);
  if (!/^[A-Za-z0-9._-]{1,16}$/.test(opts.label)) throw new VmsfxError("VMSFX_USAGE", `not an ext4 label: ${opts.label}`);
  const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), "vmsfx-disk-"));
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    const tree = path.join(scratch, "tree");
    await fsp.mkdir(tree);
    await fsp.writeFile(tmp, "");
    await fsp.truncate(tmp, opts.sizeMiB * 1024 * 1024);
    // lazy_*_init=0: the guest kernel would otherwise zero inode tables and journal in the
    // background, and those writes would land in every snapshot.
    const script = 'tar --numeric-owner -xpf "$1" -C "$2" && mke2fs -q -F -t ext4 -L "$3" -U "$4" -E "root_owner=0:0,hash_seed=$4,lazy_itable_init=0,lazy_journal_init=0" -d "$2" "$5"';
    const argv = ["sh", "-c", script, "sh", tar, tree, opts.label, opts.uuid, tmp];
    const asRoot = process.getuid?.() === 0;
    await runTool(asRoot ? argv[0] : "fakeroot", asRoot ? argv.slice(1) : argv, { E2FSPROGS_FAKE_TIME: String(opts.epoch) }, opts.sizeMiB);
    const fh = await fsp.open(tmp, "r+");
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, out).catch((e) => Promise.reject(fromFsError(e, out, "writing the disk image")));
  } finally {
    await fsp.rm(tmp, { force: true });
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}

async function runTool(cmd: string, args: string[], env: Record<string, string>, sizeMiB: number): Promise<void> {
  let err = "";
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    child.stderr.on("data", (d) => (err = (err + d).slice(-4000)));
    child.on("error", (e: NodeJS.ErrnoException) => reject(e.code === "ENOENT" ? new VmsfxError("VMSFX_FILE_NOT_FOUND", `${cmd} is not installed: making the app's disk image needs it (sudo apt-get install ${cmd === "fakeroot" ? "fakeroot" : "e2fsprogs"}).`) : e));
    child.on("close", resolve);
  });
  if (code === 0) return;
  if (/Could not allocate block|No space left|too many files|Could not allocate inode/i.test(err)) {
    throw new VmsfxError("VMSFX_BUILD_FAILED", `the app's files do not fit in a ${sizeMiB} MiB disk; raise "diskMiB" in the app spec. (mke2fs: ${err.trim().split("\n").pop()})`);
  }
  throw new VmsfxError("VMSFX_BUILD_FAILED", `could not make the app's disk image (exit ${code}): ${err.trim().split("\n").slice(-5).join(" / ")}`);
}
