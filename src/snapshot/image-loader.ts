import { blockLength, type BlockHash, type BlockMap } from "./manifest";
import { spansOf, type BlockReader } from "./snapshot-source";
import type { ImageBlocks, ImagePresence, ImageTarget } from "../engine/engine-protocol";

/**
 * Streams a guest-physical image (RAM, VGA memory) to the engine, verifying every block. From a
 * bundle, blocks that sit next to each other (they do: hot order) are read in large positioned
 * reads instead of one read per block; memory in flight stays bounded by SPAN_LIMIT. A span's
 * blocks decompress on the threadpool while this thread hashes the next.
 */

const SPAN_LIMIT = 4 << 20;
const SPAN_GAP = 64 << 10;

export function presenceOf(map: BlockMap): ImagePresence {
  return { blockSize: map.blockSize, present: Uint8Array.from(map.blocks, (h) => (h ? 1 : 0)) };
}

export async function streamImage(reader: BlockReader, map: BlockMap, target: ImageTarget, send: (image: ImageBlocks) => void): Promise<void> {
  // A hash can stand at several offsets (deduplicated blocks): decode once, place everywhere.
  const places = new Map<BlockHash, number[]>();
  map.blocks.forEach((h, i) => {
    if (!h) return;
    const list = places.get(h);
    if (list) list.push(i);
    else places.set(h, [i]);
  });
  let batch: ImageBlocks["blocks"] = [];
  const emit = (hash: BlockHash, raw: Uint8Array, owned: boolean) => {
    // Transferred buffers must be whole and ours: copy a block that is a view into a read span.
    // (A Buffer's slice() is a view, not a copy: a Uint8Array of it is.)
    const data = owned && raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : new Uint8Array(raw);
    batch.push({ indices: places.get(hash)!, data });
  };
  const flush = () => {
    if (batch.length) send({ target, blockSize: map.blockSize, blocks: batch });
    batch = [];
  };
  const lengthOf = (hash: BlockHash) => blockLength(map, places.get(hash)![0]);
  const spans = spansOf(reader.source);
  const items = [...places.keys()].map((hash) => ({ hash, entry: spans?.entry(hash) }));
  const spanned = items.filter((x) => x.entry);
  const single = items.filter((x) => !x.entry);
  spanned.sort((a, b) => a.entry!.offset - b.entry!.offset);
  for (let i = 0; i < spanned.length; ) {
    const start = spanned[i].entry!.offset;
    let end = start + spanned[i].entry!.length;
    let j = i + 1;
    while (j < spanned.length && spanned[j].entry!.offset - end <= SPAN_GAP && spanned[j].entry!.offset + spanned[j].entry!.length - start <= SPAN_LIMIT) {
      end = spanned[j].entry!.offset + spanned[j].entry!.length;
      j++;
    }
    const span = await spans!.readSpan(start, end - start);
    const decoded = spanned.slice(i, j).map(async ({ hash, entry }) => {
      const stored = span.subarray(entry!.offset - start, entry!.offset - start + entry!.length);
      const raw = await reader.decodeAsync(stored, hash, lengthOf(hash));
      return { hash, raw, owned: raw !== stored };
    });
    // Every block's hash is checked before any of it reaches the engine; the first failure wins.
    for (const { hash, raw, owned } of await Promise.all(decoded)) emit(hash, raw, owned);
    flush();
    i = j;
  }
  for (const { hash } of single) {
    const raw = await reader.read(hash, lengthOf(hash));
    emit(hash, raw, false);
    if (batch.length >= 64) flush();
  }
  flush();
}
