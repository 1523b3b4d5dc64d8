import { describe, expect, it } from "vitest";
import { cpSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { publishSnapshot, parsePublishIndex, type PublishIndex } from "../../src/remote/publish";
import { openSnapshotDir, writeManifestFile } from "../../src/snapshot/snapshot-dir";
import { writeBundle, type WriteBundleOptions } from "../../src/snapshot/bundle-writer";
import { isLockedManifest, openBundle } from "../../src/snapshot/bundle-reader";
import { BlockStoreWriter, bufferSource } from "../../src/snapshot/block-store";
import { hotOrder } from "../../src/snapshot/hot-order";
import { BlockReader } from "../../src/snapshot/snapshot-source";
import type { Manifest } from "../../src/snapshot/manifest";
import { checkSignature, generateKeyFiles, parseSignature, signManifest } from "../../src/policy/signature";
import { BlockCipher, parseEncryptionHeader, unlock } from "../../src/policy/encryption";
import { VmsfxError } from "../../src/errors";
import { makeSyntheticSnapshot, patterned, tempDir } from "../helpers/synthetic-snapshot";
import { blockFiles, expectVerifiedLayout, packed, sha } from "./publish-helpers";

const uniqueBlocks = (m: Manifest) => new Set(hotOrder(m).map((x) => x.hash));
const readIndex = (out: string): PublishIndex => parsePublishIndex(readFileSync(path.join(out, "index.json")), out);

/** A copy of `dir` whose disk differs in one block and whose memory gains one new block. */
async function changedCopy(dir: string, manifest: Manifest, disk: Uint8Array, memory: Uint8Array): Promise<{ dir: string; manifest: Manifest }> {
  const copy = path.join(tempDir(), "snap-v2");
  cpSync(dir, copy, { recursive: true });
  const store = await BlockStoreWriter.create(path.join(copy, "blocks"), 3);
  const disk2 = Uint8Array.from(disk);
  disk2.set(patterned(4096, 77), 3 * 4096);
  const mem2 = Uint8Array.from(memory);
  mem2.set(patterned(4096, 78), 40 * 4096);
  const m2: Manifest = {
    ...manifest,
    memory: await store.putImage(bufferSource(mem2), mem2.byteLength, manifest.memory.blockSize),
    disks: [{ slot: "hda", map: await store.putImage(bufferSource(disk2), disk2.byteLength, manifest.disks[0].map.blockSize) }],
  };
  await writeManifestFile(copy, m2);
  return { dir: copy, manifest: m2 };
}

async function errorOf(p: Promise<unknown>): Promise<VmsfxError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(VmsfxError);
    return e as VmsfxError;
  }
  throw new Error("expected a VmsfxError, got success");
}

