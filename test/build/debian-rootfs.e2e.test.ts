import { describe, expect, it } from "vitest";
import { statSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { debianRootfs } from "../../src/build/debian-rootfs";
import { hostTool } from "../helpers/host-tools";
import { readTar } from "./image-fixture";

/**
 * An app's file system from Debian i386 packages through Debian's mmdebstrap, with the host's
 * apt sources. Built once into the user's cache (a new clone reuses it, like the .debs), so only
 * the first run on a machine pays for it.
 */

const CACHE = process.env.VMSFX_DOWNLOAD_CACHE ?? path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "vmsfx");
const canBuild = !!hostTool("mmdebstrap") && process.getuid?.() === 0;

describe.skipIf(!canBuild)("Debian packages as an app's files (mmdebstrap, as root)", () => {
  it("sqlite3 with its dependencies resolved by Debian's tooling: i386 ELF files, no docs; a second build runs nothing", async () => {
    const lines: string[] = [];
    const tar = await debianRootfs({ packages: ["sqlite3"], cacheDir: CACHE, onLine: (l) => lines.push(l) });
    const entries = await readTar(tar);
    const names = new Set(entries.map((e) => e.name.replace(/^\.\//, "")));
    expect(names).toContain("usr/bin/sqlite3");
    expect([...names].some((n) => /^usr\/lib\/i386-linux-gnu\/libsqlite3\.so\.0/.test(n))).toBe(true); // a dependency nobody listed
    expect([...names].some((n) => n.startsWith("usr/share/doc/") && !n.endsWith("/"))).toBe(false);
    expect([...names].some((n) => n === "etc/resolv.conf" || n === "etc/hostname")).toBe(false);
    const elf = Buffer.from(entries.find((e) => e.name.replace(/^\.\//, "") === "usr/bin/sqlite3")!.data, "utf8");
    expect(elf.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    expect(elf[4]).toBe(1); // ELFCLASS32: an i386 program

    const before = statSync(tar).mtimeMs;
    const again = await debianRootfs({ packages: ["sqlite3", "sqlite3"], cacheDir: CACHE, onLine: () => expect.fail("a cached build must not run mmdebstrap") });
    expect(again).toBe(tar);
    expect(statSync(again).mtimeMs).toBe(before);
  });

  it("an unknown package is VMSFX_PACKAGE_UNKNOWN (exit 24), naming it", async () => {
    await expect(debianRootfs({ packages: ["sqlite3", "no-such-package-vmsfx"], cacheDir: CACHE })).rejects.toMatchObject({
      code: "VMSFX_PACKAGE_UNKNOWN",
      exitCode: 24,
      message: expect.stringMatching(/Debian has no i386 package "no-such-package-vmsfx"/),
    });
  });
});
