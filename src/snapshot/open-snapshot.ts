import { promises as fsp } from "node:fs";
import { VmsfxError } from "../errors";
import { openBundle, type OpenBundleOptions } from "./bundle-reader";
import { openSnapshotDir } from "./snapshot-dir";
import type { SnapshotSource } from "./snapshot-source";

/** A path given on the command line: a snapshot directory or a bundle (plain or executable). */
export async function openSnapshot(p: string, opts: OpenBundleOptions = {}): Promise<SnapshotSource & { kind: "directory" | "bundle"; manifestBytes?: Uint8Array; signature?: Uint8Array }> {
  const st = await fsp.stat(p).catch(() => undefined);
  if (!st) throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `${p}: no such file or directory.`);
  if (st.isDirectory()) return Object.assign(await openSnapshotDir(p), { kind: "directory" as const });
  return Object.assign(await openBundle(p, opts), { kind: "bundle" as const });
}
