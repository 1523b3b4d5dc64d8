import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { VmsfxError } from "../../src/errors";
import { emptyLedger, LEDGER_FILE, mergeLedgers, readLedger, writeLedger, type Ledger } from "../../src/policy/ledger";
import { checkLaunch } from "../../src/policy/restrictions";

const APP = "a".repeat(64);
const OTHER_APP = "b".repeat(64);
let root: string;
let stateDir: string;
let mirror: string;
let stateFile: string;

beforeEach(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), "vmsfx-ledger-"));
  // Neither folder exists yet: writeLedger creates them.
  stateDir = path.join(root, "usb", "app.vmsfx-state");
  mirror = path.join(root, "home", ".local", "share", "vmsfx", "ledgers", `${APP}.json`);
  stateFile = path.join(stateDir, LEDGER_FILE);
});

afterEach(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const at = (day: number) => new Date(Date.UTC(2030, 0, 1 + day)).toISOString();
const SAMPLE: Ledger = { version: 1, launches: 3, firstLaunchAt: at(0), lastTrustedAt: at(2), firstLocation: "/media/usb/app" };

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(VmsfxError);
    return (e as VmsfxError).code;
  }
  return undefined;
}

/** One launch as the launcher does it: read, decide, write. */
async function launch(day: number): Promise<Ledger> {
  const { ledger } = await readLedger(stateDir, mirror, APP);
  const d = checkLaunch({ maxLaunches: 10 }, ledger, { now: new Date(at(day)), fingerprint: "", location: "/media/usb/app" });
  await writeLedger(stateDir, mirror, APP, d.ledger);
  return d.ledger;
}

