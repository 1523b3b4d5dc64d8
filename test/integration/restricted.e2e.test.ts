import { beforeAll, describe, expect, it, inject } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { CLI, vmsfx, type CliResult } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { FOOTER_FROM_END } from "../../src/snapshot/bundle-layout";
import { DEADLINE } from "../helpers/deadlines";

/** Restricted trial snapshots, end to end through the real CLI. */

let dir: string;
let key: string;
let otherKey: string;

function policyFile(name: string, policy: object): string {
  const f = path.join(dir, `${name}.json`);
  writeFileSync(f, JSON.stringify(policy));
  return f;
}

async function packed(name: string, args: string[]): Promise<string> {
  const out = path.join(tempDir(), `${name}.vmsfx`);
  const r = await vmsfx(["pack", inject("snapshotDir"), "-o", out, "-q", ...args], { timeoutMs: DEADLINE.launch });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return out;
}

function refused(r: CliResult, code: string, exit: number): void {
  expect(r.stderr).toMatch(new RegExp(`\\[${code}\\]`));
  expect(r.code).toBe(exit);
  expect(r.stdout).toBe(""); // nothing of the guest ran
}

beforeAll(async () => {
  dir = tempDir("vmsfx-restricted-");
  // The ledger's second copy lives in the user's data folder, keyed by the app: a second run of
  // the suite on the same capture found the first run's launches there and refused at once.
  process.env.XDG_DATA_HOME = path.join(dir, "data-home");
  key = path.join(dir, "publisher.key");
  otherKey = path.join(dir, "other.key");
  expect((await vmsfx(["keygen", "-o", key])).code).toBe(0);
  expect((await vmsfx(["keygen", "-o", otherKey])).code).toBe(0);
});

