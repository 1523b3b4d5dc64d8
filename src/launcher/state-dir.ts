import { promises as fsp } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";

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

/** Whether a process with this id exists (one of another user counts). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** How long a takeover may hold `lock.takeover` before another launch treats it as abandoned. */
const TAKEOVER_STALE_MS = 10_000;

/**
 * Takes the folder's lock; a lock left by a process that is gone (a crash, kill -9) is taken over.
 * Removing a stale lock is itself guarded (`lock.takeover`, created exclusively): without it, two
 * launches that both saw the same stale lock could each remove it, and the slower one would
 * delete the lock the faster one had just made, and both would run.
 */
async function lock(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, "lock");
  const mine = `${process.pid} ${os.hostname()} ${randomBytes(6).toString("hex")}\n`;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const h = await fsp.open(file, "wx", 0o644);
      try {
        await h.writeFile(mine);
      } catch (e) {
        await h.close();
        await fsp.rm(file, { force: true });
        throw e;
      }
      await h.close();
      return async () => {
        // Only remove the lock if it is still ours. If it cannot be removed (the medium went
        // read-only), it is left: once this process is gone the next launch takes it over, and
        // the error that matters is the one already being reported.
        const now = await fsp.readFile(file, "utf8").catch(() => "");
        if (now === mine) await fsp.rm(file, { force: true }).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw fromFsError(e, file, "locking the state folder");
      const seen = await fsp.readFile(file, "utf8").catch(() => undefined);
      if (seen === undefined) continue; // released meanwhile
      const [pid, host] = seen.trim().split(" ");
      const holder = Number(pid);
      if (host === os.hostname() && Number.isInteger(holder) && holder > 0 && alive(holder)) {
        throw new VmsfxError("VMSFX_STATE_LOCKED", `${dir} is in use by another launch of this app (process ${holder}). Close that one first; two at once would overwrite each other's work.`);
      }
      if (host !== undefined && host !== os.hostname()) {
        throw new VmsfxError("VMSFX_STATE_LOCKED", `${dir} is in use on another computer (${host}). Close the app there first; if it crashed there, delete ${file}.`);
      }
      await removeStaleLock(file, seen);
    }
  }
  throw new VmsfxError("VMSFX_STATE_LOCKED", `${dir}: could not take the lock. Try again.`);
}

async function removeStaleLock(file: string, seen: string): Promise<void> {
  const guard = `${file}.takeover`;
  const h = await fsp.open(guard, "wx", 0o644).catch(async (e) => {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw fromFsError(e, guard, "locking the state folder");
    const age = await fsp.stat(guard).then((st) => Date.now() - st.mtimeMs, () => 0);
    if (age > TAKEOVER_STALE_MS) await fsp.rm(guard, { force: true });
    else await new Promise((r) => setTimeout(r, 20));
    return undefined;
  });
  if (!h) return;
  try {
    // Still the same stale lock? Then it is ours to remove; otherwise someone already took over.
    if ((await fsp.readFile(file, "utf8").catch(() => undefined)) === seen) await fsp.rm(file, { force: true });
  } finally {
    await h.close();
    await fsp.rm(guard, { force: true });
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
