import * as path from "node:path";
import { promises as fsp } from "node:fs";
import { VmsfxError } from "../errors";
import { loadEngineAssets } from "../engine/engine-assets";
import { capture } from "../snapshot/capture";
import { checkRecipeFiles, loadRecipe } from "../snapshot/recipe";
import { openSnapshot } from "../snapshot/open-snapshot";
import { openSnapshotDir, statBlocks } from "../snapshot/snapshot-dir";
import { writeBundle } from "../snapshot/bundle-writer";
import { reportSnapshot, verifySnapshot, type SnapshotReport } from "../snapshot/snapshot-report";
import { manifestBlocks } from "../snapshot/manifest";
import { runBundle } from "../launcher/run-bundle";
import { loadZstd } from "../snapshot/block-codec";
import { createProgress, formatBytes } from "./progress";

/** The command implementations behind the CLI; each returns the process exit code. */

const out = (s: string) => process.stdout.write(s + "\n");

export async function captureCommand(a: { recipe: string; out: string; blockSize: number; level: number; verbose: boolean; json: boolean; quiet: boolean }): Promise<number> {
  const recipe = await loadRecipe(a.recipe);
  await checkRecipeFiles(recipe);
  const assets = await loadEngineAssets();
  const progress = createProgress("capture", a.quiet || a.json);
  const t0 = Date.now();
  const phaseTimer = setInterval(() => progress.note(`booting ${recipe.name} (${Math.round((Date.now() - t0) / 1000)} s)`), 1000);
  try {
    const r = await capture(recipe, assets, {
      out: a.out,
      blockSize: a.blockSize,
      level: a.level,
      echo: a.verbose ? (b) => process.stderr.write(b) : undefined,
      onPhase: (p) => {
        if (p !== "booting") clearInterval(phaseTimer);
        progress.note(p);
      },
      onProgress: (done, total) => progress.update(done, total, "bytes"),
    });
    const s = r.stats;
    progress.done();
    if (a.json) out(JSON.stringify({ out: a.out, bootMs: r.bootMs, stats: s }));
    else if (!a.quiet) {
      out(`captured ${recipe.name} into ${a.out}: ready after ${(r.bootMs / 1000).toFixed(1)} s`);
      out(`  ${formatBytes(s.rawBytes)} raw -> ${formatBytes(s.storedBytes)} stored in ${s.storedBlocks} blocks (${s.zeroBlocks} zero blocks skipped, ${s.dedupBlocks} duplicates stored once)`);
    }
    return 0;
  } finally {
    clearInterval(phaseTimer);
  }
}

export async function packCommand(a: { snapshot: string; out: string; json: boolean; quiet: boolean }): Promise<number> {
  const st = await fsp.stat(a.snapshot).catch(() => undefined);
  if (!st?.isDirectory()) throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `${a.snapshot}: not a snapshot directory. Make one with \`vmsfx capture <recipe> -o <dir>\`.`);
  const source = await openSnapshotDir(a.snapshot);
  const progress = createProgress("pack", a.quiet || a.json);
  try {
    const r = await writeBundle(source, a.out, { onProgress: (d, t) => progress.update(d, t) });
    progress.done();
    if (a.json) out(JSON.stringify({ out: a.out, bytes: r.bytes, blocks: r.blocks }));
    else if (!a.quiet) out(`packed ${a.out}: ${formatBytes(r.bytes)}, ${r.blocks} blocks`);
    return 0;
  } finally {
    await source.close();
  }
}

export async function inspectCommand(a: { target: string; json: boolean }): Promise<number> {
  const source = await openSnapshot(a.target);
  try {
    const m = source.manifest;
    const sizes = source.kind === "directory" ? await statBlocks(a.target, [...manifestBlocks(m)].map((b) => b.hash)) : undefined;
    const report = reportSnapshot(m, (h) => sizes?.get(h) ?? source.storedSize(h));
    const fileBytes = source.kind === "bundle" ? (await fsp.stat(a.target)).size : undefined;
    if (a.json) out(JSON.stringify({ kind: source.kind, path: a.target, fileBytes, ...report }, null, 2));
    else printReport(a.target, source.kind, fileBytes, report);
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
  out("");
  const row = (c: string[]) => out("  " + c[0].padEnd(14) + c.slice(1).map((x) => " " + x.padStart(11)).join(""));
  row(["part", "raw", "blocks", "zero", "duplicate", "stored", "size stored"]);
  for (const p of [...r.parts, { name: "total", ...r.totals }]) {
    row([p.name, formatBytes(p.rawBytes), String(p.blocks), String(p.zeroBlocks), String(p.dedupBlocks), String(p.storedBlocks), formatBytes(p.storedBytes)]);
  }
}

export async function verifyCommand(a: { target: string; json: boolean; quiet: boolean }): Promise<number> {
  const source = await openSnapshot(a.target);
  const progress = createProgress("verify", a.quiet || a.json);
  try {
    const r = await verifySnapshot(source, (d, t) => progress.update(d, t));
    progress.done();
    if (a.json) out(JSON.stringify({ path: a.target, ok: r.failures.length === 0, ...r }));
    else if (r.failures.length === 0) out(`${a.target}: OK, ${r.blocks} blocks, ${formatBytes(r.rawBytes)} verified`);
    if (r.failures.length > 0) {
      if (!a.json) for (const f of r.failures.slice(0, 20)) process.stderr.write(`vmsfx: ${f.message}\n`);
      throw new VmsfxError(r.failures[0].code as never, `${a.target}: ${r.failures.length} of ${r.blocks} blocks failed verification. Copy or download it again.`);
    }
    return 0;
  } finally {
    await source.close();
  }
}

export async function runCommand(a: { bundle: string; fresh: boolean; stateDir?: string; timings: boolean }): Promise<number> {
  const timings: Record<string, number> | undefined = a.timings ? { command: Math.round(performance.now() * 10) / 10 } : undefined;
  // zstd's wasm instantiates asynchronously: start it before anything else on the resume path.
  void loadZstd();
  const assets = await loadEngineAssets();
  const r = await runBundle(a.bundle, assets, { fresh: a.fresh, stateDir: a.stateDir && path.resolve(a.stateDir), timings, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
  if (timings) process.stderr.write(`vmsfx-timings ${JSON.stringify({ ...timings, maxRssKb: process.resourceUsage().maxRSS })}\n`);
  return r.exitCode;
}
