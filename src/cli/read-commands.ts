import * as path from "node:path";
import { promises as fsp } from "node:fs";
import { VmsfxError } from "../errors";
import { loadEngineAssets, type EngineAssets } from "../engine/engine-assets";
import { openSnapshot } from "../snapshot/open-snapshot";
import { statBlocks } from "../snapshot/snapshot-dir";
import { reportSnapshot, verifySnapshot, type SnapshotReport } from "../snapshot/snapshot-report";
import { manifestBlocks } from "../snapshot/manifest";
import { runBundle } from "../launcher/run-bundle";
import { defaultStateDir } from "../launcher/state-dir";
import { readResumePoint } from "../snapshot/resume-point";
import { openLayeredSource } from "../snapshot/layered-source";
import type { SnapshotSource } from "../snapshot/snapshot-source";
import type { BundleSource } from "../snapshot/bundle-reader";
import { existsSync } from "node:fs";
import { unlockerFor } from "../policy/unlocker";
import { checkSignature, parseSignature, resolvePublicKey } from "../policy/signature";
import { readPublicHeader } from "../snapshot/bundle-reader";
import { loadZstd } from "../snapshot/block-codec";
import { createProgress, formatBytes } from "./progress";
import type { GuiOptions } from "../gui/gui-session";

/**
 * The user's commands (inspect, verify, run), shared by the vmsfx CLI and the launcher inside an
 * executable; each returns the process exit code.
 */

const out = (s: string) => process.stdout.write(s + "\n");

export async function inspectCommand(a: { target: string; json: boolean } & AccessOptions): Promise<number> {
  // Without its key an encrypted bundle shows only its public header.
  const locked = !a.keyFile && !a.passphraseFile ? await readPublicHeader(a.target) : undefined;
  if (locked) {
    if (a.json) out(JSON.stringify({ kind: "bundle", path: a.target, encrypted: true, public: locked.public, kdf: locked.kdf.name }, null, 2));
    else out(`${a.target}: encrypted vmsfx bundle "${locked.public.guest}" (${locked.kdf.name === "scrypt" ? "passphrase" : "key file"}). Give --passphrase-file or --key-file to see inside.`);
    return 0;
  }
  const source = await openSnapshot(a.target, { unlock: unlockerFor(a) });
  try {
    const m = source.manifest;
    const sizes = source.kind === "directory" ? await statBlocks(a.target, [...manifestBlocks(m)].map((b) => b.hash)) : undefined;
    const report = reportSnapshot(m, (h) => sizes?.get(h) ?? source.storedSize(h));
    const fileBytes = source.kind === "bundle" ? (await fsp.stat(a.target)).size : undefined;
    // Who signed it (not yet checked here: `verify` does) and what it restricts.
    const signedBy = source.signature ? parseSignature(source.signature, a.target).key : undefined;
    if (a.requireSigner) {
      if (!source.signature || !source.manifestBytes) throw new VmsfxError("VMSFX_SIGNATURE_INVALID", `${a.target} is not signed.`);
      checkSignature(source.manifestBytes, parseSignature(source.signature, a.target), a.target, await resolvePublicKey(a.requireSigner));
    }
    const restrictions = { signedBy, encrypted: !!source.cipher, policy: m.policy };
    if (a.json) out(JSON.stringify({ kind: source.kind, path: a.target, fileBytes, ...restrictions, ...report }, null, 2));
    else {
      printReport(a.target, source.kind, fileBytes, report);
      if (signedBy || restrictions.encrypted || m.policy) out("");
      if (signedBy) out(`  signed by ${signedBy}`);
      if (restrictions.encrypted) out("  encrypted (AES-256-GCM)");
      if (m.policy) out(`  policy    ${JSON.stringify(m.policy)}`);
    }
    return 0;
  } finally {
    await source.close();
  }
}

function printReport(target: string, kind: string, fileBytes: number | undefined, r: SnapshotReport): void {
  out(`${target}: vmsfx ${kind}${fileBytes !== undefined ? `, ${formatBytes(fileBytes)}` : ""}`);
  out(`  guest     ${r.guest.name}${r.guest.description ? ` — ${r.guest.description}` : ""}`);
  out(`  captured  ${r.createdAt}`);
  out(`  engine    v86 ${r.engine.version}, wasm sha256 ${r.engine.wasmSha256.slice(0, 16)}…`);
  out(`  machine   ${formatBytes(r.machine.memoryBytes)} RAM, ${formatBytes(r.machine.vgaMemoryBytes)} VGA`);
  if (r.app) out(`  app       built with vmsfx build: starts on every launch; a quit keeps only its data disk (${r.app.dataDisk}: ${r.app.data.join(", ") || "no data paths"})`);
  out("");
  const row = (c: string[]) => out("  " + c[0].padEnd(14) + c.slice(1).map((x) => " " + x.padStart(11)).join(""));
  row(["part", "raw", "blocks", "zero", "duplicate", "stored", "size stored"]);
  for (const p of [...r.parts, { name: "total", ...r.totals }]) {
    row([p.name, formatBytes(p.rawBytes), String(p.blocks), String(p.zeroBlocks), String(p.dedupBlocks), String(p.storedBlocks), formatBytes(p.storedBytes)]);
  }
}

