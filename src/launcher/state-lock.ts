import { promises as fsp } from "node:fs";
import { randomBytes } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";

/**
 * The lock of a state folder: a file `lock` created exclusively, holding "<pid> <host> <nonce>\n".
 * Creating it and writing it are two steps, and no rename or hard link can join them on the media
 * an app travels on (FAT and exFAT sticks have no links), so a lock can be seen empty or cut short
 * for a moment. Such a lock is a launch that is still writing it, never a stale one, until it has
 * stayed incomplete for TAKEOVER_STALE_MS (its writer died between the two steps).
 */

/** How long a takeover guard, or a lock still being written, may last before it counts as abandoned. */
const TAKEOVER_STALE_MS = 10_000;
/** How often a launch looks again at a lock that is being written or taken over. */
const RETRY_MS = 20;
/** Attempts at a lock that is complete but stale: each removes one stale lock. */
const STALE_ATTEMPTS = 20;

/** Whether a process with this id exists (one of another user counts). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

type LockSeen =
  | { kind: "gone" }
  | { kind: "writing"; text: string; ageMs: number }
  | { kind: "held"; text: string; pid: number; host: string };

async function readLock(file: string): Promise<LockSeen> {
  const text = await fsp.readFile(file, "utf8").catch(() => undefined);
  if (text === undefined) return { kind: "gone" };
  const m = /^(\d+) (\S+)(?: \S+)?\n$/.exec(text);
  if (m) return { kind: "held", text, pid: Number(m[1]), host: m[2] };
  const ageMs = await fsp.stat(file).then((st) => Date.now() - st.mtimeMs, () => 0);
  return { kind: "writing", text, ageMs };
}

const pause = () => new Promise((r) => setTimeout(r, RETRY_MS));

async function create(file: string, mine: string): Promise<boolean> {
  let h: fsp.FileHandle;
  try {
    h = await fsp.open(file, "wx", 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw fromFsError(e, file, "locking the state folder");
  }
  try {
    await h.writeFile(mine);
    await h.sync();
  } catch (e) {
    await h.close();
    await fsp.rm(file, { force: true });
    throw fromFsError(e, file, "locking the state folder");
  }
  await h.close();
  return true;
}

function refuse(dir: string, file: string, seen: { pid: number; host: string }): VmsfxError {
  if (seen.host !== os.hostname()) {
    return new VmsfxError("VMSFX_STATE_LOCKED", `${dir} is in use on another computer (${seen.host}). Close the app there first; if it crashed there, delete ${file}.`);
  }
  return new VmsfxError("VMSFX_STATE_LOCKED", `${dir} is in use by another launch of this app (process ${seen.pid}). Close that one first; two at once would overwrite each other's work.`);
}

/**
 * Takes the folder's lock; a lock left by a process that is gone (a crash, kill -9) is taken over.
 * Removing a stale lock is itself guarded (`lock.takeover`, created exclusively): without it, two
 * launches that both saw the same stale lock could each remove it, and the slower one would
 * delete the lock the faster one had just made, and both would run.
 */
export async function lock(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, "lock");
  const mine = `${process.pid} ${os.hostname()} ${randomBytes(6).toString("hex")}\n`;
  let staleLeft = STALE_ATTEMPTS;
  while (staleLeft > 0) {
    if (await create(file, mine)) return () => unlock(file, mine);
    const seen = await readLock(file);
    if (seen.kind === "gone") continue; // released meanwhile
    if (seen.kind === "writing" && seen.ageMs < TAKEOVER_STALE_MS) {
      await pause(); // regression: an empty lock was taken for a stale one, and two launches ran
      continue;
    }
    if (seen.kind === "held") {
      const here = seen.host === os.hostname();
      if (!here || alive(seen.pid)) throw refuse(dir, file, seen);
    }
    staleLeft--;
    await removeStaleLock(file, seen.text);
  }
  throw new VmsfxError("VMSFX_STATE_LOCKED", `${dir}: could not take the lock. Try again.`);
}

/**
 * Only removes the lock if it is still ours. If it cannot be removed (the medium went read-only),
 * it is left: once this process is gone the next launch takes it over, and the error that matters
 * is the one already being reported.
 */
async function unlock(file: string, mine: string): Promise<void> {
  const now = await fsp.readFile(file, "utf8").catch(() => "");
  if (now === mine) await fsp.rm(file, { force: true }).catch(() => undefined);
}

async function removeStaleLock(file: string, seen: string): Promise<void> {
  const guard = `${file}.takeover`;
  const h = await fsp.open(guard, "wx", 0o644).catch(async (e) => {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw fromFsError(e, guard, "locking the state folder");
    const age = await fsp.stat(guard).then((st) => Date.now() - st.mtimeMs, () => 0);
    if (age > TAKEOVER_STALE_MS) await fsp.rm(guard, { force: true });
    else await pause();
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
