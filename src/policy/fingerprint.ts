import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import * as os from "node:os";
import { VmsfxError } from "../errors";

/**
 * A machine fingerprint for `machines` in a policy: 32 hex digits the user can send to a
 * publisher without sending anything that identifies the machine elsewhere.
 *
 * Inputs, and why:
 *  - the OS machine id (/etc/machine-id or /var/lib/dbus/machine-id on Linux, IOPlatformUUID on
 *    macOS, MachineGuid on Windows): the one identifier that is unique per installation and
 *    survives reboots, hostname changes and network changes. On its own it is the same on every
 *    VM or container cloned from one image, and a user can copy it onto another machine;
 *  - the CPU model and the installed memory, rounded to the nearest power of two GiB: these make a
 *    copied machine id not enough, and do not change from boot to boot (the exact memory size
 *    does: kernels reserve different amounts, hence the coarse rounding);
 *  - the platform, because the id comes from a different source on each one.
 * Left out: the hostname and MAC addresses (users and networks change them), the CPU count and
 * the Node architecture (containers, power settings and x64-on-arm translation change those).
 * The fingerprint changes when the OS is reinstalled, the CPU is replaced or the memory moves to
 * another power-of-two class; the publisher then has to issue a copy for the new fingerprint.
 *
 * The id is hashed with HMAC under a key of vmsfx's own, as machine-id(5) asks of applications,
 * so the fingerprint cannot be matched against the raw id; it is the same for every publisher.
 */

export interface FingerprintInputs {
  platform: string;
  machineId: string;
  cpuModel: string;
  memoryBytes: number;
}

const DOMAIN = "vmsfx machine fingerprint v1";
const GiB = 2 ** 30;

/** Installed memory as a power-of-two number of GiB (15.5 GiB with a graphics reservation → 16). */
export function memoryClass(bytes: number): number {
  if (!(bytes > 0)) return 0;
  return 2 ** Math.round(Math.log2(bytes / GiB));
}

export function fingerprintFrom(inputs: FingerprintInputs): string {
  const cpu = inputs.cpuModel.replace(/\s+/g, " ").trim();
  const material = JSON.stringify([inputs.platform, inputs.machineId.toLowerCase(), cpu, memoryClass(inputs.memoryBytes)]);
  return createHmac("sha256", DOMAIN).update(material, "utf8").digest("hex").slice(0, 32);
}

function linuxMachineId(): string | undefined {
  for (const file of ["/etc/machine-id", "/var/lib/dbus/machine-id"]) {
    try {
      const id = readFileSync(file, "utf8").trim().toLowerCase();
      // systemd writes "uninitialized" (or leaves the file empty) on a first boot not yet committed.
      if (/^[0-9a-f]{32}$/.test(id)) return id;
    } catch {
      // try the next location
    }
  }
  return undefined;
}

function commandOutput(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", timeout: 5000, stdio: ["ignore", "pipe", "ignore"], windowsHide: true });
  } catch {
    return undefined;
  }
}

function osMachineId(): string | undefined {
  if (process.platform === "darwin") {
    const out = commandOutput("/usr/sbin/ioreg", ["-rd1", "-c", "IOPlatformExpertDevice"]);
    return out?.match(/"IOPlatformUUID"\s*=\s*"([0-9A-Fa-f-]{36})"/)?.[1].toLowerCase();
  }
  if (process.platform === "win32") {
    const out = commandOutput("reg", ["query", "HKLM\\SOFTWARE\\Microsoft\\Cryptography", "/v", "MachineGuid", "/reg:64"]);
    return out?.match(/MachineGuid\s+REG_SZ\s+([0-9A-Fa-f-]{36})/)?.[1].toLowerCase();
  }
  return linuxMachineId();
}

/** Reads this machine's inputs; throws VMSFX_POLICY_MACHINE when the OS has no machine id. */
export function readFingerprintInputs(): FingerprintInputs {
  const machineId = osMachineId();
  if (machineId === undefined) {
    const where = process.platform === "linux" ? "/etc/machine-id is missing or empty; `systemd-machine-id-setup` (as root) creates it" : "the OS did not report its machine id";
    throw new VmsfxError("VMSFX_POLICY_MACHINE", `this machine cannot be identified (${where}), so a copy bound to machines cannot run here. Fix that, or ask the publisher for a copy that is not bound to machines.`);
  }
  return { platform: process.platform, machineId, cpuModel: os.cpus()[0]?.model ?? "", memoryBytes: os.totalmem() };
}

let cached: string | undefined;

/** This machine's fingerprint (computed once per process: on macOS and Windows it runs a command). */
export function machineFingerprint(): string {
  cached ??= fingerprintFrom(readFingerprintInputs());
  return cached;
}
