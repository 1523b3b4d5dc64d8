import { createHmac, timingSafeEqual } from "node:crypto";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { writeFileAtomic } from "../snapshot/atomic-file";
import { parseIsoDateTime } from "./policy";

/**
 * The local usage record a restricted app needs (launch count, first launch, the latest time the
 * clock was seen at, first location). Two copies: one in the state folder (it travels with the
 * file on a USB stick) and a mirror in the user's data folder (it survives deleting or replacing
 * the state folder). The MAC key is derived from public data (the manifest hash), so the MAC only
 * makes hand edits evident; anyone who reads this code can forge it. See samples/policies/README.md.
 */

export interface Ledger {
  version: 1;
  launches: number;
  firstLaunchAt?: string;
  lastTrustedAt?: string;
  firstLocation?: string;
}

interface LedgerFile {
  format: typeof FILE_FORMAT;
  ledger: Ledger;
  /** hex HMAC-SHA256 over canonical(ledger) */
  mac: string;
}

export const LEDGER_FILE = "ledger.json";
const FILE_FORMAT = "vmsfx-ledger";
// A key of its own for this use, so a MAC made here can never be replayed as anything else.
const DOMAIN = "vmsfx ledger mac v1";
const LEDGER_KEYS = new Set(["version", "launches", "firstLaunchAt", "lastTrustedAt", "firstLocation"]);

export function emptyLedger(): Ledger {
  return { version: 1, launches: 0 };
}

function macKey(appId: string): Buffer {
  if (typeof appId !== "string" || appId === "") throw new Error("ledger: appId (the manifest's SHA-256 hex) is required");
  return createHmac("sha256", DOMAIN).update(appId, "utf8").digest();
}

/** Fixed field order, so the MAC never depends on how a JSON writer ordered keys. */
function canonical(l: Ledger): string {
  return JSON.stringify({
    version: l.version,
    launches: l.launches,
    firstLaunchAt: l.firstLaunchAt,
    lastTrustedAt: l.lastTrustedAt,
    firstLocation: l.firstLocation,
  });
}

function mac(appId: string, l: Ledger): string {
  return createHmac("sha256", macKey(appId)).update(canonical(l), "utf8").digest("hex");
}

/** A reason the object is not a well-formed ledger, or undefined when it is one. */
function ledgerProblem(l: unknown): string | undefined {
  if (typeof l !== "object" || l === null || Array.isArray(l)) return "not an object";
  const r = l as Record<string, unknown>;
  const unknown = Object.keys(r).find((k) => !LEDGER_KEYS.has(k));
  if (unknown !== undefined) return `unknown field ${unknown}`;
  if (r.version !== 1) return "version";
  if (typeof r.launches !== "number" || !Number.isSafeInteger(r.launches) || r.launches < 0) return "launches";
  for (const k of ["firstLaunchAt", "lastTrustedAt"]) {
    if (r[k] !== undefined && (typeof r[k] !== "string" || parseIsoDateTime(r[k] as string) === undefined)) return k;
  }
  if (r.firstLocation !== undefined && (typeof r.firstLocation !== "string" || r.firstLocation === "")) return "firstLocation";
  return undefined;
}

function tampered(file: string): VmsfxError {
  return new VmsfxError(
    "VMSFX_LEDGER_TAMPERED",
    `${file}: this app's usage record was changed outside vmsfx, so its restrictions cannot be checked and it will not start. Put back the original file, or ask the publisher for help.`,
  );
}

async function readCopy(file: string, appId: string): Promise<Ledger | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fromFsError(e, file, "reading the usage record");
  }
  // Writes are atomic, so a half-written file cannot happen: anything unreadable was edited.
  let parsed: LedgerFile;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw tampered(file);
  }
  if (typeof parsed !== "object" || parsed === null || parsed.format !== FILE_FORMAT || typeof parsed.mac !== "string" || !/^[0-9a-f]{64}$/.test(parsed.mac)) {
    throw tampered(file);
  }
  if (Object.keys(parsed).some((k) => k !== "format" && k !== "ledger" && k !== "mac")) throw tampered(file);
  if (ledgerProblem(parsed.ledger) !== undefined) throw tampered(file);
  const expected = Buffer.from(mac(appId, parsed.ledger), "hex");
  if (!timingSafeEqual(Buffer.from(parsed.mac, "hex"), expected)) throw tampered(file);
  const l = parsed.ledger;
  return { version: 1, launches: l.launches, firstLaunchAt: l.firstLaunchAt, lastTrustedAt: l.lastTrustedAt, firstLocation: l.firstLocation };
}

const time = (s: string | undefined) => (s === undefined ? undefined : parseIsoDateTime(s));

/**
 * Field by field, the furthest-along view of two copies: restoring an old copy of one, or
 * deleting one, loses nothing the other remembers. firstLocation follows the earliest first launch.
 */
