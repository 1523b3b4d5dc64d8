import { promises as fsp } from "node:fs";
import { createHash } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { lock } from "./state-lock";

export { alive } from "./state-lock";

/**
 * The local state folder of an app: next to the file (`app` → `app.vmsfx-state/`), so the user's
 * work travels with the USB stick; on a read-only medium, in the user's data directory instead.
 * One launch at a time holds it, through an exclusive lock file.
 */

export function defaultStateDir(target: string): string {
  const abs = path.resolve(target);
  return path.join(path.dirname(abs), `${path.basename(abs).replace(/\.vmsfx$/, "")}.vmsfx-state`);
}

/** Where the state goes when the app's own folder is read-only: one folder per app path. */
export function fallbackStateDir(target: string): string {
  const abs = path.resolve(target);
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share");
  const id = createHash("sha256").update(abs).digest("hex").slice(0, 12);
  return path.join(base, "vmsfx", "state", `${path.basename(abs).replace(/\.vmsfx$/, "")}-${id}`);
}

export interface StateDir {
  path: string;
  /** Set when the state had to move off a read-only medium: tell the user once. */
  notice?: string;
  release(): Promise<void>;
}

async function writable(dir: string): Promise<boolean> {
  try {
    await fsp.mkdir(dir, { recursive: true });
    await fsp.access(dir, 2 /* W_OK */);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EROFS" || code === "EACCES" || code === "EPERM") return false;
    // Node's recursive mkdir reports a read-only parent as ENOENT.
    if (code === "ENOENT" && (await fsp.stat(path.dirname(dir)).then((st) => st.isDirectory(), () => false))) return false;
    throw fromFsError(e, dir, "creating the state folder");
  }
}

/**
 * Temp files in a locked state folder are left over from a process that died mid-write (only the
 * lock holder writes there): remove them so crashes never add up.
 */
async function sweepTempFiles(dir: string): Promise<void> {
  for (const sub of [dir, path.join(dir, "cache")]) {
    for (const f of await fsp.readdir(sub).catch(() => [] as string[])) {
      if (/^\..+\.tmp$/.test(f)) await fsp.rm(path.join(sub, f), { force: true }).catch(() => undefined);
    }
  }
}

export async function openStateDir(target: string, explicit?: string): Promise<StateDir> {
  let dir = explicit ?? defaultStateDir(target);
  let notice: string | undefined;
  if (!(await writable(dir))) {
    if (explicit) throw new VmsfxError("VMSFX_IO", `${dir} is not writable. Choose another --state-dir.`);
    const fallback = fallbackStateDir(target);
    notice = `vmsfx: ${path.dirname(dir)} is read-only, so your changes are kept in ${fallback} instead.`;
    dir = fallback;
    if (!(await writable(dir))) throw new VmsfxError("VMSFX_IO", `neither ${path.dirname(defaultStateDir(target))} nor ${dir} is writable, so changes could not be kept. Use --state-dir.`);
  }
  const release = await lock(dir);
  await sweepTempFiles(dir);
  return { path: dir, notice, release };
}