export async function verifyCommand(a: { target: string; json: boolean; quiet: boolean; stateDir?: string } & AccessOptions): Promise<number> {
  const source = await openSnapshot(a.target, { unlock: unlockerFor(a) });
  if (source.signature && source.manifestBytes) {
    checkSignature(source.manifestBytes, parseSignature(source.signature, a.target), a.target, a.requireSigner ? await resolvePublicKey(a.requireSigner) : source.manifest.policy?.signer);
  }
  const progress = createProgress("verify", a.quiet || a.json);
  const sources: { what: string; source: SnapshotSource }[] = [{ what: a.target, source }];
  try {
    // The user's saved work is checked too: a resume point is only as good as its blocks.
    if (source.kind === "bundle") {
      const stateDir = a.stateDir ?? defaultStateDir(a.target);
      const point = await readResumePoint(stateDir).catch((e) => (existsSync(stateDir) ? Promise.reject(e) : undefined));
      if (point) sources.push({ what: `${a.target} resume point in ${stateDir}`, source: await openLayeredSource(source as unknown as BundleSource, point, stateDir) });
    }
    const results = [];
    for (const { what, source: s } of sources) {
      const r = await verifySnapshot(s, (d, t) => progress.update(d, t));
      results.push({ what, ...r });
    }
    progress.done();
    if (a.json) out(JSON.stringify({ path: a.target, ok: results.every((r) => r.failures.length === 0), checked: results }));
    for (const r of results) {
      if (!a.json && r.failures.length === 0) out(`${r.what}: OK, ${r.blocks} blocks, ${formatBytes(r.rawBytes)} verified`);
      if (r.failures.length > 0) {
        if (!a.json) for (const f of r.failures.slice(0, 20)) process.stderr.write(`vmsfx: ${f.message}\n`);
        throw new VmsfxError(r.failures[0].code as never, `${r.what}: ${r.failures.length} of ${r.blocks} blocks failed verification. Copy or download it again${r === results[0] ? "" : ", or start over with --reset"}.`);
      }
    }
    return 0;
  } finally {
    // The layered source closes the bundle it wraps.
    await sources[sources.length - 1].source.close();
  }
}

/** How a user proves access to a bundle: its key (encrypted) and the publisher key it must carry. */
export interface AccessOptions {
  passphraseFile?: string;
  keyFile?: string;
  requireSigner?: string;
}

export async function runCommand(
  a: { bundle: string; fresh: boolean; update?: boolean; stateDir?: string; timings: boolean; args?: string[] } & AccessOptions & { gui?: GuiOptions },
  loadAssets: () => Promise<EngineAssets> = loadEngineAssets,
): Promise<number> {
  const timings: Record<string, number> | undefined = a.timings ? { command: Math.round(performance.now() * 10) / 10 } : undefined;
  // zstd's wasm instantiates asynchronously: start it before anything else on the resume path.
  void loadZstd();
  const assets = await loadAssets();
  const r = await runBundle(a.bundle, assets, {
    fresh: a.fresh,
    update: a.update,
    args: a.args,
    stateDir: a.stateDir && path.resolve(a.stateDir),
    unlock: unlockerFor(a),
    requireSigner: a.requireSigner ? await resolvePublicKey(a.requireSigner) : undefined,
    timings,
    gui: a.gui,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  if (r.notice) process.stderr.write(`\r\n${r.notice}\r\n`);
  // Said after the state folder is released: the terminal may already be gone.
  if (r.reason === "reboot") process.stderr.write("\r\nvmsfx: the guest asked to reboot; it was shut down instead (v86 cannot reboot a resumed guest). Its disks are kept.\r\n");
  if (r.saved?.kind === "suspended" && r.reason !== "app-exit") process.stderr.write(`\r\nvmsfx: suspended; run it again to continue where you left off (saved in ${(r.saved.ms / 1000).toFixed(2)} s).\r\n`);
  if (timings) process.stderr.write(`vmsfx-timings ${JSON.stringify({ ...timings, maxRssKb: process.resourceUsage().maxRSS, ...(r.saved ? { saveMs: r.saved.ms, savedNewBytes: r.saved.newBytes, savedPackBytes: r.saved.packBytes } : {}) })}\n`);
  return r.exitCode;
}
