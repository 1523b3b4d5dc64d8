import { spawn } from "node:child_process";
import * as path from "node:path";
import { VmsfxError } from "../errors";

/**
 * The guest base every app runs on (build-scripts/guest-base.sh): Debian's i386 kernel, SeaBIOS,
 * and an initramfs with busybox, vmsfx's /init, the guest agent and the session helper. Built
 * once into the user's cache and rebuilt only when its inputs change, so every app built on one
 * machine shares the same kernel and initramfs blocks (they dedup in bundles, caches and thin
 * downloads).
 */

export interface GuestBase {
  dir: string;
  kernel: string;
  initrd: string;
  bios: string;
  vgaBios: string;
  cmdline: string;
}

/** v86 has no ACPI power-off and a slow PIT; these keep the boot short and quiet. */
const CMDLINE = "console=ttyS0 quiet tsc=reliable mitigations=off init_on_free=1 cryptomgr.notests noisapnp pnpbios=off";

export async function guestBase(cacheDir: string, onLine?: (line: string) => void, distDir: string = __dirname): Promise<GuestBase> {
  const script = path.join(distDir, "..", "build-scripts", "guest-base.sh");
  let tail = "";
  let printed = "";
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn("bash", [script, path.join(cacheDir, "guest-base")], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => (printed += d));
    child.stderr.setEncoding("utf8");
    let partial = "";
    child.stderr.on("data", (d: string) => {
      tail = (tail + d).slice(-4000);
      partial += d;
      const lines = partial.split("\n");
      partial = lines.pop()!;
      for (const l of lines) onLine?.(l);
    });
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) throw new VmsfxError("VMSFX_BUILD_FAILED", `building the guest base failed (exit ${code}). Its last lines:\n${tail.trim()}`);
  const dir = printed.trim().split("\n").pop() ?? "";
  return { dir, kernel: path.join(dir, "vmlinuz"), initrd: path.join(dir, "initrd.img"), bios: path.join(dir, "bios.bin"), vgaBios: path.join(dir, "vgabios.bin"), cmdline: CMDLINE };
}
