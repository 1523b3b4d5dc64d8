import type { Manifest } from "./manifest";
import { namedMaps } from "./block-maps";
import type { SnapshotSource } from "./snapshot-source";
import { BlockReader } from "./snapshot-source";
import { isVmsfxError, type VmsfxError } from "../errors";
import { hotOrder } from "./hot-order";

export interface PartReport {
  name: string;
  rawBytes: number;
  blocks: number;
  zeroBlocks: number;
  /** References to a block already stored earlier (in this part or another). */
  dedupBlocks: number;
  storedBlocks: number;
  storedBytes: number;
}

export interface SnapshotReport {
  guest: Manifest["guest"];
  createdAt: string;
  engine: Manifest["engine"];
  machine: Manifest["machine"];
  /** Set for an app built with `vmsfx build`. */
  app?: Manifest["app"];
  parts: PartReport[];
  totals: Omit<PartReport, "name">;
}

/** What is inside, from the manifest and the stored sizes the source knows. */
export function reportSnapshot(m: Manifest, storedSize: (hash: string) => number | undefined): SnapshotReport {
  const seen = new Set<string>();
  const parts: PartReport[] = [];
  for (const { part: name, map } of namedMaps(m)) {
    const p: PartReport = { name, rawBytes: map.size, blocks: map.blocks.length, zeroBlocks: 0, dedupBlocks: 0, storedBlocks: 0, storedBytes: 0 };
    for (const h of map.blocks) {
      if (h === null) p.zeroBlocks++;
      else if (seen.has(h)) p.dedupBlocks++;
      else {
        seen.add(h);
        p.storedBlocks++;
        p.storedBytes += storedSize(h) ?? 0;
      }
    }
    parts.push(p);
  }
  const totals = parts.reduce(
    (t, p) => ({
      rawBytes: t.rawBytes + p.rawBytes,
      blocks: t.blocks + p.blocks,
      zeroBlocks: t.zeroBlocks + p.zeroBlocks,
      dedupBlocks: t.dedupBlocks + p.dedupBlocks,
      storedBlocks: t.storedBlocks + p.storedBlocks,
      storedBytes: t.storedBytes + p.storedBytes,
    }),
    { rawBytes: 0, blocks: 0, zeroBlocks: 0, dedupBlocks: 0, storedBlocks: 0, storedBytes: 0 },
  );
  return { guest: m.guest, createdAt: m.createdAt, engine: m.engine, machine: m.machine, app: m.app, parts, totals };
}

export interface VerifyResult {
  blocks: number;
  rawBytes: number;
  storedBytes: number;
  failures: { hash: string; code: string; message: string }[];
}

/** Reads, decodes and hashes every block; collects every failure instead of stopping at one. */
export async function verifySnapshot(source: SnapshotSource, onProgress?: (done: number, total: number) => void): Promise<VerifyResult> {
  const reader = await BlockReader.open(source);
  const order = hotOrder(source.manifest);
  const result: VerifyResult = { blocks: 0, rawBytes: 0, storedBytes: 0, failures: [] };
  for (let i = 0; i < order.length; i++) {
    const { hash, size } = order[i];
    try {
      const stored = await source.readStored(hash, size);
      reader.decode(stored, hash, size);
      result.storedBytes += stored.byteLength;
      result.rawBytes += size;
    } catch (e) {
      if (!isVmsfxError(e)) throw e;
      result.failures.push({ hash, code: (e as VmsfxError).code, message: e.message });
    }
    result.blocks++;
    onProgress?.(i + 1, order.length);
  }
  return result;
}

