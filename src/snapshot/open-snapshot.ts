import { promises as fsp } from "node:fs";
import { VmsfxError } from "../errors";
import { openBundle, type OpenBundleOptions } from "./bundle-reader";
import { openSnapshotDir } from "./snapshot-dir";
import { serializeManifest } from "./manifest";
import { sha256 } from "./bundle-layout";
import type { SnapshotSource } from "./snapshot-source";

export interface OpenedSnapshot extends SnapshotSource {
  readonly kind: "directory" | "bundle";
  readonly manifestBytes?: Uint8Array;
  readonly signature?: Uint8Array;
  /**
   * Names this snapshot (the app's id: its state folder and resume points belong to it): the
   * SHA-256 of a bundle's manifest entry, or of a directory's manifest as vmsfx writes it.
   */
  readonly manifestSha256: string;
}

/** A path given on the command line: a snapshot directory or a bundle (plain or executable). */
export async function openSnapshot(p: string, opts: OpenBundleOptions = {}): Promise<OpenedSnapshot> {
  const st = await fsp.stat(p).catch(() => undefined);
  if (!st) throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `${p}: no such file or directory.`);
  if (st.isDirectory()) {
    const dir = await openSnapshotDir(p);
    return Object.assign(dir, { kind: "directory" as const, manifestSha256: sha256(serializeManifest(dir.manifest)) });
  }
  const bundle = await openBundle(p, opts);
  return Object.assign(bundle, { kind: "bundle" as const, manifestSha256: bundle.toc.manifest.sha256 });
}