describe("publish", () => {
  it("publishes a snapshot directory: verified blocks, manifest.json byte for byte, index.json last", async () => {
    const snap = await makeSyntheticSnapshot();
    const out = path.join(tempDir(), "site");
    const progress: [number, number][] = [];
    const r = await publishSnapshot(snap.dir, out, { onProgress: (d, t) => progress.push([d, t]) });
    const expected = uniqueBlocks(snap.manifest);
    expect(r).toMatchObject({ blocks: expected.size, skipped: 0, written: expected.size });
    expect(new Set(blockFiles(out))).toEqual(expected);
    expectVerifiedLayout(out);
    const manifestBytes = readFileSync(path.join(snap.dir, "manifest.json"));
    expect(readFileSync(path.join(out, "manifest.json")).equals(manifestBytes)).toBe(true);
    expect(existsSync(path.join(out, "signature"))).toBe(false);
    const storedBytes = blockFiles(out).reduce((n, f) => n + statSync(path.join(out, "blocks", f)).size, 0);
    expect(r.bytes).toBe(storedBytes);
    expect(r.writtenBytes).toBe(storedBytes);
    const index = readIndex(out);
    expect(index).toMatchObject({ format: "vmsfx-published", version: 1, manifestSha256: sha(manifestBytes), encrypted: false, blocks: expected.size, bytes: storedBytes });
    expect(index.signatureSha256).toBeUndefined();
    expect(Number.isNaN(Date.parse(index.createdAt))).toBe(false);
    expect(progress.length).toBe(expected.size);
    expect(progress.at(-1)).toEqual([expected.size, expected.size]);
  });

  it("publishes a packed bundle and an executable (bundle after a prefix) with the bundle's stored bytes", async () => {
    const prefix = path.join(tempDir(), "runtime");
    writeFileSync(prefix, randomBytes(10_000));
    for (const opts of [{}, { prefixFile: prefix, mode: 0o755 }]) {
      const { bundle } = await packed(opts);
      const out = path.join(tempDir(), "site");
      const r = await publishSnapshot(bundle, out);
      const b = await openBundle(bundle);
      try {
        expect(readFileSync(path.join(out, "manifest.json")).equals(b.manifestBytes)).toBe(true);
        expect(new Set(blockFiles(out))).toEqual(new Set(b.toc.blocks.keys()));
        expect(r.blocks).toBe(b.toc.blocks.size);
        for (const { hash, size } of hotOrder(b.manifest)) {
          expect(readFileSync(path.join(out, "blocks", hash)).equals(await b.readStored(hash, size))).toBe(true);
        }
        expect(readIndex(out).manifestSha256).toBe(sha(b.manifestBytes));
      } finally {
        await b.close();
      }
      expectVerifiedLayout(out);
    }
  });

  it("republishing a changed snapshot into the same folder writes only the new blocks", async () => {
    const v1 = await makeSyntheticSnapshot();
    const v2 = await changedCopy(v1.dir, v1.manifest, v1.disk, v1.memory);
    const out = path.join(tempDir(), "site");
    await publishSnapshot(v1.dir, out);
    const inodes = new Map(blockFiles(out).map((f) => [f, statSync(path.join(out, "blocks", f)).ino]));

    const old = uniqueBlocks(v1.manifest);
    const fresh = [...uniqueBlocks(v2.manifest)].filter((h) => !old.has(h));
    expect(fresh.length).toBe(2); // one disk block, one memory block

    const r = await publishSnapshot(v2.dir, out);
    expect(r.written).toBe(fresh.length);
    expect(r.skipped).toBe(uniqueBlocks(v2.manifest).size - fresh.length);
    expect(r.blocks).toBe(uniqueBlocks(v2.manifest).size);
    // Old blocks stay (clients of v1 keep working) and were not rewritten: same inodes.
    expect(blockFiles(out).length).toBe(old.size + fresh.length);
    for (const [f, ino] of inodes) expect(statSync(path.join(out, "blocks", f)).ino).toBe(ino);
    expect(readFileSync(path.join(out, "manifest.json")).equals(readFileSync(path.join(v2.dir, "manifest.json")))).toBe(true);
    expect(readIndex(out)).toMatchObject({ manifestSha256: sha(readFileSync(path.join(v2.dir, "manifest.json"))), blocks: uniqueBlocks(v2.manifest).size });
    expectVerifiedLayout(out);

    // Publishing the same snapshot again writes nothing, not even manifest.json.
    const manifestIno = statSync(path.join(out, "manifest.json")).ino;
    const again = await publishSnapshot(v2.dir, out);
    expect(again).toMatchObject({ written: 0, writtenBytes: 0, skipped: uniqueBlocks(v2.manifest).size });
    expect(statSync(path.join(out, "manifest.json")).ino).toBe(manifestIno);
  });

  it("replaces a damaged block already in the folder instead of skipping it", async () => {
    const snap = await makeSyntheticSnapshot();
    const out = path.join(tempDir(), "site");
    await publishSnapshot(snap.dir, out);
    const victim = path.join(out, "blocks", blockFiles(out)[0]);
    const good = readFileSync(victim);
    const bad = Buffer.from(good);
    bad[0] ^= 0xff;
    writeFileSync(victim, bad);
    const r = await publishSnapshot(snap.dir, out);
    expect(r.written).toBe(1);
    expect(readFileSync(victim).equals(good)).toBe(true);
  });

  it("refuses a corrupted source block with VMSFX_BLOCK_HASH_MISMATCH and leaves index.json and manifest.json as they were", async () => {
    const v1 = await makeSyntheticSnapshot();
    const v2 = await changedCopy(v1.dir, v1.manifest, v1.disk, v1.memory);
    const out = path.join(tempDir(), "site");
    await publishSnapshot(v1.dir, out);
    const indexBefore = readFileSync(path.join(out, "index.json"));
    const manifestBefore = readFileSync(path.join(out, "manifest.json"));

    // Corrupt a block only v2 has, so the publish has to read it from the source.
    const old = uniqueBlocks(v1.manifest);
    const target = [...uniqueBlocks(v2.manifest)].find((h) => !old.has(h))!;
    const file = path.join(v2.dir, "blocks", target);
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] ^= 0x01;
    writeFileSync(file, bytes);

    const e = await errorOf(publishSnapshot(v2.dir, out));
    expect(e.code).toBe("VMSFX_BLOCK_HASH_MISMATCH");
    expect(e.exitCode).toBe(13);
    expect(readFileSync(path.join(out, "index.json")).equals(indexBefore)).toBe(true);
    expect(readFileSync(path.join(out, "manifest.json")).equals(manifestBefore)).toBe(true);
    expect(existsSync(path.join(out, "blocks", target))).toBe(false);
    expectVerifiedLayout(out);

    // Into an empty folder: no index.json at all, so nothing is advertised.
    const empty = path.join(tempDir(), "site");
    expect((await errorOf(publishSnapshot(v2.dir, empty))).code).toBe("VMSFX_BLOCK_HASH_MISMATCH");
    expect(existsSync(path.join(empty, "index.json"))).toBe(false);
    expect(existsSync(path.join(empty, "manifest.json"))).toBe(false);
  });

  it("refuses a bundle with a corrupted block (one flipped byte inside the file)", async () => {
    const { bundle } = await packed();
    const b = await openBundle(bundle);
    const [, entry] = [...b.toc.blocks].at(-1)!;
    await b.close();
    const bytes = readFileSync(bundle);
    bytes[entry.offset + (entry.length >> 1)] ^= 0x80;
    writeFileSync(bundle, bytes);
    const out = path.join(tempDir(), "site");
    expect((await errorOf(publishSnapshot(bundle, out))).code).toBe("VMSFX_BLOCK_HASH_MISMATCH");
    expect(existsSync(path.join(out, "index.json"))).toBe(false);
  });

  it("a thin bundle publishes only on top of a folder that already has the blocks it left out", async () => {
    const snap = await makeSyntheticSnapshot();
    const keep = new Set(snap.manifest.state.blocks.filter((h): h is string => !!h));
    const thin = path.join(tempDir(), "thin.vmsfx");
    await writeBundle(await openSnapshotDir(snap.dir), thin, { include: (h) => keep.has(h) });
    const empty = path.join(tempDir(), "site");
    expect((await errorOf(publishSnapshot(thin, empty))).code).toBe("VMSFX_BLOCK_MISSING");
    expect(existsSync(path.join(empty, "index.json"))).toBe(false);

    const out = path.join(tempDir(), "site");
    await publishSnapshot(snap.dir, out);
    const r = await publishSnapshot(thin, out);
    expect(r).toMatchObject({ written: 0, skipped: uniqueBlocks(snap.manifest).size });
  });

  it("a signed bundle's signature still verifies against the published manifest.json", async () => {
    const keyFile = path.join(tempDir(), "publisher.key");
    const pub = await generateKeyFiles(keyFile);
    const { dir, bundle } = await packed({ sign: async (b) => Buffer.from(JSON.stringify(await signManifest(b, keyFile))) });
    const out = path.join(tempDir(), "site");
    await publishSnapshot(bundle, out);
    const manifestBytes = readFileSync(path.join(out, "manifest.json"));
    const sigBytes = readFileSync(path.join(out, "signature"));
    expect(() => checkSignature(manifestBytes, parseSignature(sigBytes, out), out, pub)).not.toThrow();
    expect(readIndex(out).signatureSha256).toBe(sha(sigBytes));
    // The check is meaningful: one changed byte of the manifest fails it.
    const tampered = Buffer.from(manifestBytes);
    tampered[10] ^= 0x01;
    expect(() => checkSignature(tampered, parseSignature(sigBytes, out), out, pub)).toThrow(VmsfxError);

    // Republishing the same snapshot unsigned removes the signature that no longer applies.
    await publishSnapshot(dir, out);
    expect(existsSync(path.join(out, "signature"))).toBe(false);
    expect(readIndex(out).signatureSha256).toBeUndefined();
  });

  it("publishes an encrypted bundle without its key: header as manifest.json, sealed blocks as stored", async () => {
    const snap = await makeSyntheticSnapshot();
    const secret = { passphrase: "correct horse" };
    const { cipher, kdf } = await BlockCipher.derive(secret);
    const bundle = path.join(tempDir(), "secret.vmsfx");
    await writeBundle(await openSnapshotDir(snap.dir), bundle, {
      encrypt: {
        cipher,
        header: (sealed) => Buffer.from(JSON.stringify({ format: "vmsfx-encrypted", version: 1, public: { guest: "synthetic" }, kdf, check: cipher.check, manifest: Buffer.from(sealed).toString("base64") })),
      },
    });
    const out = path.join(tempDir(), "site");
    const r = await publishSnapshot(bundle, out);
    const published = readFileSync(path.join(out, "manifest.json"));
    expect(isLockedManifest(published)).toBe(true);
    expect(readIndex(out)).toMatchObject({ encrypted: true, manifestSha256: sha(published), blocks: r.blocks });
    expect(readFileSync(bundle).includes(published)).toBe(true);
    expectVerifiedLayout(out);

    // With the key, the published folder holds every block the real manifest names, and they decode.
    const b = await openBundle(bundle, { unlock: async (h, where) => unlock(parseEncryptionHeader(h, where), secret, where) });
    try {
      expect(b.manifestBytes.equals(published)).toBe(true);
      const reader = await BlockReader.open(b);
      for (const { hash, size } of hotOrder(b.manifest)) {
        const stored = readFileSync(path.join(out, "blocks", hash));
        expect(stored.equals(await b.readStored(hash, size))).toBe(true);
        expect(reader.decode(stored, hash, size).byteLength).toBe(size);
      }
      expect(r.blocks).toBe(uniqueBlocks(b.manifest).size);
    } finally {
      await b.close();
    }
  });

  it("never overwrites an index.json that vmsfx did not write", async () => {
    const snap = await makeSyntheticSnapshot();
    const out = tempDir();
    writeFileSync(path.join(out, "index.json"), '{"hello":"world"}');
    const e = await errorOf(publishSnapshot(snap.dir, out));
    expect(e.code).toBe("VMSFX_IO");
    expect(readFileSync(path.join(out, "index.json"), "utf8")).toBe('{"hello":"world"}');
    expect(existsSync(path.join(out, "manifest.json"))).toBe(false);
  });

  it("reports a missing input as VMSFX_FILE_NOT_FOUND", async () => {
    expect((await errorOf(publishSnapshot(path.join(tempDir(), "nope"), tempDir()))).code).toBe("VMSFX_FILE_NOT_FOUND");
  });
});
