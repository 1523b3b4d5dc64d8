import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import * as tar from "tar-stream";
import { ext4FromTar } from "../../src/build/disk-image";
import { tempDir } from "../helpers/synthetic-snapshot";
import { packed } from "./image-fixture";

/** The app's disk image from a file-system tar, read back with e2fsprogs' own debugfs. */

const OPTS = { label: "vmsfx-app", uuid: "9a1f4c2e-5b7d-4e08-8c3a-76d6d5f1a001", epoch: 1704067200 };
const debugfs = (img: string, request: string) => execFileSync("debugfs", ["-R", request, img], { stdio: ["ignore", "pipe", "ignore"] }).toString();

async function tarFile(entries: { h: tar.Headers; data?: Buffer }[]): Promise<string> {
  const pack = tar.pack();
  for (const e of entries) pack.entry(e.h, e.data);
  const file = path.join(tempDir(), "rootfs.tar");
  writeFileSync(file, await packed(pack));
  return file;
}

describe("disk image from a file-system tar", () => {
  it("keeps owners, modes, links and device nodes", async () => {
    const t = await tarFile([
      { h: { name: "srv/", type: "directory", mode: 0o755 } },
      { h: { name: "srv/app", mode: 0o750, uid: 1000, gid: 1000 }, data: Buffer.from("#!/bin/sh\necho hi\n") },
      { h: { name: "srv/link", type: "symlink", linkname: "app" } },
      { h: { name: "dev/", type: "directory", mode: 0o755 } },
      { h: { name: "dev/null", type: "character-device", mode: 0o666, devmajor: 1, devminor: 3 } },
    ]);
    const img = path.join(tempDir(), "disk.img");
    await ext4FromTar(t, img, { ...OPTS, sizeMiB: 16 });
    expect(statSync(img).size).toBe(16 << 20);
    const app = debugfs(img, "stat /srv/app");
    expect(app).toMatch(/User:\s+1000\s+Group:\s+1000/);
    expect(app).toMatch(/Mode:\s+0750/);
    expect(debugfs(img, "cat /srv/app")).toBe("#!/bin/sh\necho hi\n");
    expect(debugfs(img, "stat /srv/link")).toMatch(/Fast link dest: "app"/);
    expect(debugfs(img, "stat /dev/null")).toMatch(/Type: character special/);
    expect(debugfs(img, "stats")).toMatch(/Filesystem volume name:\s+vmsfx-app/);
  });

  it("files that do not fit are VMSFX_BUILD_FAILED (exit 25), saying what to raise; nothing is left behind", async () => {
    const t = await tarFile([{ h: { name: "big", mode: 0o644 }, data: randomBytes(12 << 20) }]);
    const dir = tempDir();
    const img = path.join(dir, "disk.img");
    await expect(ext4FromTar(t, img, { ...OPTS, sizeMiB: 8 })).rejects.toMatchObject({ code: "VMSFX_BUILD_FAILED", exitCode: 25, message: expect.stringMatching(/do not fit in a 8 MiB disk; raise "diskMiB"/) });
    expect(() => statSync(img)).toThrow();
  });
});