describe("signatures", () => {
  it("keygen writes a private key only its owner can read, and never overwrites one", async () => {
    const { statSync } = await import("node:fs");
    expect(statSync(key).mode & 0o777).toBe(0o600);
    refused(await vmsfx(["keygen", "-o", key]), "VMSFX_IO", 4);
  });

  it("a signed bundle runs; with --require-signer another publisher's key is refused", async () => {
    const app = await packed("signed", ["--sign", key]);
    expect((await vmsfx(["run", app, "--require-signer", `${key}.pub`], { input: "poweroff\n" })).code).toBe(0);
    refused(await vmsfx(["run", app, "--require-signer", `${otherKey}.pub`], { input: "poweroff\n" }), "VMSFX_SIGNER_MISMATCH", 49);
  });

  it("an unsigned bundle is refused when a signer is required", async () => {
    refused(await vmsfx(["run", inject("bundlePath"), "--require-signer", `${key}.pub`], { input: "poweroff\n" }), "VMSFX_SIGNATURE_INVALID", 48);
  });

  it("tampering with each part of a signed bundle is refused with its code", async () => {
    const app = await packed("tamper", ["--sign", key, "--policy", policyFile("five", { maxLaunches: 5 })]);
    const b = await openBundle(app);
    const sigAt = b.toc.signature!.offset + 20;
    const blockAt = b.entry(b.manifest.memory.blocks.find((h) => h)!)!.offset + 9;
    const places: [string, number, string, number][] = [
      ["manifest byte", b.toc.manifest.offset + 30, "VMSFX_BUNDLE_CORRUPT", 12],
      ["block byte", blockAt, "VMSFX_BLOCK_HASH_MISMATCH", 13],
      ["signature", sigAt, "VMSFX_SIGNATURE_INVALID", 48],
      ["toc", b.footer.tocOffset + 100, "VMSFX_BUNDLE_CORRUPT", 12],
      ["footer", b.fileSize - FOOTER_FROM_END + 20, "VMSFX_BUNDLE_CORRUPT", 12],
    ];
    await b.close();
    const bytes = readFileSync(app);
    for (const [what, at, code, exit] of places) {
      const copy = Buffer.from(bytes);
      copy[at] ^= 0x01;
      const f = path.join(tempDir(), "t.vmsfx");
      writeFileSync(f, copy);
      const r = await vmsfx(["run", f], { input: "poweroff\n" });
      expect([what, r.code, r.stderr.match(/\[(VMSFX_\w+)\]/)?.[1]]).toEqual([what, exit, code]);
    }
  });

  it("a manifest edited and re-signed with another key is caught by --require-signer", async () => {
    const app = await packed("resigned", ["--sign", otherKey, "--policy", policyFile("many", { maxLaunches: 1000 })]);
    refused(await vmsfx(["run", app, "--require-signer", `${key}.pub`], { input: "poweroff\n" }), "VMSFX_SIGNER_MISMATCH", 49);
  });

  it("pack refuses restrictions without a signature", async () => {
    const r = await vmsfx(["pack", inject("snapshotDir"), "-o", path.join(tempDir(), "x.vmsfx"), "--policy", policyFile("p", { maxLaunches: 1 })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--sign");
  });
});

describe("restrictions", () => {
  it("counts launches across runs and refuses the one past the limit, with the publisher's message", async () => {
    const app = await packed("two", ["--sign", key, "--policy", policyFile("two", { maxLaunches: 2, message: "Thanks for trying!", url: "https://example.com/buy" })]);
    expect((await vmsfx(["run", app], { input: "poweroff\n" })).code).toBe(0);
    expect((await vmsfx(["run", app], { input: "poweroff\n" })).code).toBe(0);
    const third = await vmsfx(["run", app], { input: "poweroff\n" });
    refused(third, "VMSFX_POLICY_LAUNCH_LIMIT", 43);
    expect(third.stderr).toContain("Thanks for trying! https://example.com/buy");
  });

  it("refuses an expired snapshot and one not valid yet", async () => {
    refused(await vmsfx(["run", await packed("old", ["--sign", key, "--policy", policyFile("old", { notAfter: "2020-01-01T00:00:00Z" })])], { input: "poweroff\n" }), "VMSFX_POLICY_EXPIRED", 42);
    refused(await vmsfx(["run", await packed("future", ["--sign", key, "--policy", policyFile("future", { notBefore: "2999-01-01T00:00:00Z" })])], { input: "poweroff\n" }), "VMSFX_POLICY_NOT_YET_VALID", 41);
  });

  it("runs only on the listed machines", async () => {
    const mine = (await vmsfx(["fingerprint"])).stdout.trim();
    expect(mine).toMatch(/^[0-9a-f]{32}$/);
    expect((await vmsfx(["run", await packed("here", ["--sign", key, "--policy", policyFile("here", { machines: [mine] })])], { input: "poweroff\n" })).code).toBe(0);
    refused(await vmsfx(["run", await packed("there", ["--sign", key, "--policy", policyFile("there", { machines: ["0".repeat(32)] })])], { input: "poweroff\n" }), "VMSFX_POLICY_MACHINE", 44);
  });

  it("a deleted usage record is noticed while the saved state remains", async () => {
    const home = tempDir("vmsfx-home-");
    const app = await packed("counted", ["--sign", key, "--policy", policyFile("three", { maxLaunches: 3 })]);
    expect((await vmsfx(["run", app], { input: "poweroff\n", env: { XDG_DATA_HOME: home } })).code).toBe(0);
    const { rmSync } = await import("node:fs");
    rmSync(path.join(app.replace(/\.vmsfx$/, ".vmsfx-state"), "ledger.json"));
    rmSync(path.join(home, "vmsfx", "ledgers"), { recursive: true });
    refused(await vmsfx(["run", app], { input: "poweroff\n", env: { XDG_DATA_HOME: home } }), "VMSFX_LEDGER_TAMPERED", 47);
  });

  it("at the session limit the guest is suspended, saved, and the user is told why", async () => {
    const app = await packed("short", ["--sign", key, "--policy", policyFile("short", { maxSessionMinutes: 0.02 })]);
    const child = spawn(process.execPath, [CLI, "run", app]);
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.resume();
    child.stdin.write("echo still-here\n"); // stdin stays open: only the limit ends the session
    const code = await new Promise((r) => child.on("close", r));
    expect(code).toBe(0);
    expect(stderr).toMatch(/session reached its limit/);
    expect(stderr).toContain("suspended");
  });
});

describe("encryption", () => {
  it("needs the passphrase: shows only the public header without it, refuses a wrong one, runs with the right one", async () => {
    const pass = path.join(dir, "pass.txt");
    writeFileSync(pass, "open sesame\n");
    const wrong = path.join(dir, "wrong.txt");
    writeFileSync(wrong, "open says me\n");
    const app = await packed("secret", ["--encrypt", "--passphrase-file", pass, "--sign", key]);
    const info = JSON.parse((await vmsfx(["inspect", app, "--json"])).stdout);
    expect(info).toMatchObject({ encrypted: true, public: { guest: "shell" } });
    expect(JSON.stringify(info)).not.toContain("memory");
    refused(await vmsfx(["run", app], { input: "poweroff\n" }), "VMSFX_PASSPHRASE_NEEDED", 50);
    refused(await vmsfx(["run", app, "--passphrase-file", wrong], { input: "poweroff\n" }), "VMSFX_WRONG_PASSPHRASE", 51);
    const ok = await vmsfx(["run", app, "--passphrase-file", pass, "--require-signer", `${key}.pub`], { input: "cat /mnt/hello.txt\npoweroff\n" });
    expect(ok.stdout).toContain("hello from the vmsfx sample disk");
    expect(ok.code).toBe(0);
    expect((await vmsfx(["verify", app, "--passphrase-file", pass])).code).toBe(0);
  });
});
