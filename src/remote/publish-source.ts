import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { parseManifest, type BlockHash } from "../snapshot/manifest";
import { openBundleContainer } from "../snapshot/bundle-reader";
import { isLockedManifest } from "../snapshot/bundle-manifest";
import { hotSections } from "../snapshot/hot-order";
import type { Manifest } from "../snapshot/manifest";
import { MANIFEST_FILE, openSnapshotDir } from "../snapshot/snapshot-dir";

/**
 * What a publish reads, wherever it goes (a folder: publish.ts; a registry: oci-publish.ts): a
 * bundle (plain or executable) or a snapshot folder, as its manifest entry's bytes, signature,
 * and blocks in hot order.
 */

export interface PlanItem {
  hash: BlockHash;
  /** Raw length, for the source's size check. */
  rawLength: number;
  /** Stored length when the source knows it without reading (a bundle's TOC). */
  storedLength?: number;
  /** Which part of the hot order it belongs to (hot-order.ts hotSections); packs never straddle two. */
  section: number;
}

/** What to publish: the manifest entry's bytes, the signature, the blocks in hot order, and where to read them. */
export interface Plan {
  location: string;
  manifestBytes: Buffer;
  signature?: Buffer;
  encrypted: boolean;
  items: PlanItem[];
  readStored(hash: BlockHash, rawLength: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * A bundle is read as a container only: nothing here needs its manifest unlocked. An encrypted
 * bundle's TOC is the list of blocks (already named by their sealed bytes); a plain one's
 * manifest gives the hot order.
 */
async function bundlePlan(input: string): Promise<Plan> {
  const c = await openBundleContainer(input);
  const base = { location: input, manifestBytes: c.manifestBytes, signature: c.signature, readStored: c.readStored, close: () => c.port.close() };
  try {
    if (isLockedManifest(c.manifestBytes)) {
      const items = [...c.toc.blocks].map(([hash, e]) => ({ hash, rawLength: e.length, storedLength: e.length, section: 0 }));
      return { ...base, encrypted: true, items };
    }
    const items = itemsOf(parseManifest(c.manifestBytes)).map((i) => ({ ...i, storedLength: c.toc.blocks.get(i.hash)?.length }));
    return { ...base, encrypted: false, items };
  } catch (e) {
    await base.close();
    throw e;
  }
}

/** A snapshot directory: publish manifest.json's own bytes, and the blocks those bytes name. */
async function directoryPlan(input: string): Promise<Plan> {
  const source = await openSnapshotDir(input);
  try {
    const file = path.join(input, MANIFEST_FILE);
    const manifestBytes = await fsp.readFile(file).catch((e) => Promise.reject(fromFsError(e, file, "reading the manifest")));
    const items = itemsOf(parseManifest(manifestBytes));
    return { location: source.location, manifestBytes, encrypted: false, items, readStored: (h, n) => source.readStored(h, n), close: () => source.close() };
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** The manifest's blocks in hot order, each with its section. */
function itemsOf(m: Manifest): PlanItem[] {
  return hotSections(m).flatMap((blocks, section) => blocks.map(({ hash, size }) => ({ hash, rawLength: size, section })));
}

export async function planFor(input: string): Promise<Plan> {
  const st = await fsp.stat(input).catch(() => undefined);
  if (!st) throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `${input}: no such file or directory.`);
  return st.isDirectory() ? directoryPlan(input) : bundlePlan(input);
}

