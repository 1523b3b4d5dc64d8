import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { fingerprintFrom, machineFingerprint, memoryClass, readFingerprintInputs } from "../../src/policy/fingerprint";

const BASE = { platform: "linux", machineId: "0123456789abcdef0123456789abcdef", cpuModel: "AMD EPYC 7B13", memoryBytes: 16 * 2 ** 30 };

describe("machine fingerprint", () => {
  const hasMachineId = existsSync("/etc/machine-id") || existsSync("/var/lib/dbus/machine-id") || process.platform !== "linux";

  it.runIf(hasMachineId)("is 32 hex digits and the same on every call", () => {
    const a = machineFingerprint();
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(machineFingerprint()).toBe(a);
    // Recomputed from scratch, not only the cached value.
    expect(fingerprintFrom(readFingerprintInputs())).toBe(a);
  });

  it.runIf(hasMachineId)("never contains the raw machine id", () => {
    const inputs = readFingerprintInputs();
    expect(machineFingerprint()).not.toContain(inputs.machineId.slice(0, 8));
  });

  it("depends on the machine id, the CPU model, the memory class and the platform", () => {
    const base = fingerprintFrom(BASE);
    expect(fingerprintFrom({ ...BASE, machineId: "f".repeat(32) })).not.toBe(base);
    expect(fingerprintFrom({ ...BASE, cpuModel: "Intel Xeon" })).not.toBe(base);
    expect(fingerprintFrom({ ...BASE, memoryBytes: 32 * 2 ** 30 })).not.toBe(base);
    expect(fingerprintFrom({ ...BASE, platform: "win32" })).not.toBe(base);
  });

  it("ignores what changes from boot to boot: exact memory size, spacing, id case", () => {
    const base = fingerprintFrom(BASE);
    expect(fingerprintFrom({ ...BASE, memoryBytes: 15.5 * 2 ** 30 })).toBe(base);
    expect(fingerprintFrom({ ...BASE, memoryBytes: 16 * 2 ** 30 - 300 * 2 ** 20 })).toBe(base);
    expect(fingerprintFrom({ ...BASE, cpuModel: "  AMD  EPYC 7B13 " })).toBe(base);
    expect(fingerprintFrom({ ...BASE, machineId: BASE.machineId.toUpperCase() })).toBe(base);
  });

  it("rounds memory to a power of two GiB", () => {
    expect(memoryClass(7.7 * 2 ** 30)).toBe(8);
    expect(memoryClass(23.5 * 2 ** 30)).toBe(32);
    expect(memoryClass(11 * 2 ** 30)).toBe(8);
    expect(memoryClass(0.5 * 2 ** 30)).toBe(0.5);
    expect(memoryClass(0)).toBe(0);
  });
});
