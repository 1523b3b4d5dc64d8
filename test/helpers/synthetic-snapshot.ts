import { mkdtempSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BlockStoreWriter, bufferSource } from "../../src/snapshot/block-store";
import { MANIFEST_FORMAT, MANIFEST_VERSION, type Manifest } from "../../src/snapshot/manifest";
import { BLOCKS_DIR, writeManifestFile } from "../../src/snapshot/snapshot-dir";

export function tempDir(prefix = "vmsfx-test-"): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Deterministic bytes that compress somewhat, like real memory. */
export function patterned(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    if (i % 64 === 0) x = (x * 1103515245 + 12345) >>> 0;
    b[i] = (x >>> (i % 24)) & 0xff;
  }
  return b;
}

/**
 * A small but structurally real snapshot: memory with zero blocks and a duplicated block, a disk,
 * and a state block. No engine runs; the engine identity is made up.
 */
export async function makeSyntheticSnapshot(dir = tempDir()): Promise<{ dir: string; manifest: Manifest; memory: Uint8Array; disk: Uint8Array }> {
  const blockSize = 4096;
  const store = await BlockStoreWriter.create(path.join(dir, BLOCKS_DIR), 3);
  const memory = new Uint8Array(1 << 20);
  memory.set(patterned(3 * blockSize, 1), 0); // blocks 0-2
  memory.set(patterned(blockSize, 9), 10 * blockSize); // block 10 ...
  memory.set(patterned(blockSize, 9), 20 * blockSize); // ... repeated as block 20
  const disk = patterned(64 * 1024 + 1000, 5); // last block is partial
  const state = new TextEncoder().encode(JSON.stringify({ fake: "device state" }));
  const stateMap = await store.putImage(bufferSource(state), state.byteLength, blockSize);
  const memMap = await store.putImage(bufferSource(memory), memory.byteLength, blockSize);
  const vgaMap = await store.putImage(bufferSource(new Uint8Array(64 * 1024)), 64 * 1024, blockSize);
  const diskMap = await store.putImage(bufferSource(disk), disk.byteLength, blockSize);
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    createdAt: "2026-01-01T00:00:00.000Z",
    guest: { name: "synthetic" },
    engine: { name: "v86", version: "0.0.0-test", wasmSha256: "0".repeat(64) },
    machine: { memoryBytes: memory.byteLength, vgaMemoryBytes: 64 * 1024 },
    state: stateMap,
    memory: memMap,
    vgaMemory: vgaMap,
    disks: [{ slot: "hda", map: diskMap }],
    console: { tail: "# " },
  };
  await writeManifestFile(dir, manifest);
  return { dir, manifest, memory, disk };
}
