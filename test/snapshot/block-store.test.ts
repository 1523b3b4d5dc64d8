import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { BlockStoreWriter, bufferSource } from "../../src/snapshot/block-store";
import { decodeBlock, loadZstd, sha256Hex } from "../../src/snapshot/block-codec";
import { VmsfxError } from "../../src/errors";
import { patterned, tempDir } from "../helpers/synthetic-snapshot";

describe("block store", () => {
  it("elides zero blocks, stores duplicates once, and names files by the SHA-256 of their stored bytes", async () => {
    const dir = tempDir();
    const store = await BlockStoreWriter.create(dir, 3);
    const a = patterned(4096, 1);
    const image = new Uint8Array(4096 * 4);
    image.set(a, 0);
    image.set(a, 3 * 4096);
    const map = await store.putImage(bufferSource(image), image.byteLength, 4096);
    const h = map.blocks[0]!;
    expect(map.blocks).toEqual([h, null, null, h]);
    expect(store.stats).toMatchObject({ zeroBlocks: 2, dedupBlocks: 1, storedBlocks: 1 });
    expect(readdirSync(dir)).toEqual([h]);
    const zstd = await loadZstd();
    const stored = readFileSync(path.join(dir, h));
    expect(sha256Hex(stored)).toBe(h);
    expect(stored.byteLength).toBeLessThan(4096);
    expect(Buffer.from(decodeBlock(zstd, stored, 4096, h, "t"))).toEqual(Buffer.from(a));
  });

  it("compressing blocks side by side keeps every block at its offset and still stores a duplicate once", async () => {
    const dir = tempDir();
    const store = await BlockStoreWriter.create(dir, 19);
    const image = new Uint8Array(4096 * 24);
    for (let i = 0; i < 24; i++) image.set(patterned(4096, i % 3 === 0 ? 99 : i), i * 4096);
    const map = await store.putImage(bufferSource(image), image.byteLength, 4096);
    const zstd = await loadZstd();
    map.blocks.forEach((h, i) => {
      const raw = decodeBlock(zstd, readFileSync(path.join(dir, h!)), 4096, h!, "t");
      expect(Buffer.from(raw).equals(Buffer.from(image.subarray(i * 4096, (i + 1) * 4096)))).toBe(true);
    });
    expect(store.stats).toMatchObject({ storedBlocks: 17, dedupBlocks: 7 });
    // The threadpool's frames are the synchronous codec's bytes: blocks dedup across both.
    const h = map.blocks[1]!;
    expect(zstd.compress(image.subarray(4096, 8192), 19)).toEqual(new Uint8Array(readFileSync(path.join(dir, h))));
  });

  it("keeps incompressible blocks raw", async () => {
    const dir = tempDir();
    const store = await BlockStoreWriter.create(dir, 3);
    const noise = new Uint8Array(require("node:crypto").randomBytes(4096));
    const h = (await store.put(noise))!;
    expect(readFileSync(path.join(dir, h)).byteLength).toBe(4096);
  });

  it("handles a partial last block", async () => {
    const store = await BlockStoreWriter.create(tempDir(), 3);
    const img = patterned(4096 + 10, 3);
    const map = await store.putImage(bufferSource(img), img.byteLength, 4096);
    expect(map.blocks).toHaveLength(2);
    expect(map.blocks[1]).not.toBeNull();
    expect(map.blocks[0]).not.toBe(map.blocks[1]);
  });
});

describe("block decoder", () => {
  it("refuses a frame whose declared size differs from the manifest's, even with a matching hash (zstd bomb guard)", async () => {
    const zstd = await loadZstd();
    const big = zstd.compress(new Uint8Array(1 << 20), 3)!;
    expect(() => decodeBlock(zstd, big, 4096, sha256Hex(big), "t")).toThrowError(VmsfxError);
  });

  it("refuses bytes whose hash does not match", async () => {
    const zstd = await loadZstd();
    const raw = patterned(4096, 2);
    const frame = zstd.compress(raw, 3)!;
    try {
      decodeBlock(zstd, frame, 4096, "f".repeat(64), "t");
      expect.unreachable();
    } catch (e) {
      expect((e as VmsfxError).code).toBe("VMSFX_BLOCK_HASH_MISMATCH");
    }
  });
});

describe("zstd frame header", () => {
  it("reads the declared content size for every size class the codec writes", async () => {
    const { frameContentSize } = await import("../../src/snapshot/block-codec");
    const zstd = await loadZstd();
    for (const size of [1, 200, 255, 256, 300, 4096, 65535, 65536, 65792, 200_000]) {
      const frame = zstd.compress(patterned(size, size), 3)!;
      expect([size, frameContentSize(frame)]).toEqual([size, size]);
    }
    expect(frameContentSize(new Uint8Array([1, 2, 3, 4, 5, 6, 7]))).toBeNull();
  });

  it("a block written by zstd-codec (bundles from before Node's own zstd) decodes to the same bytes", async () => {
    // 64 KiB of a pattern, compressed by zstd-codec 0.1.5 at level 19, as vmsfx wrote blocks until issue 14.
    const frame = Buffer.from(OLD_CODEC_FRAME, "base64");
    const raw = Buffer.alloc(65536);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 7 + (i >> 9)) & 0xff;
    const zstd = await loadZstd();
    expect(Buffer.from(decodeBlock(zstd, frame, raw.length, sha256Hex(frame), "old block")).equals(raw)).toBe(true);
  });
});

const OLD_CODEC_FRAME =
  "KLUv/WAA/10RAAQQAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tng5+71/AMKERgfJi00O0JJUFdeZWxzeoGIj5adpKuyucDHztXc4+rx+P8GDRQbIikwNz5FTFNaYWhvdn2Ei5KZoKeutbzDytHY3+bt9PsCCRAXHiUsMzpBSE9WXWRrcnmAh46VnKOqsbi/xs3U2+Lp8Pf+BQwTGiEoLzY9REtSWWBnbnV8g4qRmJ+mrbS7wsnQ197l7PP6AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09rh6O/2/QQLEhkgJy41PENKUVhfZm10e4KJkJeepayzusHIz9bd5Ovy+YD/qOHv/z/g9wAS+P//f4R/NEZojNIYpTFKY5TGKI1RGqM0RmmM0hilMUpjlMYojVEaRmmM0hilMUpjlMYojVEaozRGaYzSGKUxSmOUxiiNURojaRilMUpjlMYojVEaozRGaYzSGKUxSmOUxiiNURqjNEZpGKUxSmOUxiiNURqjNEZpjNIYpTFKY5TGKI1RGqM0RmmMpDGKxiiNURqjNEZpjNIYpTFKY5TGKI1RGqM0RmmM0hilYZTGKI1RGqM0RmmM0hilMUpjlMYojVEaozRGaYzSGKUxksYoDaM0RmmM0hilMUpjlMYojVEaozRGaYzSGKUxSmOUhlEaozRGaYzSGKUxSmOUxiiNURqjNEZpjNIYpTFKY5TGSBqjNEbRCCOmPwDoDwj+Hw==";
