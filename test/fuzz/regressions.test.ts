import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { VmsfxError } from "../../src/errors";
import { isLockedManifest, openBundle, readPublicHeader } from "../../src/snapshot/bundle-reader";
import { openSnapshotDir } from "../../src/snapshot/snapshot-dir";
import { parseManifest } from "../../src/snapshot/manifest";
import { verifySnapshot } from "../../src/snapshot/snapshot-report";
import { unlockerFor } from "../../src/policy/unlocker";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";
import { typedOutcome, codeOf } from "./oracle";
import { CORPUS_DIR } from "./corpus";

/** Bugs found by fuzzing and the hostile corpus, one test each, named after the bug. */

const code = async (what: string, fn: () => Promise<unknown>) => codeOf(await typedOutcome(what, fn));

describe("regressions", () => {
  it("regression: an encrypted header without `public` crashed inspect with a TypeError (now 14)", async () => {
    const file = path.join(CORPUS_DIR, "manifest-encrypted-header-malformed.hostile");
    expect(await code("readPublicHeader", () => readPublicHeader(file))).toBe("VMSFX_MANIFEST_INVALID");
  });

  it("regression: a manifest with a key twice was read as whichever came last (now 14)", async () => {
    const m = readFileSync(path.join((await makeSyntheticSnapshot()).dir, "manifest.json"), "utf8").trim();
    expect(() => parseManifest(Buffer.from(m))).not.toThrow();
    const twice = m.replace(/}$/, ',"version":2}');
    expect(() => parseManifest(Buffer.from(twice))).toThrow(/\(root\) has the key "version" twice/);
    const nested = m.replace('"guest":{', '"guest":{"name":"a",');
    expect(() => parseManifest(Buffer.from(nested))).toThrow(/guest has the key "name" twice/);
    const escaped = m.replace('"guest":{', '"guest":{"n\\u0061me":"a",');
    expect(() => parseManifest(Buffer.from(escaped))).toThrow(/guest has the key "name" twice/);
  });

  it("regression: a deeply nested manifest went to JSON.parse, which takes most of a minute on 32 MiB of brackets (now refused by depth first)", async () => {
    const deep = Buffer.from("[".repeat(4_000_000) + "]".repeat(4_000_000));
    expect(() => parseManifest(deep)).toThrow(/nests deeper than 32 levels/);
    expect(isLockedManifest(deep)).toBe(false);
    const m = JSON.parse(readFileSync(path.join((await makeSyntheticSnapshot()).dir, "manifest.json"), "utf8"));
    m.guest.extra = JSON.parse("[".repeat(40) + "]".repeat(40));
    expect(() => parseManifest(Buffer.from(JSON.stringify(m)))).toThrow(/nests deeper than 32 levels/);
  });

  it("regression: a manifest that is not UTF-8 was decoded with replacement characters (now 14)", () => {
    const m = Buffer.from('{"format":"vmsfx-snapshot","x":"\xff"}', "latin1");
    expect(() => parseManifest(m)).toThrow(/is not valid UTF-8/);
  });

  it("regression: a FIFO in place of a bundle, a manifest or a block made vmsfx wait forever (now refused)", async () => {
    const dir = tempDir("vmsfx-fifo-");
    const fifo = path.join(dir, "app.vmsfx");
    execFileSync("mkfifo", [fifo]);
    expect(await code("openBundle(fifo)", () => openBundle(fifo))).toBe("VMSFX_NOT_A_BUNDLE");

    const snap = await makeSyntheticSnapshot();
    const manifest = path.join(snap.dir, "manifest.json");
    const saved = readFileSync(manifest);
    rmSync(manifest);
    execFileSync("mkfifo", [manifest]);
    expect(await code("openSnapshotDir(fifo manifest)", () => openSnapshotDir(snap.dir))).toBe("VMSFX_MANIFEST_INVALID");
    rmSync(manifest);
    writeFileSync(manifest, saved);

    const block = path.join(snap.dir, "blocks", snap.manifest.state.blocks[0]!);
    rmSync(block);
    execFileSync("mkfifo", [block]);
    const source = await openSnapshotDir(snap.dir);
    const r = await verifySnapshot(source);
    expect(r.failures.map((f) => f.code)).toEqual(["VMSFX_BLOCK_HASH_MISMATCH"]);
  });

  it("regression: a folder in place of a block made verify fail with a raw EISDIR (now 13)", async () => {
    const snap = await makeSyntheticSnapshot();
    const block = path.join(snap.dir, "blocks", snap.manifest.state.blocks[0]!);
    rmSync(block);
    mkdirSync(block);
    const r = await verifySnapshot(await openSnapshotDir(snap.dir));
    expect(r.failures.map((f) => f.code)).toEqual(["VMSFX_BLOCK_HASH_MISMATCH"]);
    expect(readdirSync(block)).toEqual([]);
  });

  it("a manifest.json larger than any manifest is refused before it is read", async () => {
    const snap = await makeSyntheticSnapshot();
    const manifest = path.join(snap.dir, "manifest.json");
    // Sparse: 40 MiB on paper, nothing on disk.
    execFileSync("truncate", ["-s", String(40 << 20), manifest]);
    expect(await code("openSnapshotDir(huge manifest)", () => openSnapshotDir(snap.dir))).toBe("VMSFX_MANIFEST_INVALID");
  });

  // Found by the hostile corpus work: scrypt's own parameter checks threw raw RangeErrors.
  it("an encrypted header asking for scrypt N=3 (not a power of two) is refused with 14, not a raw RangeError", async () => {
    const dir = tempDir("vmsfx-scrypt-");
    const passphraseFile = path.join(dir, "pass");
    writeFileSync(passphraseFile, "secret\n");
    const header = Buffer.from(JSON.stringify({ format: "vmsfx-encrypted", version: 1, public: { guest: "x" }, kdf: { name: "scrypt", salt: "AAAA", N: 3, r: 8, p: 1 }, check: "x", manifest: "" }));
    expect(await code("unlock", () => unlockerFor({ passphraseFile })(header, "hostile"))).toBe("VMSFX_MANIFEST_INVALID");
  });

  it("VmsfxError is what the oracle accepts, and anything else is reported", async () => {
    expect(await code("typed", async () => Promise.reject(new VmsfxError("VMSFX_IO", "x")))).toBe("VMSFX_IO");
    await expect(typedOutcome("raw", () => Promise.reject(new TypeError("boom")))).rejects.toThrow(/untyped TypeError: boom/);
  });
});
