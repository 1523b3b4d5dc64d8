import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { openSnapshotDir } from "../../src/snapshot/snapshot-dir";
import { writeBundle } from "../../src/snapshot/bundle-writer";
import { openBundle, readPublicHeader, type OpenBundleOptions } from "../../src/snapshot/bundle-reader";
import { loadZstd } from "../../src/snapshot/block-codec";
import { verifySnapshot } from "../../src/snapshot/snapshot-report";
import { reportSnapshot } from "../../src/snapshot/snapshot-report";
import { BlockCipher } from "../../src/policy/encryption";
import { unlockerFor } from "../../src/policy/unlocker";
import { checkSignature, generateKeyFiles, parseSignature, signManifest } from "../../src/policy/signature";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";
import { bundleAllocationLimit, typedOutcome, withAllocationLimit } from "./oracle";
import { applyMutation, layoutOf, mutation, type Layout } from "./bundle-mutations";
import { budget, LONG, testTimeout } from "./budget";

/**
 * Whole bundle files, mutated where the reader decides things, through what `inspect`, `verify`
 * and `run` do before any guest code: open (footer, TOC, manifest, unlock), check the signature,
 * read and decode every block. Only VmsfxErrors, and no allocation larger than the file.
 */

interface Base {
  name: string;
  bytes: Buffer;
  layout: Layout;
  opts: OpenBundleOptions;
  encrypted: boolean;
}

const bases: Base[] = [];
const work = tempDir("vmsfx-fuzz-");

beforeAll(async () => {
  await loadZstd();
  const snap = await makeSyntheticSnapshot();
  const key = path.join(work, "publisher.key");
  await generateKeyFiles(key);
  const keyFile = path.join(work, "secret.key");
  writeFileSync(keyFile, randomBytes(32));
  const { cipher, kdf } = await BlockCipher.derive({ keyFile });
  const sign = async (m: Uint8Array) => Buffer.from(JSON.stringify(await signManifest(m, key)));
  const variants: [string, Parameters<typeof writeBundle>[2], OpenBundleOptions, boolean][] = [
    ["plain", {}, {}, false],
    ["signed", { sign }, {}, false],
    [
      "encrypted",
      {
        sign,
        encrypt: {
          cipher,
          header: (sealed) => Buffer.from(JSON.stringify({ format: "vmsfx-encrypted", version: 1, public: { guest: "synthetic" }, kdf, check: cipher.check, manifest: Buffer.from(sealed).toString("base64") })),
        },
      },
      { unlock: unlockerFor({ keyFile }) },
      true,
    ],
  ];
  for (const [name, writeOpts, opts, encrypted] of variants) {
    const file = path.join(work, `${name}.vmsfx`);
    await writeBundle(await openSnapshotDir(snap.dir), file, writeOpts);
    const b = await openBundle(file, opts);
    bases.push({ name, bytes: readFileSync(file), layout: layoutOf(b), opts, encrypted });
    await b.close();
  }
});

/** Everything a user's command does with a bundle before the guest runs; returns the first code or "ok". */
async function outcome(file: string, base: Base): Promise<string> {
  const size = readFileSync(file).byteLength;
  return withAllocationLimit(bundleAllocationLimit(size), async () => {
    if (base.encrypted) {
      const header = await typedOutcome("readPublicHeader", () => readPublicHeader(file));
      if ("error" in header) return header.error.code;
    }
    const opened = await typedOutcome("openBundle", () => openBundle(file, base.opts));
    if ("error" in opened) return opened.error.code;
    const b = opened.ok;
    try {
      if (b.signature) {
        const sig = await typedOutcome("signature", () => checkSignature(b.manifestBytes, parseSignature(b.signature!, file), file));
        if ("error" in sig) return sig.error.code;
      }
      reportSnapshot(b.manifest, (h) => b.storedSize(h));
      const v = await typedOutcome("verify", () => verifySnapshot(b));
      if ("error" in v) return v.error.code;
      return v.ok.failures[0]?.code ?? "ok";
    } finally {
      await b.close();
    }
  });
}

describe("whole bundle files", () => {
  it("the unmutated bases open and verify", async () => {
    for (const base of bases) {
      const f = path.join(work, `check-${base.name}`);
      writeFileSync(f, base.bytes);
      expect([base.name, await outcome(f, base)]).toEqual([base.name, "ok"]);
    }
  });

  for (const name of ["plain", "signed", "encrypted"]) {
    it(
      `${name}: any mutation of footer, TOC, manifest, tar headers or blocks (resealed or not) gives only typed errors`,
      async () => {
        const base = bases.find((b) => b.name === name)!;
        const file = path.join(work, `mutated-${name}`);
        const seen = new Map<string, number>();
        await fc.assert(
          fc.asyncProperty(mutation(base.layout), async (m) => {
            writeFileSync(file, applyMutation(base.bytes, base.layout, m));
            const code = await outcome(file, base);
            seen.set(code, (seen.get(code) ?? 0) + 1);
          }),
          budget(name === "plain" ? 1.5 : 1),
        );
        // Where the runs ended, so a long run shows which checks it reached.
        if (LONG) console.log(`${name}: ${JSON.stringify(Object.fromEntries([...seen].sort((a, b) => b[1] - a[1])))}`);
      },
      testTimeout(1.5),
    );
  }

  it(
    "tar headers, padding and the end-of-archive blocks are never read: any bytes there change nothing",
    async () => {
      const base = bases.find((b) => b.name === "signed")!;
      const l = base.layout;
      const used = [l.footer, l.toc, l.manifest, ...l.blocks].sort((a, b) => a[0] - b[0]);
      const free: number[] = [];
      let at = 0;
      for (const [s, len] of used) {
        for (let i = at; i < s; i++) free.push(i);
        at = Math.max(at, s + len);
      }
      for (let i = at; i < l.size; i++) free.push(i);
      // The signature's bytes are not in the TOC's block list; keep them.
      const sigStart = l.tarHeaders[l.tarHeaders.length - 1] + 512;
      const editable = free.filter((i) => i < sigStart || i >= sigStart + 512);
      const file = path.join(work, "tar-edited");
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...editable), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 64 }), async (edits) => {
          const b = Buffer.from(base.bytes);
          for (const [i, v] of edits) b[i] = v;
          writeFileSync(file, b);
          expect(await outcome(file, base)).toBe("ok");
        }),
        budget(0.5),
      );
    },
    testTimeout(0.5),
  );
});