describe("ledger", () => {
  it("is missing, and empty, before the first write", async () => {
    expect(await readLedger(stateDir, mirror, APP)).toEqual({ ledger: emptyLedger(), missing: true });
  });

  it("round-trips through both copies, creating their folders", async () => {
    await writeLedger(stateDir, mirror, APP, SAMPLE);
    expect(await readLedger(stateDir, mirror, APP)).toEqual({ ledger: SAMPLE, missing: false });
    expect(JSON.parse(await fsp.readFile(stateFile, "utf8")).ledger).toEqual(SAMPLE);
    expect(await fsp.readFile(mirror, "utf8")).toBe(await fsp.readFile(stateFile, "utf8"));
    expect((await fsp.readdir(stateDir)).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  it("round-trips the empty ledger", async () => {
    await writeLedger(stateDir, mirror, APP, emptyLedger());
    expect(await readLedger(stateDir, mirror, APP)).toEqual({ ledger: emptyLedger(), missing: false });
  });

  it.each([
    ["the state copy", () => stateFile],
    ["the mirror", () => mirror],
  ])("refuses %s with one byte changed", async (_name, file) => {
    await writeLedger(stateDir, mirror, APP, SAMPLE);
    const text = await fsp.readFile(file(), "utf8");
    const i = text.indexOf('"launches": 3');
    expect(i).toBeGreaterThan(0);
    await fsp.writeFile(file(), text.slice(0, i) + '"launches": 0' + text.slice(i + 13));
    expect(await codeOf(readLedger(stateDir, mirror, APP))).toBe("VMSFX_LEDGER_TAMPERED");
  });

  it.each([
    ["garbage", "not json at all"],
    ["an empty file", ""],
    ["a MAC of the wrong length", JSON.stringify({ format: "vmsfx-ledger", ledger: SAMPLE, mac: "00" })],
    ["no MAC", JSON.stringify({ format: "vmsfx-ledger", ledger: SAMPLE })],
    ["a ledger of the wrong shape", JSON.stringify({ format: "vmsfx-ledger", ledger: { ...SAMPLE, launches: -1 }, mac: "0".repeat(64) })],
  ])("refuses a copy holding %s", async (_name, content) => {
    await writeLedger(stateDir, mirror, APP, SAMPLE);
    await fsp.writeFile(stateFile, content);
    expect(await codeOf(readLedger(stateDir, mirror, APP))).toBe("VMSFX_LEDGER_TAMPERED");
  });

  it("refuses the file with any single bit flipped, wherever it is", async () => {
    await writeLedger(stateDir, mirror, APP, SAMPLE);
    const bytes = await fsp.readFile(stateFile);
    for (let i = 0; i < bytes.length; i++) {
      const copy = Buffer.from(bytes);
      copy[i] ^= 1 << (i % 7);
      await fsp.writeFile(stateFile, copy);
      expect([i, await codeOf(readLedger(stateDir, mirror, APP))]).toEqual([i, "VMSFX_LEDGER_TAMPERED"]);
    }
  });

  it("refuses a ledger copied from another app", async () => {
    await writeLedger(stateDir, mirror, OTHER_APP, SAMPLE);
    expect(await codeOf(readLedger(stateDir, mirror, APP))).toBe("VMSFX_LEDGER_TAMPERED");
  });

  it("still remembers the launches through the mirror when the state copy is deleted", async () => {
    for (let day = 0; day < 3; day++) await launch(day);
    await fsp.rm(stateDir, { recursive: true });
    const r = await readLedger(stateDir, mirror, APP);
    expect(r.missing).toBe(false);
    expect(r.ledger.launches).toBe(3);
    expect((await launch(3)).launches).toBe(4);
    expect((await readLedger(stateDir, mirror, APP)).ledger.launches).toBe(4);
  });

  it("still remembers the launches through the state copy when the mirror is deleted", async () => {
    for (let day = 0; day < 3; day++) await launch(day);
    await fsp.rm(mirror);
    expect((await readLedger(stateDir, mirror, APP)).ledger).toMatchObject({ launches: 3, firstLaunchAt: at(0), lastTrustedAt: at(2) });
  });

  it("starts over only when both copies are deleted, and says so", async () => {
    await launch(0);
    await fsp.rm(mirror);
    await fsp.rm(stateFile);
    expect(await readLedger(stateDir, mirror, APP)).toEqual({ ledger: emptyLedger(), missing: true });
  });

  it.each([
    ["state copy", () => stateFile],
    ["mirror", () => mirror],
  ])("lets a restored older %s lose to the newer one", async (_name, file) => {
    await launch(0);
    const old = await fsp.readFile(file());
    await launch(1);
    await launch(2);
    await fsp.writeFile(file(), old);
    expect((await readLedger(stateDir, mirror, APP)).ledger).toEqual({ version: 1, launches: 3, firstLaunchAt: at(0), lastTrustedAt: at(2), firstLocation: "/media/usb/app" });
  });

  it("merges field by field: most launches, earliest first launch, latest trusted time", () => {
    const a: Ledger = { version: 1, launches: 5, firstLaunchAt: at(3), lastTrustedAt: at(4), firstLocation: "/a" };
    const b: Ledger = { version: 1, launches: 2, firstLaunchAt: at(1), lastTrustedAt: at(9), firstLocation: "/b" };
    const expected = { version: 1, launches: 5, firstLaunchAt: at(1), lastTrustedAt: at(9), firstLocation: "/b" };
    expect(mergeLedgers(a, b)).toEqual(expected);
    expect(mergeLedgers(b, a)).toEqual(expected);
    expect(mergeLedgers(emptyLedger(), a)).toEqual(a);
    expect(mergeLedgers(a, emptyLedger())).toEqual(a);
  });

  it("refuses to write a malformed ledger", async () => {
    await expect(writeLedger(stateDir, mirror, APP, { ...SAMPLE, launches: 1.5 })).rejects.toThrow(/launches/);
    await expect(writeLedger(stateDir, mirror, APP, { ...SAMPLE, firstLaunchAt: "yesterday" })).rejects.toThrow(/firstLaunchAt/);
  });

  it("reports an unreadable copy as an I/O error, not as tampering", async () => {
    await fsp.mkdir(stateFile, { recursive: true });
    expect(await codeOf(readLedger(stateDir, mirror, APP))).toBe("VMSFX_IO");
  });
});
