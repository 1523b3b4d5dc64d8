import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { VmsfxError } from "../errors";
import type { Manifest } from "../snapshot/manifest";
import { RESUME_FILE } from "../snapshot/resume-point";
import { checkLaunch, publisherNote } from "./restrictions";
import { readLedger, writeLedger } from "./ledger";
import { machineFingerprint } from "./fingerprint";
import { restrictsLaunch, type Policy } from "./policy";
import { checkSignature, parseSignature } from "./signature";

/**
 * Everything that must hold before any guest code runs: the signature (when there is one, or
 * one is required), then the publisher's restrictions against the usage ledger. A launch that
 * passes is counted before the guest starts, so killing the app does not give a launch back.
 */

export interface GateInput {
  /** Names this bundle: the SHA-256 of its manifest entry. */
  appId: string;
  manifest: Manifest;
  /** The bundle's manifest entry exactly as stored: what the signature covers. */
  manifestBytes?: Uint8Array;
  signature?: Uint8Array;
  location: string;
  requireSigner?: string;
  stateDir: string;
  appPath: string;
  now: Date;
}

export interface GateResult {
  policy?: Policy;
  sessionLimitMs?: number;
}

/** The ledger's second copy, outside the state folder: deleting the folder next to the app does not restart a trial. */
export function ledgerMirror(appId: string): string {
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share");
  return path.join(base, "vmsfx", "ledgers", `${appId}.json`);
}

export async function enforceLaunch(g: GateInput): Promise<GateResult> {
  const policy = g.manifest.policy;
  const expected = g.requireSigner ?? policy?.signer;
  if (g.signature && g.manifestBytes) {
    checkSignature(g.manifestBytes, parseSignature(g.signature, g.location), g.location, expected);
  } else if (expected !== undefined || policy) {
    // An unsigned bundle's restrictions could have been edited by anyone: refuse rather than trust them.
    throw new VmsfxError("VMSFX_SIGNATURE_INVALID", `${g.location} is not signed${policy ? " but carries usage restrictions" : ""}. Do not run it; get it from its publisher.`);
  }
  if (!policy || !restrictsLaunch(policy)) return { policy };
  const appId = g.appId;
  const mirror = ledgerMirror(appId);
  const { ledger, missing } = await readLedger(g.stateDir, mirror, appId);
  const hasResumePoint = await fsp.stat(path.join(g.stateDir, RESUME_FILE)).then(() => true, () => false);
  if (missing && hasResumePoint) {
    throw new VmsfxError("VMSFX_LEDGER_TAMPERED", `${g.stateDir}: this app's usage record is gone while its saved state is still there, so the record was deleted.${publisherNote(policy)}`);
  }
  const location = await fsp.realpath(g.appPath).catch(() => path.resolve(g.appPath));
  const decision = checkLaunch(policy, ledger, { now: g.now, fingerprint: policy.machines ? machineFingerprint() : "", location });
  await writeLedger(g.stateDir, mirror, appId, decision.ledger);
  return { policy, sessionLimitMs: decision.sessionLimitMs };
}
