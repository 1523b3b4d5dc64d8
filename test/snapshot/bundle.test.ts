import { describe, expect, it } from "vitest";
import { readFileSync, writeFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import * as tar from "tar-stream";
import { openSnapshotDir } from "../../src/snapshot/snapshot-dir";
import { writeBundle } from "../../src/snapshot/bundle-writer";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { BlockReader } from "../../src/snapshot/snapshot-source";
import { verifySnapshot } from "../../src/snapshot/snapshot-report";
import { FOOTER_FROM_END } from "../../src/snapshot/bundle-layout";
import { VmsfxError } from "../../src/errors";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";

async function packed() {
  const snap = await makeSyntheticSnapshot();
  const out = path.join(tempDir(), "app.vmsfx");
  await writeBundle(await openSnapshotDir(snap.dir), out);
  return { ...snap, out };
}

async function openCode(file: string): Promise<string> {
  try {
    const b = await openBundle(file);
    const r = await verifySnapshot(b);
    await b.close();
    return r.failures[0]?.code ?? "ok";
  } catch (e) {
    expect(e).toBeInstanceOf(VmsfxError);
    return (e as VmsfxError).code;
  }
}

describe("bundle writer and reader", () => {
  it("round-trips every block, memory reassembles byte for byte", async () => {
    const { out, memory, manifest } = await packed();
    const b = await openBundle(out);
    expect(b.manifest).toEqual(manifest);
    const reader = await BlockReader.open(b);
    const rebuilt = new Uint8Array(memory.byteLength);
    for (const [i, h] of b.manifest.memory.blocks.entries()) {
      if (h) rebuilt.set(await reader.read(h, 4096), i * 4096);
    }
    expect(Buffer.from(rebuilt).equals(Buffer.from(memory))).toBe(true);
    expect((await verifySnapshot(b)).failures).toEqual([]);
    await b.close();
  });

  it("is a valid tar whose entries sit exactly where the TOC says", async () => {
    const { out } = await packed();
    const b = await openBundle(out);
    const names: string[] = [];
    const extract = tar.extract();
    const bytes = readFileSync(out);
    const done = new Promise<void>((resolve, reject) => {
      extract.on("entry", (header, stream, next) => {
        names.push(header.name);
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          if (header.name.startsWith("blocks/")) {
            const e = b.entry(header.name.slice(7))!;
            expect(bytes.subarray(e.offset, e.offset + e.length).equals(Buffer.concat(chunks))).toBe(true);
          }
          next();
        });
      });
      extract.on("finish", resolve);
      extract.on("error", reject);
    });
    Readable.from([bytes]).pipe(extract);
    await done;
    expect(names[0]).toBe("manifest.json");
    expect(names.slice(-2)).toEqual(["toc", "footer"]);
    // hot order: the state block comes first, right after the manifest
    expect(names[1]).toBe(`blocks/${b.manifest.state.blocks[0]!}`);
    await b.close();
  });

  it("finds its payload after arbitrary leading bytes (the executable case)", async () => {
    const { dir } = await makeSyntheticSnapshot();
    const prefix = path.join(tempDir(), "runtime");
    writeFileSync(prefix, Buffer.alloc(12345, 0x7f));
    const out = path.join(tempDir(), "app");
    await writeBundle(await openSnapshotDir(dir), out, { prefixFile: prefix, mode: 0o755 });
    const b = await openBundle(out);
    expect(b.bundleStart).toBe(12345);
    expect((await verifySnapshot(b)).failures).toEqual([]);
    expect(statSync(out).mode & 0o777).toBe(0o755);
    await b.close();
  });

  it("regression: a bundle cut short anywhere is refused as truncated or corrupt, never read", async () => {
    const { out } = await packed();
    const bytes = readFileSync(out);
    const dir = tempDir();
    for (const cut of [1, 100, 511, 512, 4096, bytes.length >> 1, bytes.length - FOOTER_FROM_END, bytes.length - 1]) {
      const f = path.join(dir, `cut-${cut}`);
      writeFileSync(f, bytes.subarray(0, bytes.length - cut));
      // Under one tar block nothing identifies the file any more; "not a bundle" is all we can say.
      const allowed = bytes.length - cut < 512 ? ["VMSFX_NOT_A_BUNDLE"] : ["VMSFX_BUNDLE_TRUNCATED", "VMSFX_BUNDLE_CORRUPT"];
      expect(allowed).toContain(await openCode(f));
    }
  });

  it("tells a file that is not a bundle apart", async () => {
    const f = path.join(tempDir(), "x");
    writeFileSync(f, Buffer.alloc(10000, 1));
    expect(await openCode(f)).toBe("VMSFX_NOT_A_BUNDLE");
    writeFileSync(f, "tiny");
    expect(await openCode(f)).toBe("VMSFX_NOT_A_BUNDLE");
  });

  it("detects a flipped byte in a block, the manifest, the TOC and the footer", async () => {
    const { out } = await packed();
    const b = await openBundle(out);
    const stateEntry = b.entry(b.manifest.state.blocks[0]!)!;
    const places: [string, number, string][] = [
      ["block", stateEntry.offset + 2, "VMSFX_BLOCK_HASH_MISMATCH"],
      ["manifest", b.toc.manifest.offset + 10, "VMSFX_BUNDLE_CORRUPT"],
      ["toc", b.footer.tocOffset + 70, "VMSFX_BUNDLE_CORRUPT"],
      ["footer length", b.fileSize - FOOTER_FROM_END + 20, "VMSFX_BUNDLE_CORRUPT"],
      ["footer toc hash", b.fileSize - FOOTER_FROM_END + 40, "VMSFX_BUNDLE_CORRUPT"],
      ["footer magic", b.fileSize - FOOTER_FROM_END, "VMSFX_BUNDLE_TRUNCATED"],
      ["footer version", b.fileSize - FOOTER_FROM_END + 8, "VMSFX_UNSUPPORTED_VERSION"],
    ];
    await b.close();
    const bytes = readFileSync(out);
    for (const [name, at, code] of places) {
      const copy = Buffer.from(bytes);
      copy[at] ^= 0x40;
      const f = path.join(tempDir(), name.replace(/ /g, "-"));
      writeFileSync(f, copy);
      expect([name, await openCode(f)]).toEqual([name, code]);
    }
  });
});
