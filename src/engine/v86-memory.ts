import type { BlockChange, ImageBlocks, ImagePresence } from "./engine-protocol";
import { cpuOf, guestMemoryView, saveWithoutBuffers, svgaMemoryView, type V86Emulator } from "./v86-internals";

/**
 * Guest RAM and VGA memory live inside v86's wasm memory; the views onto them are in
 * v86-internals.ts. This module cuts them into blocks, clears absent ones and finds changed ones.
 */
export { guestMemoryView, svgaMemoryView };

export function writeBlocks(view: Uint8Array, image: ImageBlocks): void {
  for (const { indices, data } of image.blocks) {
    for (const i of indices) view.set(data, i * image.blockSize);
  }
}

/**
 * How far into guest RAM and into VGA memory a freshly constructed v86 (no BIOS loaded, nothing
 * run) may have written: v86 0.5.462 leaves one byte in each, in the first 128 KiB. Above the
 * limit both are untouched wasm memory, i.e. zero, so resume does not scan ~100 MiB (25-30 ms).
 * test/engine/fresh-memory.test.ts pins this for the engine build we ship.
 */
export const FRESH_DIRTY_LIMIT = 1 << 20;

/**
 * Zeroes the blocks the snapshot says are all zero, below `limit`. A fresh emulator's memory is
 * almost all zero already (v86 leaves a byte or two), so each block is checked first and only
 * dirty ones cleared.
 */
export function zeroAbsent(view: Uint8Array, presence: ImagePresence, isZero: (offset: number, length: number) => boolean, limit = view.byteLength): void {
  const n = Math.min(presence.present.length, Math.ceil(limit / presence.blockSize));
  for (let i = 0; i < n; i++) {
    if (presence.present[i]) continue;
    const offset = i * presence.blockSize;
    const length = Math.min(presence.blockSize, view.byteLength - offset);
    if (!isZero(offset, length)) view.fill(0, offset, offset + length);
  }
}

/** Word-wise zero check for views v86 has no scan for (VGA memory). */
export function viewIsZero(view: Uint8Array): (offset: number, length: number) => boolean {
  return (offset, length) => {
    const start = view.byteOffset + offset;
    if (start % 8 === 0 && length % 8 === 0) {
      const w = new BigUint64Array(view.buffer, start, length / 8);
      for (let i = 0; i < w.length; i++) if (w[i] !== 0n) return false;
      return true;
    }
    for (let i = offset; i < offset + length; i++) if (view[i] !== 0) return false;
    return true;
  };
}

/**
 * Saves the device state without its big buffers (RAM pages, SVGA memory, pixel buffer) and
 * returns those separately, copied out of the wasm memory: the state shrinks from ~50 MB to well
 * under 1 MB and RAM is cut into blocks by the caller.
 */
export async function captureState(emulator: V86Emulator): Promise<{ state: Uint8Array; memory: ArrayBuffer; vga: ArrayBuffer }> {
  const raw = await saveWithoutBuffers(emulator);
  const cpu = cpuOf(emulator);
  const memory = guestMemoryView(cpu).slice().buffer;
  const vgaMemory = svgaMemoryView(cpu).slice().buffer;
  return { state: new Uint8Array(raw), memory, vga: vgaMemory };
}

/**
 * Blocks of `image` that differ from `baseline` (blocks absent from it were zero). Compared with
 * memcmp through Buffer views; a changed block is copied out so it can be transferred.
 */
export function changedBlocks(image: Uint8Array, blockSize: number, baseline: Map<number, Uint8Array>): BlockChange[] {
  const out: BlockChange[] = [];
  const isZero = viewIsZero(image);
  for (let index = 0; index * blockSize < image.byteLength; index++) {
    const offset = index * blockSize;
    const length = Math.min(blockSize, image.byteLength - offset);
    const base = baseline.get(index);
    const current = Buffer.from(image.buffer, image.byteOffset + offset, length);
    if (base ? current.equals(base) : isZero(offset, length)) continue;
    out.push({ index, data: isZero(offset, length) ? new Uint8Array(0) : new Uint8Array(current) });
  }
  return out;
}
