import { promises as fsp } from "node:fs";
import { VmsfxError } from "../errors";
import { openSnapshot } from "../snapshot/open-snapshot";
import { statBlocks } from "../snapshot/snapshot-dir";
import { reportSnapshot, type SnapshotReport } from "../snapshot/snapshot-report";
import { manifestBlocks } from "../snapshot/manifest";
import { readPublicHeader } from "../snapshot/bundle-reader";
import { unlockerFor } from "../policy/unlocker";
import { checkSignature, parseSignature, resolvePublicKey } from "../policy/signature";
import type { AccessOptions } from "./access-options";
import { formatBytes } from "./progress";

/** `vmsfx inspect` and an executable's `--info`: what a bundle or snapshot directory holds. */

const out = (s: string) => process.stdout.write(s + "\n");

/**
 * `runtime`: the Node an executable carries (its `--info`), so a user can tell whether it gets
 * security fixes; `runtimeOptions`: the Node options it starts with (packaging/launcher-runtime.ts).
 */
export async function inspectCommand(a: { target: string; json: boolean; runtime?: string; runtimeOptions?: string[] } & AccessOptions): Promise<number> {
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
    if (a.json) out(JSON.stringify({ kind: source.kind, path: a.target, fileBytes, runtime: a.runtime, runtimeOptions: a.runtimeOptions, ...restrictions, ...report }, null, 2));
    else {
      printReport(a.target, source.kind, fileBytes, report);
      if (a.runtime) out(`  runtime   Node ${a.runtime} (carried in this file${a.runtimeOptions?.length ? `; started with ${a.runtimeOptions.join(" ")}` : ""})`);
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
  if (r.app?.ports?.length) out(`  ports     ${r.app.ports.map((p) => `${p.host || "any"} -> guest ${p.guest}`).join(", ")} (127.0.0.1)${r.app.open ? `; opens ${r.app.open.path} on guest port ${r.app.open.guestPort}` : ""}`);
  if (r.app) out(`  network   ${r.app.outbound?.length ? `may connect out to ${r.app.outbound.join(", ")}` : "no way out"}`);
  out("");
  const row = (c: string[]) => out("  " + c[0].padEnd(14) + c.slice(1).map((x) => " " + x.padStart(11)).join(""));
  row(["part", "raw", "blocks", "zero", "duplicate", "stored", "size stored"]);
  for (const p of [...r.parts, { name: "total", ...r.totals }]) {
    row([p.name, formatBytes(p.rawBytes), String(p.blocks), String(p.zeroBlocks), String(p.dedupBlocks), String(p.storedBlocks), formatBytes(p.storedBytes)]);
  }
}

