import { createReadStream, mkdtempSync, promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Readable, Writable } from "node:stream";
import { VmsfxError } from "../errors";
import { loadEngineAssets } from "../engine/engine-assets";
import type { DiskSlot } from "../engine/engine-protocol";
import { runBundle } from "../launcher/run-bundle";
import { openSnapshotDir, writeManifestFile } from "../snapshot/snapshot-dir";

/**
 * `vmsfx record <snapshot>`: resume the snapshot as a user would (driven by an input script),
 * note the order in which the guest first reads its disk blocks, and keep that "hot set" in the
 * manifest. The session's own changes are thrown away; only the manifest changes.
 */
export async function recordCommand(a: { snapshot: string; input?: string; seconds: number; verbose: boolean; quiet: boolean }): Promise<number> {
  const st = await fsp.stat(a.snapshot).catch(() => undefined);
  if (!st?.isDirectory()) throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `${a.snapshot}: not a snapshot directory (record works on what \`vmsfx capture\` made, before packing).`);
  const order = new Map<DiskSlot, number[]>();
  const seen = new Set<string>();
  const scratch = mkdtempSync(path.join(os.tmpdir(), "vmsfx-record-"));
  const input = a.input ? createReadStream(a.input) : Readable.from([]);
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  try {
    await runBundle(a.snapshot, await loadEngineAssets(), {
      fresh: false,
      stateDir: scratch,
      maxRunMs: a.seconds * 1000,
      stayAfterInput: true,
      onDiskRead: (slot, index) => {
        if (seen.has(`${slot}:${index}`)) return;
        seen.add(`${slot}:${index}`);
        order.set(slot, [...(order.get(slot) ?? []), index]);
      },
      stdin: input as unknown as NodeJS.ReadStream,
      stdout: (a.verbose ? process.stderr : sink) as unknown as NodeJS.WriteStream,
      stderr: (a.verbose ? process.stderr : sink) as unknown as NodeJS.WriteStream,
    });
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
  const dir = await openSnapshotDir(a.snapshot);
  const hot = [...order].map(([slot, blocks]) => ({ slot, blocks }));
  await writeManifestFile(a.snapshot, { ...dir.manifest, hot });
  await dir.close();
  if (!a.quiet) process.stdout.write(`recorded the hot set of ${a.snapshot}: ${hot.map((h) => `${h.slot} ${h.blocks.length} blocks`).join(", ") || "no disk reads"}\n`);
  return 0;
}
