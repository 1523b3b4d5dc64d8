import { describe, expect, inject, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { TOC_ENTRY_SIZE, TOC_HEADER_SIZE } from "../../src/snapshot/bundle-layout";
import { vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";

/**
 * The real sample bundle with a TOC a hostile publisher rewrote (and re-checksummed), run for
 * real: the made-up corpus stops at the engine check, this reaches the resume path itself (the
 * hot region read in large spans, every block verified before the guest gets it). Each must end
 * with exit 13 before the guest runs, and write nothing but the state folder.
 */

async function rewrittenToc(edit: (toc: Buffer, entryOf: (hash: string) => number, memory: string[]) => void): Promise<string> {
  const original = inject("bundlePath");
  const b = await openBundle(original);
  const bytes = Buffer.from(readFileSync(original));
  const tocAt = b.bundleStart + b.footer.tocOffset;
  const toc = bytes.subarray(tocAt, tocAt + b.footer.tocLength);
  const index = new Map<string, number>();
  for (let i = 0, p = TOC_HEADER_SIZE; p < toc.length; i++, p += TOC_ENTRY_SIZE) index.set(toc.subarray(p, p + 32).toString("hex"), p);
  const memory = [...new Set(b.manifest.memory.blocks.filter((h): h is string => !!h))];
  await b.close();
  edit(toc, (h) => index.get(h)!, memory);
  createHash("sha256").update(toc).digest().copy(bytes, b.fileSize - 1536 + 36);
  const dir = tempDir("vmsfx-hostile-resume-");
  const file = path.join(dir, "medium", "app.vmsfx");
  mkdirSync(path.dirname(file));
  writeFileSync(file, bytes);
  return file;
}

async function expectRefusedBeforeTheGuestRuns(file: string): Promise<void> {
  const root = path.dirname(path.dirname(file));
  const state = path.join(root, "state");
  const r = await vmsfx(["run", file, "--state-dir", state], { input: "echo guest-ran\npoweroff\n", cwd: root });
  expect(r.code).toBe(13);
  expect(r.stderr).toMatch(/\[VMSFX_BLOCK_HASH_MISMATCH\]\n$/);
  expect(r.stdout).not.toContain("guest-ran");
  expect(readdirSync(path.dirname(file))).toEqual(["app.vmsfx"]);
  // The working folder is `root`: only the state folder may have appeared in it.
  expect(readdirSync(root).filter((d) => d !== "state")).toEqual(["medium"]);
}

describe("hostile TOCs on the real resume path", () => {
  it("two RAM blocks' ranges swapped: each is the other's bytes", async () => {
    const file = await rewrittenToc((toc, at, mem) => {
      const a = Buffer.from(toc.subarray(at(mem[0]) + 32, at(mem[0]) + 44));
      toc.copy(toc, at(mem[0]) + 32, at(mem[1]) + 32, at(mem[1]) + 44);
      a.copy(toc, at(mem[1]) + 32);
    });
    await expectRefusedBeforeTheGuestRuns(file);
  });

  it("a RAM block's range inside another's (the span that holds both shrinks)", async () => {
    const file = await rewrittenToc((toc, at, mem) => {
      const offset = toc.readBigUInt64LE(at(mem[0]) + 32);
      toc.writeBigUInt64LE(offset + 16n, at(mem[1]) + 32);
      toc.writeUInt32LE(8, at(mem[1]) + 40);
    });
    await expectRefusedBeforeTheGuestRuns(file);
  });

  it("a RAM block one byte longer than stored (its neighbour's first byte)", async () => {
    const file = await rewrittenToc((toc, at, mem) => toc.writeUInt32LE(toc.readUInt32LE(at(mem[2]) + 40) + 1, at(mem[2]) + 40));
    await expectRefusedBeforeTheGuestRuns(file);
  });
});
