import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { MessageChannel } from "node:worker_threads";
import { BlockStoreWriter, bufferSource } from "../../src/snapshot/block-store";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { writeBundle } from "../../src/snapshot/bundle-writer";
import { streamImage } from "../../src/snapshot/image-loader";
import { BLOCKS_DIR, openSnapshotDir, writeManifestFile } from "../../src/snapshot/snapshot-dir";
import { BlockReader } from "../../src/snapshot/snapshot-source";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";

describe("streamImage: RAM blocks to the engine, transferred", () => {
  it("regression: several blocks stored uncompressed in one read span no longer share one transferred buffer", async () => {
    // Random bytes do not compress, so the store keeps them raw, side by side in the bundle: the
    // loader used to hand out views of one read span, and postMessage refused the duplicate.
    const snap = await makeSyntheticSnapshot();
    const blockSize = snap.manifest.memory.blockSize;
    const memory = new Uint8Array(snap.memory.byteLength);
    memory.set(randomBytes(6 * blockSize), 0);
    const store = await BlockStoreWriter.create(path.join(snap.dir, BLOCKS_DIR), 3);
    const map = await store.putImage(bufferSource(memory), memory.byteLength, blockSize);
    await writeManifestFile(snap.dir, { ...snap.manifest, memory: map });
    const file = path.join(tempDir(), "app.vmsfx");
    await writeBundle(await openSnapshotDir(snap.dir), file);

    const bundle = await openBundle(file);
    const { port1, port2 } = new MessageChannel();
    const got = new Uint8Array(memory.byteLength);
    try {
      await streamImage(await BlockReader.open(bundle), bundle.manifest.memory, "ram", (image) => {
        for (const b of image.blocks) for (const i of b.indices) got.set(b.data, i * image.blockSize);
        port1.postMessage(image, image.blocks.map((b) => b.data.buffer as ArrayBuffer));
      });
    } finally {
      port1.close();
      port2.close();
      await bundle.close();
    }
    expect(Buffer.from(got).equals(Buffer.from(memory))).toBe(true);
  });
});