export function mergeLedgers(a: Ledger, b: Ledger): Ledger {
  const pick = (x: string | undefined, y: string | undefined, later: boolean) => {
    const tx = time(x), ty = time(y);
    if (tx === undefined) return y;
    if (ty === undefined) return x;
    return later ? (ty > tx ? y : x) : (ty < tx ? y : x);
  };
  const firstLaunchAt = pick(a.firstLaunchAt, b.firstLaunchAt, false);
  const [origin, other] = (time(b.firstLaunchAt) ?? Infinity) < (time(a.firstLaunchAt) ?? Infinity) ? [b, a] : [a, b];
  const out: Ledger = { version: 1, launches: Math.max(a.launches, b.launches) };
  if (firstLaunchAt !== undefined) out.firstLaunchAt = firstLaunchAt;
  const lastTrustedAt = pick(a.lastTrustedAt, b.lastTrustedAt, true);
  if (lastTrustedAt !== undefined) out.lastTrustedAt = lastTrustedAt;
  const firstLocation = origin.firstLocation ?? other.firstLocation;
  if (firstLocation !== undefined) out.firstLocation = firstLocation;
  return out;
}

export async function readLedger(stateDir: string, mirrorPath: string, appId: string): Promise<{ ledger: Ledger; missing: boolean }> {
  macKey(appId);
  const [state, mirror] = await Promise.all([readCopy(path.join(stateDir, LEDGER_FILE), appId), readCopy(mirrorPath, appId)]);
  if (state === undefined && mirror === undefined) return { ledger: emptyLedger(), missing: true };
  const ledger = state === undefined ? mirror! : mirror === undefined ? state : mergeLedgers(state, mirror);
  return { ledger: stripUndefined(ledger), missing: false };
}

function stripUndefined(l: Ledger): Ledger {
  return Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)) as Ledger;
}

/** Both copies, each temp + fsync + rename. A crash between the two leaves one copy ahead; readLedger takes it. */
export async function writeLedger(stateDir: string, mirrorPath: string, appId: string, ledger: Ledger): Promise<void> {
  const clean = stripUndefined(ledger);
  const problem = ledgerProblem(clean);
  if (problem !== undefined) throw new Error(`writeLedger: not a valid ledger (${problem})`);
  const file: LedgerFile = { format: FILE_FORMAT, ledger: clean, mac: mac(appId, clean) };
  const bytes = Buffer.from(`${JSON.stringify(file, null, 2)}\n`, "utf8");
  await sweepDeadTemps(mirrorPath);
  for (const target of [mirrorPath, path.join(stateDir, LEDGER_FILE)]) {
    try {
      await makeFolder(path.dirname(target));
      await writeFileAtomic(target, bytes);
    } catch (e) {
      throw notRecorded(e, target);
    }
  }
}

/**
 * The mirror's folder is shared by every app and not locked: only temp files of this record left
 * by a process that is gone (killed mid-write) are removed, so crashes never add up there.
 */
async function sweepDeadTemps(target: string): Promise<void> {
  const base = path.basename(target);
  for (const f of await fsp.readdir(path.dirname(target)).catch(() => [] as string[])) {
    if (!f.startsWith(`.${base}.`) || !f.endsWith(".tmp")) continue;
    const pid = Number(f.slice(base.length + 2).split(".")[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    const gone = (() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === "ESRCH";
      }
    })();
    if (gone) await fsp.rm(path.join(path.dirname(target), f), { force: true }).catch(() => undefined);
  }
}

async function makeFolder(dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true });
  } catch (e) {
    let err = e as NodeJS.ErrnoException;
    // Node's recursive mkdir reports a read-only or unwritable parent as ENOENT: find the real cause.
    if (err.code === "ENOENT") {
      let up = path.dirname(dir);
      while (!(await fsp.stat(up).then(() => true, () => false)) && path.dirname(up) !== up) up = path.dirname(up);
      await fsp.access(up, 2 /* W_OK */).catch((why: NodeJS.ErrnoException) => (err = why));
    }
    throw fromFsError(err, dir, "creating the folder for the usage record");
  }
}

/**
 * A restricted app is not started when its launch cannot be recorded (else a full or read-only
 * disk would be a way around the launch limit). The old copies are untouched: writes are atomic.
 */
function notRecorded(e: unknown, target: string): VmsfxError {
  const err = e instanceof VmsfxError ? e : fromFsError(e, target, "writing the usage record");
  const why = err.code === "VMSFX_DISK_FULL" ? "no space left" : err.code === "VMSFX_IO" ? "read-only or permission denied" : undefined;
  if (!why) return err;
  const fix = err.code === "VMSFX_DISK_FULL" ? "Free some space and start it again." : `Make ${path.dirname(target)} writable (or set XDG_DATA_HOME to a writable folder) and start it again.`;
  return new VmsfxError(err.code, `${target}: this app's usage record could not be saved (${why}), and a restricted app needs it to start. ${fix}`, { cause: e });
}
