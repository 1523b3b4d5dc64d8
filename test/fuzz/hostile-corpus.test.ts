import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import { VmsfxError, type ErrorCode } from "../../src/errors";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { ROOT } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { EXIT } from "../fixtures/make-hostile-corpus.mjs";
import { bundleOutcome } from "./oracle";
import { readCorpus, CORPUS_DIR } from "./corpus";
import { LONG } from "./budget";

/**
 * Every file of the hostile corpus (test/fixtures/hostile/, made by make-hostile-corpus.mjs)
 * through the reader API: it must give exactly its recorded code, only ever as a VmsfxError, and
 * never allocate more than the file's size. The CLI side is in hostile-cli.test.ts.
 */
const corpus = readCorpus();

describe("the hostile corpus", () => {
  it("is exactly what make-hostile-corpus.mjs makes (regenerate it with that script)", () => {
    const out = tempDir("vmsfx-corpus-");
    execFileSync(process.execPath, [path.join(ROOT, "test/fixtures/make-hostile-corpus.mjs"), out]);
    const made = readdirSync(out).sort();
    expect(made).toEqual(readdirSync(CORPUS_DIR).sort());
    for (const f of made) expect([f, readFileSync(path.join(out, f)).equals(readFileSync(path.join(CORPUS_DIR, f)))]).toEqual([f, true]);
  });

  it("records the exit codes src/errors.ts gives its codes", () => {
    for (const [code, exit] of Object.entries(EXIT)) {
      if (code !== "ok") expect([code, new VmsfxError(code as ErrorCode, "").exitCode]).toEqual([code, exit]);
    }
    expect(corpus.length).toBeGreaterThan(80);
  });

  it.each(corpus.map((c) => [c.file, c] as const))("%s: its recorded code through openBundle + verify, typed, bounded", async (_name, c) => {
    const file = path.join(CORPUS_DIR, c.file);
    expect(await bundleOutcome(file, statSync(file).size)).toBe(c.api);
  });

  it("regression: a truncated bundle is refused at every length, not only at the corpus's cuts", async () => {
    const valid = readFileSync(path.join(CORPUS_DIR, "valid.hostile"));
    const dir = tempDir("vmsfx-cut-");
    const { writeFileSync } = await import("node:fs");
    const seen = new Set<string>();
    // Every length near the start and the end (where the footer and tar headers are), a sample in between.
    const step = (keep: number) => (LONG || keep < 1100 || keep > valid.byteLength - 2100 ? 1 : 97);
    for (let keep = 0; keep < valid.byteLength; keep += step(keep)) {
      const f = path.join(dir, "cut.bin");
      writeFileSync(f, valid.subarray(0, keep));
      const code = await bundleOutcome(f, keep);
      expect([keep, code]).toEqual([keep, keep < 512 ? "VMSFX_NOT_A_BUNDLE" : "VMSFX_BUNDLE_TRUNCATED"]);
      seen.add(code);
    }
    expect(seen.size).toBe(2);
  });

  it("no manifest key reaches Object.prototype (manifest-proto-keys)", async () => {
    const b = await openBundle(path.join(CORPUS_DIR, "manifest-proto-keys.hostile"));
    await b.close();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
