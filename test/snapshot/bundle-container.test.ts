import { describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { openSnapshotDir } from "../../src/snapshot/snapshot-dir";
import { writeBundle } from "../../src/snapshot/bundle-writer";
import { openBundle, openBundleContainer, readPublicHeader } from "../../src/snapshot/bundle-reader";
import { openContainer, readContainer } from "../../src/snapshot/bundle-container";
import type { ByteRangePort } from "../../src/snapshot/byte-range-port";
import { FOOTER_FROM_END, sha256 } from "../../src/snapshot/bundle-layout";
import { VmsfxError } from "../../src/errors";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";

/** A port over bytes in memory that counts its reads: what the container asks of any port. */
function memoryPort(bytes: Buffer, o: { origin?: "file" | "server"; tailBytes?: number } = {}) {
  const reads: [number, number][] = [];
  const tailBytes = o.tailBytes ?? 0;
  const port: ByteRangePort = {
    where: "mem",
    origin: o.origin ?? "file",
    size: bytes.byteLength,
    tail: tailBytes ? { offset: bytes.byteLength - tailBytes, bytes: bytes.subarray(bytes.byteLength - tailBytes) } : undefined,
    async read(offset, length) {
      reads.push([offset, length]);
      if (offset + length > bytes.byteLength) throw new VmsfxError("VMSFX_BUNDLE_TRUNCATED", "mem: ends early");
      return Buffer.from(bytes.subarray(offset, offset + length));
    },
    close: async () => undefined,
  };
  return { port, reads };
}

async function packed(prefix?: Buffer) {
  const snap = await makeSyntheticSnapshot();
  const dir = tempDir();
  const out = path.join(dir, "app.vmsfx");
  let prefixFile: string | undefined;
  if (prefix) {
    prefixFile = path.join(dir, "runtime");
    writeFileSync(prefixFile, prefix);
  }
  await writeBundle(await openSnapshotDir(snap.dir), out, prefixFile ? { prefixFile } : {});
  return { ...snap, out, bytes: readFileSync(out) };
}

const codeOf = (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof VmsfxError ? e.code : `not typed: ${String(e)}`));

describe("bundle container over a byte-range port", () => {
  it("reads footer, TOC, manifest and signature; the manifest bytes are the entry's, unparsed", async () => {
    const { bytes, out } = await packed();
    const { port, reads } = memoryPort(bytes);
    const c = await readContainer(port);
    expect(reads).toHaveLength(3); // footer, TOC, manifest (unsigned: no signature read)
    expect(c.bundleStart).toBe(0);
    expect(sha256(c.manifestBytes)).toBe(c.toc.manifest.sha256);
    expect(c.signature).toBeUndefined();
    const b = await openBundle(out);
    expect(c.manifestBytes.equals(b.manifestBytes)).toBe(true);
    expect([...c.toc.blocks.keys()]).toEqual([...b.toc.blocks.keys()]);
    await b.close();
  });

  it("takes footer and TOC from a port's tail without reading; entries are read on demand", async () => {
    const { bytes } = await packed();
    const { port, reads } = memoryPort(bytes, { origin: "server", tailBytes: bytes.byteLength });
    const c = await openContainer(port);
    expect(reads).toEqual([]);
    await c.readManifestBytes();
    expect(reads).toEqual([[c.bundleStart + c.toc.manifest.offset, c.toc.manifest.length]]);
    const [hash, e] = [...c.toc.blocks][0];
    expect((await c.readStored(hash, 1 << 20)).byteLength).toBe(e.length);
    expect(c.rangeOf(e)).toEqual({ start: e.offset, end: e.offset + e.length - 1 });
  });

  it("finds a bundle appended to an executable from the end", async () => {
    const prefix = Buffer.alloc(10_000, 0xcc);
    const { bytes } = await packed(prefix);
    const c = await readContainer(memoryPort(bytes).port);
    expect(c.bundleStart).toBe(prefix.byteLength);
  });

  it("refuses a block the TOC lacks, or one larger than its raw size could be", async () => {
    const { bytes } = await packed();
    const c = await openContainer(memoryPort(bytes).port);
    expect(await codeOf(c.readStored("0".repeat(64), 4096))).toBe("VMSFX_BLOCK_MISSING");
    const [hash, e] = [...c.toc.blocks].find(([, x]) => x.length > 200)!;
    expect(await codeOf(c.readStored(hash, e.length - 200))).toBe("VMSFX_BLOCK_HASH_MISMATCH");
  });

  it("damage gives typed errors whose advice depends on where the file is kept", async () => {
    const { bytes } = await packed();
    const tocAt = bytes.byteLength - FOOTER_FROM_END + 24;
    const bad = Buffer.from(bytes);
    bad[Number(bad.readBigUInt64LE(tocAt)) + 20] ^= 1; // a byte of the TOC: its checksum fails
    const local = await openContainer(memoryPort(bad).port).catch((e: VmsfxError) => e);
    const remote = await openContainer(memoryPort(bad, { origin: "server" }).port).catch((e: VmsfxError) => e);
    expect([(local as VmsfxError).code, (remote as VmsfxError).code]).toEqual(["VMSFX_BUNDLE_CORRUPT", "VMSFX_BUNDLE_CORRUPT"]);
    expect((local as VmsfxError).message).toMatch(/download or copy it again/);
    expect((remote as VmsfxError).message).toMatch(/on the server/);
    // No footer: a cut-off local bundle still starts with its manifest's tar header.
    const cut = bytes.subarray(0, bytes.byteLength - 100);
    expect(await codeOf(openContainer(memoryPort(cut).port))).toBe("VMSFX_BUNDLE_TRUNCATED");
    expect(await codeOf(openContainer(memoryPort(cut, { origin: "server" }).port))).toBe("VMSFX_NOT_A_BUNDLE");
    expect(await codeOf(openContainer(memoryPort(Buffer.alloc(100)).port))).toBe("VMSFX_NOT_A_BUNDLE");
  });

  it("a plain bundle has no public header; its container opens without a key", async () => {
    const { out } = await packed();
    expect(await readPublicHeader(out)).toBeUndefined();
    const c = await openBundleContainer(out);
    expect(c.fileSize).toBe(readFileSync(out).byteLength);
    await c.port.close();
  });
});
