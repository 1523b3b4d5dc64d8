// `npm run bench` (second part): apps built with `vmsfx build`. Per app: build time, bundle and
// executable size, exec → app answers on the first launch (a fresh state folder) and on the
// launch after quitting (a state folder holding a `quit` point), interleaved in one run, and a
// cold boot for scale. Writes bench/results/apps.json and apps.md (the README's second table).
//   node bench/app-bench.mjs [app...]      (default: every app below whose spec builds here)
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { root, RUNS, cli, log, median, updateReadmeSection } from "./bench-lib.mjs";

const work = path.join(root, ".cache/bench-apps");

/** Each app: its spec, a question piped in, what the answer looks like, and how the user quits. */
const APPS = {
  shell: { spec: "samples/shell/app.json", ask: "echo $((6*7))xyz\n", answer: /^42xyz\r?$/m, quit: "exit\n" },
  sqlite: { spec: "samples/sqlite/app.json", debian: true, ask: "select (6*7) || 'xyz';\n", answer: /^42xyz\r?$/m, quit: ".quit\n" },
  python: { spec: "samples/python/app.json", debian: true, ask: "print(str(6*7) + 'xyz')\n", answer: /^42xyz\r?$/m, quit: "exit()\n" },
};

/** ms from spawn until `until` shows on stdout; the process is left to finish (it quits). */
function timed(cmd, args, input, until) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: root });
    let stdout = "";
    let stderr = "";
    let hit;
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.stdout.on("data", (d) => {
      stdout += d;
      if (hit === undefined && until.test(stdout)) hit = performance.now() - t0;
    });
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => {
      clearTimeout(timer);
      if (hit === undefined || code !== 0) reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}, answer ${hit === undefined ? "never seen" : "seen"}\n${stdout.slice(-400)}\n${stderr.slice(-800)}`));
      else resolve(Math.round(hit));
    });
    child.stdin.end(input);
  });
}

async function benchApp(name, app) {
  const dir = path.join(work, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`${name}: vmsfx build (default level)`);
  const t0 = performance.now();
  const report = JSON.parse(execFileSync(process.execPath, [cli, "build", app.spec, "-o", path.join(dir, "snap"), "--json"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").pop());
  const buildMs = Math.round(performance.now() - t0);
  const bundle = path.join(dir, `${name}.vmsfx`);
  const exe = path.join(dir, name);
  execFileSync(process.execPath, [cli, "pack", path.join(dir, "snap"), "-o", bundle, "--quiet"], { cwd: root, stdio: "inherit" });
  execFileSync(process.execPath, [cli, "pack", path.join(dir, "snap"), "--exe", "-o", exe, "--quiet"], { cwd: root, stdio: "inherit" });
  const input = app.ask + app.quit;
  const quitState = path.join(dir, "after-quit-state");
  // Leave a quit point for the "after quitting" launches (and warm the OS's file cache).
  await timed(exe, ["--state-dir", quitState], input, app.answer);
  const first = [];
  const afterQuit = [];
  for (let i = 0; i < RUNS; i++) {
    log(`${name}: run ${i + 1}/${RUNS}`);
    const fresh = path.join(dir, `first-state-${i}`);
    first.push(await timed(exe, ["--state-dir", fresh], input, app.answer));
    rmSync(fresh, { recursive: true, force: true });
    afterQuit.push(await timed(exe, ["--state-dir", quitState], input, app.answer));
  }
  const coldState = path.join(dir, "cold-state");
  const cold = [await timed(exe, ["--fresh", "--state-dir", coldState], input, app.answer)];
  return {
    name,
    buildMs,
    appReadyAfterPowerOnMs: report.bootMs,
    bundleBytes: statSync(bundle).size,
    executableBytes: statSync(exe).size,
    storedBytes: report.stats.storedBytes,
    firstLaunchAnswerMs: median(first),
    afterQuitAnswerMs: median(afterQuit),
    afterQuitVsFirst: Math.round((median(afterQuit) / median(first)) * 100) / 100,
    coldBootAnswerMs: cold[0],
    samples: { first, afterQuit, cold },
  };
}

async function main() {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(APPS);
  const results = [];
  for (const n of names) {
    if (!APPS[n]) throw new Error(`no app ${n} here (${Object.keys(APPS).join(", ")})`);
    if (APPS[n].debian && process.getuid?.() !== 0) log(`${n}: skipped: building apps from Debian packages needs root (and mmdebstrap)`);
    else results.push(await benchApp(n, APPS[n]));
  }
  const result = { date: new Date().toISOString(), machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version }, runs: RUNS, apps: results };
  mkdirSync(path.join(root, "bench/results"), { recursive: true });
  writeFileSync(path.join(root, "bench/results/apps.json"), JSON.stringify(result, null, 2) + "\n");
  const mib = (n) => (n / 2 ** 20).toFixed(1) + " MiB";
  const s = (ms) => (ms / 1000).toFixed(1) + " s";
  const md = [
    "| app (`vmsfx build`) | build | bundle / executable | first launch: answers | after quitting: answers | after quit / first | cold boot: answers |",
    "|---|---|---|---|---|---|---|",
    ...results.map((r) => `| ${r.name} | ${s(r.buildMs)} (app ready ${s(r.appReadyAfterPowerOnMs)} after power-on) | ${mib(r.bundleBytes)} / ${mib(r.executableBytes)} | ${r.firstLaunchAnswerMs} ms | ${r.afterQuitAnswerMs} ms | ${r.afterQuitVsFirst}× | ${s(r.coldBootAnswerMs)} |`),
    "",
    `Medians of ${RUNS} launches of the one-file executable each, first launches and launches after quitting interleaved in one run, on ${result.machine.cpus} cores (${result.machine.cpu}), ${result.date.slice(0, 10)}. Each launch pipes in a question and the app's quit command and is timed from process start until the answer shows; the build time has Debian's packages already cached.`,
  ].join("\n");
  writeFileSync(path.join(root, "bench/results/apps.md"), md + "\n");
  updateReadmeSection("bench-apps", md);
  process.stdout.write(md + "\n");
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack ?? e}\n`);
  process.exit(1);
});
