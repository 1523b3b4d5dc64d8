// `npm run bench` (third part): does a resume cost follow the memory the guest uses, or its RAM
// size? The shell sample is built three times, with 128, 512 and 1024 MiB of guest RAM (the same
// app, the same files), and each is launched RUNS times, the three interleaved, from process start
// until the shell answers. Writes bench/results/scaling.json and scaling.md.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { root, RUNS, cli, log, median, QUESTION, ANSWER, timed, timingsOf, updateReadmeSection } from "./bench-lib.mjs";

const SIZES = [128, 512, 1024];
const work = path.join(root, ".cache/bench-scaling");

/** Builds the shell sample with `memoryMiB` of RAM and packs it; returns the bundle and its numbers. */
function build(memoryMiB) {
  const dir = path.join(work, `shell-${memoryMiB}`);
  rmSync(dir, { recursive: true, force: true });
  cpSync(path.join(root, "samples/shell"), path.join(dir, "spec"), { recursive: true });
  const specFile = path.join(dir, "spec/app.json");
  writeFileSync(specFile, JSON.stringify({ ...JSON.parse(readFileSync(specFile, "utf8")), memoryMiB }, null, 2));
  log(`building the shell sample with ${memoryMiB} MiB of RAM`);
  const t0 = performance.now();
  execFileSync(process.execPath, [cli, "build", specFile, "-o", path.join(dir, "snap"), "--quiet"], { cwd: root, stdio: "inherit" });
  const captureMs = performance.now() - t0;
  const bundle = path.join(dir, "app.vmsfx");
  execFileSync(process.execPath, [cli, "pack", path.join(dir, "snap"), "-o", bundle, "--quiet"], { cwd: root, stdio: "inherit" });
  const parts = JSON.parse(execFileSync(process.execPath, [cli, "inspect", bundle, "--json"], { cwd: root })).parts;
  return { memoryMiB, dir, bundle, captureMs, memoryStoredBytes: parts.find((p) => p.name === "memory").storedBytes };
}

async function main() {
  mkdirSync(work, { recursive: true });
  const guests = SIZES.map(build);
  const runs = new Map(SIZES.map((s) => [s, []]));
  for (let i = 0; i < RUNS; i++) {
    log(`round ${i + 1}/${RUNS}`);
    for (const g of guests) {
      const stateDir = path.join(g.dir, `state-${i}`);
      rmSync(stateDir, { recursive: true, force: true });
      const o = await timed(process.execPath, [cli, "run", g.bundle, "--timings", "--state-dir", stateDir], { input: QUESTION + "poweroff\n", until: new RegExp(ANSWER) });
      const t = timingsOf(o.stderr);
      runs.get(g.memoryMiB).push({ answerMs: o.ms, runningMs: t.running, maxRssKb: t.maxRssKb });
    }
  }
  const rows = guests.map((g) => {
    const xs = runs.get(g.memoryMiB);
    const med = (k) => median(xs.map((x) => x[k]));
    return { memoryMiB: g.memoryMiB, captureMs: Math.round(g.captureMs), memoryStoredBytes: g.memoryStoredBytes, runningMs: med("runningMs"), answerMs: Math.round(med("answerMs")), maxRssKb: med("maxRssKb"), samples: xs };
  });
  const base = rows[0];
  const ratio = (a, b) => Math.round((a / b) * 100) / 100;
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
    runs: RUNS,
    rows,
    ratios: Object.fromEntries(rows.slice(1).map((r) => [`${r.memoryMiB}MiB`, { answer: ratio(r.answerMs, base.answerMs), rssGrowthMiB: Math.round((r.maxRssKb - base.maxRssKb) / 1024), ramAddedMiB: r.memoryMiB - base.memoryMiB }])),
  };
  mkdirSync(path.join(root, "bench/results"), { recursive: true });
  writeFileSync(path.join(root, "bench/results/scaling.json"), JSON.stringify(result, null, 2) + "\n");
  const mib = (n) => (n / 2 ** 20).toFixed(1) + " MiB";
  const md = [
    "| guest RAM | RAM stored | build (boot, trial, capture) | guest running | guest answers | answer vs 128 MiB | peak RSS |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.memoryMiB} MiB | ${mib(r.memoryStoredBytes)} | ${(r.captureMs / 1000).toFixed(1)} s | ${Math.round(r.runningMs)} ms | ${r.answerMs} ms | ${ratio(r.answerMs, base.answerMs)}× | ${mib(r.maxRssKb * 1024)} |`),
    "",
    `\`vmsfx run\` of the shell sample built with each RAM size; medians of ${RUNS} launches each, interleaved, on ${result.machine.cpus} cores (${result.machine.cpu}), Node ${process.version}, ${result.date.slice(0, 10)}. Times are from process start. Peak RSS grows by ${rows.slice(1).map((r) => `${Math.round((r.maxRssKb - base.maxRssKb) / 1024)} MiB for ${r.memoryMiB - base.memoryMiB} MiB of RAM added`).join(", ")}.`,
  ].join("\n");
  writeFileSync(path.join(root, "bench/results/scaling.md"), md + "\n");
  updateReadmeSection("bench-scaling", md);
  process.stdout.write(md + "\n");
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack ?? e}\n`);
  process.exit(1);
});
