// `npm run bench`: resume speed and snapshot size on the sample guest, against v86's own
// restore, a cold boot, and QEMU (TCG) migrate-to-file. Writes bench/results/shell.json and
// bench/results/shell.md (the table in the README). Runs each resume RUNS times; medians reported.
import { execFileSync } from "node:child_process";
import { createServer, get } from "node:http";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { root, RUNS, cli, log, median, QUESTION, ANSWER, timed, updateReadmeSection } from "./bench-lib.mjs";

const work = path.join(root, ".cache/bench");

/** A static server for the published folder and the whole bundle, with optional latency per request. */
function staticServer(dir, wholeBundle, latencyMs) {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      setTimeout(() => {
        const rel = decodeURIComponent(new URL(req.url, "http://x").pathname);
        const file = rel === "/whole.vmsfx" ? wholeBundle : path.join(dir, path.normalize(rel).replace(/^(\.\.[/\\])+/, ""));
        if (!file.startsWith(dir) && file !== wholeBundle) return res.writeHead(404).end();
        let size;
        try {
          size = statSync(file).size;
        } catch {
          return res.writeHead(404).end();
        }
        res.writeHead(200, { "content-length": size });
        createReadStream(file).pipe(res);
      }, latencyMs);
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function download(url, to) {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const out = createWriteStream(to);
      res.pipe(out);
      out.on("finish", resolve);
      out.on("error", reject);
    }).on("error", reject);
  });
}

async function main() {
  mkdirSync(work, { recursive: true });
  if (process.argv.includes("--sample") && process.argv[process.argv.indexOf("--sample") + 1] === "python") return pythonBench();
  const recipe = JSON.parse(readFileSync(path.join(root, "samples/shell/app.json"), "utf8"));
  recipe.memoryMiB ??= 128;
  const ready = new RegExp(recipe.ready.serial.replace(/\$$/, ""));

  log("building the sample with vmsfx build (its disks kept for the peers)");
  const snap = path.join(work, "snap");
  const bundle = path.join(work, "shell.vmsfx");
  const disks = path.join(work, "disks");
  const machine = path.join(disks, "machine.json");
  rmSync(snap, { recursive: true, force: true });
  rmSync(disks, { recursive: true, force: true });
  const t0 = performance.now();
  execFileSync(process.execPath, [cli, "build", "samples/shell/app.json", "-o", snap, "--keep-disks", disks, "--quiet"], { cwd: root, stdio: "inherit" });
  const captureMs = performance.now() - t0;
  execFileSync(process.execPath, [cli, "pack", snap, "-o", bundle, "--quiet"], { cwd: root, stdio: "inherit" });
  const report = JSON.parse(execFileSync(process.execPath, [cli, "inspect", bundle, "--json"], { cwd: root }));
  const part = (n) => report.parts.find((p) => p.name === n);
  const snapshotCore = ["state", "memory", "vgaMemory"].reduce((n, p) => n + part(p).storedBytes, 0);

  log("v86 baseline: saving its raw state");
  const rawState = path.join(work, "v86-raw.state");
  execFileSync(process.execPath, ["bench/v86-baseline.mjs", "save", rawState, machine], { cwd: root, stdio: "inherit" });
  execFileSync("zstd", ["-19", "-T1", "-q", "-f", rawState, "-o", `${rawState}.zst`]);

  log("cold boot (vmsfx run --fresh)");
  const cold = await timed(process.execPath, [cli, "run", bundle, "--fresh", "--state-dir", path.join(work, "state-cold")], { input: "poweroff\n", until: ready });

  log("building the executable");
  const app = path.join(work, "app");
  const exeInfo = JSON.parse(execFileSync(process.execPath, [cli, "exe", bundle, "-o", app, "--json"], { cwd: root }));

  const v86 = [];
  const ours = [];
  const exe = [];
  // A suspended session (the shell already at its prompt, as the peers' saved states are): the
  // end of piped input suspends, so every launch of this state folder resumes one.
  const suspendedState = path.join(work, "state-suspended");
  rmSync(suspendedState, { recursive: true, force: true });
  await timed(app, ["--state-dir", suspendedState], { input: QUESTION, until: new RegExp(ANSWER) });
  const resumed = [];
  for (let i = 0; i < RUNS; i++) {
    log(`resume round ${i + 1}/${RUNS}`);
    const b = await timed(process.execPath, ["bench/v86-baseline.mjs", "restore", rawState, machine], { input: QUESTION + "poweroff\n", until: new RegExp(ANSWER) });
    v86.push({ runningMs: Number(/running ([\d.]+)/.exec(b.stderr)[1]), answerMs: b.ms, maxRssKb: Number(/maxrss (\d+)/.exec(b.stderr)?.[1]) });
    const stateDir = path.join(work, `state-${i}`);
    rmSync(stateDir, { recursive: true, force: true });
    const o = await timed(process.execPath, [cli, "run", bundle, "--timings", "--state-dir", stateDir], { input: QUESTION + "poweroff\n", until: new RegExp(ANSWER) });
    const t = JSON.parse(/vmsfx-timings (.*)/.exec(o.stderr)[1]);
    ours.push({ runningMs: t.running, answerMs: o.ms, maxRssKb: t.maxRssKb, marks: t });
    rmSync(`${app}.vmsfx-state`, { recursive: true, force: true });
    const e = await timed(app, ["--timings"], { input: QUESTION + "poweroff\n", until: new RegExp(ANSWER) });
    const et = JSON.parse(/vmsfx-timings (.*)/.exec(e.stderr)[1]);
    exe.push({ runningMs: et.running, answerMs: e.ms, maxRssKb: et.maxRssKb });
    const r = await timed(app, ["--timings", "--state-dir", suspendedState], { input: QUESTION, until: new RegExp(ANSWER) });
    const rt = JSON.parse(/vmsfx-timings (.*)/.exec(r.stderr)[1]);
    resumed.push({ runningMs: rt.running, answerMs: r.ms, maxRssKb: rt.maxRssKb });
  }

  log("suspend after a small change (USB-stick save)");
  const saves = [];
  for (let i = 0; i < Math.min(RUNS, 5); i++) {
    rmSync(`${app}.vmsfx-state`, { recursive: true, force: true });
    const s = await timed(app, ["--timings"], { input: `echo change-${i} > /mnt/change.txt\necho saved-${i}\n`, until: new RegExp(`\nsaved-${i}`), signalOnHit: "SIGTERM" });
    const st = JSON.parse(/vmsfx-timings (.*)/.exec(s.stderr)[1]);
    saves.push({ saveMs: st.saveMs, newBytes: st.savedNewBytes, packBytes: st.savedPackBytes });
  }
  rmSync(`${app}.vmsfx-state`, { recursive: true, force: true });

  log("thin bundle over loopback HTTP (0 and 20 ms added latency per request)");
  const site = path.join(work, "site");
  rmSync(site, { recursive: true, force: true });
  execFileSync(process.execPath, [cli, "publish", bundle, "-o", site, "-q"], { cwd: root });
  // A second snapshot folder with a recorded hot set: what a first user types reads these disk blocks.
  const FIRST = "cat /mnt/hello.txt\n";
  const snapHot = path.join(work, "snap-hot");
  rmSync(snapHot, { recursive: true, force: true });
  execFileSync("cp", ["-r", snap, snapHot]);
  writeFileSync(path.join(work, "first.txt"), FIRST);
  execFileSync(process.execPath, [cli, "record", snapHot, "--input", path.join(work, "first.txt"), "--seconds", "3", "-q"], { cwd: root });
  const thin = {};
  for (const latencyMs of [0, 20]) {
    const server = await staticServer(site, bundle, latencyMs);
    const base = `http://127.0.0.1:${server.address().port}`;
    const thinApp = path.join(work, `thin-${latencyMs}.vmsfx`);
    execFileSync(process.execPath, [cli, "pack", snap, "--thin", "--remote", `${base}/`, "--include", "none", "-o", thinApp, "-q"], { cwd: root });
    const runs = [];
    for (let i = 0; i < Math.min(RUNS, 5); i++) {
      const stateDir = path.join(work, `thin-state-${latencyMs}-${i}`);
      rmSync(stateDir, { recursive: true, force: true });
      const o = await timed(process.execPath, [cli, "run", thinApp, "--timings", "--state-dir", stateDir], { input: QUESTION + "poweroff\n", until: new RegExp(ANSWER) });
      const t = JSON.parse(/vmsfx-timings (.*)/.exec(o.stderr)[1]);
      runs.push({ answerMs: o.ms, runningMs: t.running, fetchedBytes: t.fetchedBytes });
    }
    // The alternative: download the whole bundle first, then run it.
    const whole = [];
    for (let i = 0; i < Math.min(RUNS, 3); i++) {
      const dl = path.join(work, "downloaded.vmsfx");
      const stateDir = path.join(work, `whole-state-${i}`);
      rmSync(stateDir, { recursive: true, force: true });
      const t0 = performance.now();
      await download(`${base}/whole.vmsfx`, dl);
      const downloadMs = performance.now() - t0;
      const o = await timed(process.execPath, [cli, "run", dl, "--state-dir", stateDir], { input: QUESTION + "poweroff\n", until: new RegExp(ANSWER) });
      whole.push({ answerMs: downloadMs + o.ms });
    }
    // First disk reads after resume: on demand, or prefetched from the recorded hot set.
    const firstRead = {};
    for (const [name, dir] of [["onDemand", snap], ["hotPrefetch", snapHot]]) {
      const app = path.join(work, `thin-${name}-${latencyMs}.vmsfx`);
      execFileSync(process.execPath, [cli, "pack", dir, "--thin", "--remote", `${base}/`, "--include", "none", "-o", app, "-q"], { cwd: root });
      const xs = [];
      for (let i = 0; i < Math.min(RUNS, 5); i++) {
        const stateDir = path.join(work, `thin-${name}-state-${i}`);
        rmSync(stateDir, { recursive: true, force: true });
        xs.push((await timed(process.execPath, [cli, "run", app, "--state-dir", stateDir], { input: FIRST + "poweroff\n", until: /hello from the vmsfx sample disk/ })).ms);
      }
      firstRead[name] = median(xs);
    }
    server.close();
    thin[`latency${latencyMs}ms`] = {
      catHelloAnswerMs: firstRead,
      thinFileBytes: statSync(thinApp).size,
      answerMs: median(runs.map((r) => r.answerMs)),
      runningMs: median(runs.map((r) => r.runningMs)),
      fetchedBeforeResumeBytes: median(runs.map((r) => r.fetchedBytes)),
      downloadWholeThenAnswerMs: median(whole.map((w) => w.answerMs)),
      samples: runs,
    };
  }

  let qemu;
  // The peer's qemu-system-i386 comes from Debian's packages, provided as the tests' tools are.
  const qemuTool = JSON.parse(execFileSync("bash", ["build-scripts/host-tools.sh", "qemu-system-i386"], { cwd: root, stdio: ["ignore", "pipe", "inherit"] }).toString())["qemu-system-i386"];
  if (!qemuTool.path) log(`QEMU peer skipped: qemu-system-i386 is not installed and could not be installed here; to measure it: ${qemuTool.install}`);
  else if (existsSync(path.join(root, "bench/qemu-peer.mjs"))) {
    log("QEMU peer (TCG)");
    try {
      qemu = JSON.parse(execFileSync(process.execPath, ["bench/qemu-peer.mjs", "--machine", machine, "--runs", String(Math.min(RUNS, 5))], { cwd: root, stdio: ["ignore", "pipe", "inherit"] }).toString().trim().split("\n").pop());
    } catch (e) {
      log(`QEMU peer failed: ${e.message}`);
    }
  }

  const med = (xs, k) => median(xs.map((x) => x[k]));
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, memGiB: Math.round(os.totalmem() / 2 ** 30) },
    runs: RUNS,
    sample: { memoryMiB: recipe.memoryMiB },
    coldBoot: { toPromptMs: cold.ms },
    capture: { ms: captureMs },
    v86Restore: { runningMs: med(v86, "runningMs"), answerMs: med(v86, "answerMs"), maxRssKb: med(v86, "maxRssKb"), rawStateBytes: statSync(rawState).size, rawStateZstd19Bytes: statSync(`${rawState}.zst`).size, samples: v86 },
    vmsfx: {
      runningMs: med(ours, "runningMs"),
      answerMs: med(ours, "answerMs"),
      maxRssKb: med(ours, "maxRssKb"),
      breakdownMs: Object.fromEntries(Object.keys(ours[0].marks).filter((k) => k !== "maxRssKb").map((k) => [k, median(ours.map((o) => o.marks[k]))])),
      bundleBytes: statSync(bundle).size,
      snapshotCoreBytes: snapshotCore,
      parts: report.parts,
      samples: ours.map(({ marks, ...rest }) => rest),
    },
    executable: {
      bytes: exeInfo.bytes,
      runtimeBytes: exeInfo.runtimeBytes,
      runningMs: med(exe, "runningMs"),
      answerMs: med(exe, "answerMs"),
      maxRssKb: med(exe, "maxRssKb"),
      samples: exe,
      resumeSuspended: { runningMs: med(resumed, "runningMs"), answerMs: med(resumed, "answerMs"), maxRssKb: med(resumed, "maxRssKb"), samples: resumed },
      suspendAfterSmallChange: { saveMs: med(saves, "saveMs"), newBytes: med(saves, "newBytes"), packBytes: med(saves, "packBytes"), samples: saves },
    },
    thin,
    qemu,
  };
  const ratio = (a, b) => (b ? Math.round((a / b) * 100) / 100 : null);
  result.ratios = {
    runningVsV86Restore: ratio(result.vmsfx.runningMs, result.v86Restore.runningMs),
    coldBootVsRunning: ratio(result.coldBoot.toPromptMs, result.vmsfx.runningMs),
    answerVsQemu: qemu ? ratio(result.vmsfx.answerMs, qemu.restoreToAnswerMedianMs) : null,
    snapshotCoreVsQemuZstd19: qemu ? ratio(snapshotCore, qemu.stateZstd19Bytes) : null,
  };
  mkdirSync(path.join(root, "bench/results"), { recursive: true });
  writeFileSync(path.join(root, "bench/results/shell.json"), JSON.stringify(result, null, 2) + "\n");
  const mib = (n) => (n / 2 ** 20).toFixed(1) + " MiB";
  const ms = (n) => (n === undefined || n === null ? "—" : Math.round(n) + " ms");
  const rows = [
    ["", "guest running", "guest answers", "state on disk", "peak RSS"],
    ["vmsfx run (bundle, every block verified)", ms(result.vmsfx.runningMs), ms(result.vmsfx.answerMs), `${mib(snapshotCore)} (CPU+RAM+VGA), bundle ${mib(result.vmsfx.bundleBytes)}`, mib(result.vmsfx.maxRssKb * 1024)],
    [`./app (one executable, ${mib(result.executable.bytes)}: runtime ${mib(result.executable.runtimeBytes)}): first launch, the shell starts`, ms(result.executable.runningMs), ms(result.executable.answerMs), "(same bundle, appended)", mib(result.executable.maxRssKb * 1024)],
    ["./app resuming a suspended session (the shell at its prompt, as in the rows below)", ms(result.executable.resumeSuspended.runningMs), ms(result.executable.resumeSuspended.answerMs), "(bundle + resume point)", mib(result.executable.resumeSuspended.maxRssKb * 1024)],
    ["v86 restore_state from its raw state", ms(result.v86Restore.runningMs), ms(result.v86Restore.answerMs), `${mib(result.v86Restore.rawStateBytes)} raw, ${mib(result.v86Restore.rawStateZstd19Bytes)} zstd -19`, mib(result.v86Restore.maxRssKb * 1024)],
    ["v86 cold boot (vmsfx run --fresh)", "—", `${ms(result.coldBoot.toPromptMs)} (prompt)`, "—", "—"],
  ];
  if (qemu) rows.push([`QEMU ${qemu.version?.match(/\d+\.\d+\.\d+/)?.[0] ?? ""} TCG, -incoming exec:cat`, ms(median(qemu.restoreToRunningMs)), ms(qemu.restoreToAnswerMedianMs), `${mib(qemu.stateBytes)} raw, ${mib(qemu.stateZstd19Bytes)} zstd -19`, mib(qemu.peakRssKb * 1024)]);
  const md = [
    `| ${rows[0].join(" | ")} |`,
    `|${rows[0].map(() => "---").join("|")}|`,
    ...rows.slice(1).map((r) => `| ${r.join(" | ")} |`),
    "",
    `Medians of ${RUNS} runs on ${result.machine.cpus} cores (${result.machine.cpu}), Node ${process.version}, ${result.date.slice(0, 10)}. Times are from process start.`,
    `vmsfx resume breakdown (ms since process start, medians): ${Object.entries(result.vmsfx.breakdownMs).map(([k, v]) => `${k} ${v}`).join(", ")}.`,
    `Suspend after a small change (./app, then SIGTERM): saved in ${ms(result.executable.suspendAfterSmallChange.saveMs)}, ${(result.executable.suspendAfterSmallChange.newBytes / 1024).toFixed(0)} KiB of new blocks written (pack ${(result.executable.suspendAfterSmallChange.packBytes / 1024).toFixed(0)} KiB).`,
    ...Object.entries(result.thin).map(([k, v]) => `Thin bundle (${(v.thinFileBytes / 1024).toFixed(0)} KiB file, --include none) over loopback HTTP, ${k.replace("latency", "").replace("ms", " ms")} added latency per request: guest answers at ${ms(v.answerMs)} (running ${ms(v.runningMs)}), ${mib(v.fetchedBeforeResumeBytes)} fetched before resume (compressed RAM ${mib(part("memory").storedBytes)}); \`cat /mnt/hello.txt\` answered at ${ms(v.catHelloAnswerMs.onDemand)} with disk blocks on demand, ${ms(v.catHelloAnswerMs.hotPrefetch)} with the recorded hot set prefetched; downloading the whole bundle first, then running it: ${ms(v.downloadWholeThenAnswerMs)}.`),
    `Ratios: ./app running vs v86 restore ${ratio(result.executable.runningMs, result.v86Restore.runningMs)}×; ./app resuming a suspended session, answer vs QEMU ${qemu ? ratio(result.executable.resumeSuspended.answerMs, qemu.restoreToAnswerMedianMs) : "—"}×; vmsfx run running vs v86 restore ${result.ratios.runningVsV86Restore}×; cold boot / vmsfx running ${result.ratios.coldBootVsRunning}×; answer vs QEMU ${result.ratios.answerVsQemu ?? "—"}×; snapshot core vs QEMU zstd -19 ${result.ratios.snapshotCoreVsQemuZstd19 ?? "—"}×.`,
  ].join("\n");
  writeFileSync(path.join(root, "bench/results/shell.md"), md + "\n");
  updateReadmeSection("bench", md);
  process.stdout.write(md + "\n");
}

/**
 * `node bench/run-bench.mjs --sample python`: the python sample, captured at `>>> `. Cold boot plus
 * Python's start against resume, each timed from process start until `6*7` is answered.
 * Writes bench/results/python.json and python.md.
 */
async function pythonBench() {
  const recipe = JSON.parse(readFileSync(path.join(root, "samples/python/app.json"), "utf8"));
  recipe.memoryMiB ??= 128;
  const dir = path.join(work, "python");
  const snap = path.join(dir, "snap");
  const bundle = path.join(dir, "python.vmsfx");
  const app = path.join(dir, "python");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log("building the python sample with vmsfx build (needs root and mmdebstrap)");
  const t0 = performance.now();
  execFileSync(process.execPath, [cli, "build", "samples/python/app.json", "-o", snap, "--quiet"], { cwd: root, stdio: "inherit" });
  const captureMs = performance.now() - t0;
  execFileSync(process.execPath, [cli, "pack", snap, "-o", bundle, "--quiet"], { cwd: root, stdio: "inherit" });
  const exeInfo = JSON.parse(execFileSync(process.execPath, [cli, "exe", bundle, "-o", app, "--json"], { cwd: root }));
  const report = JSON.parse(execFileSync(process.execPath, [cli, "inspect", bundle, "--json"], { cwd: root }));
  const part = (n) => report.parts.find((p) => p.name === n);
  const snapshotCore = ["state", "memory", "vgaMemory"].reduce((n, p) => n + part(p).storedBytes, 0);
  const input = "6*7\nexit()\n"; // exit() quits the app, so every run ends by itself
  const until = /^42\r?$/m;
  const state = (name) => {
    const d = path.join(dir, name);
    rmSync(d, { recursive: true, force: true });
    return d;
  };

  const cold = [];
  for (let i = 0; i < Math.min(RUNS, 3); i++) {
    log(`cold boot + python start ${i + 1}/${Math.min(RUNS, 3)}`);
    // Piped input is held until the recipe's ready pattern (the first >>>), then answered.
    cold.push((await timed(process.execPath, [cli, "run", bundle, "--fresh", "--state-dir", state(`cold-${i}`)], { input, until, timeoutMs: 300_000 })).ms);
  }
  const ours = [];
  const exe = [];
  for (let i = 0; i < RUNS; i++) {
    log(`resume round ${i + 1}/${RUNS}`);
    const o = await timed(process.execPath, [cli, "run", bundle, "--timings", "--state-dir", state(`state-${i}`)], { input, until });
    const t = JSON.parse(/vmsfx-timings (.*)/.exec(o.stderr)[1]);
    ours.push({ runningMs: t.running, answerMs: o.ms, maxRssKb: t.maxRssKb });
    rmSync(`${app}.vmsfx-state`, { recursive: true, force: true });
    const e = await timed(app, ["--timings"], { input, until });
    const et = JSON.parse(/vmsfx-timings (.*)/.exec(e.stderr)[1]);
    exe.push({ runningMs: et.running, answerMs: e.ms, maxRssKb: et.maxRssKb });
  }
  rmSync(`${app}.vmsfx-state`, { recursive: true, force: true });

  const med = (xs, k) => median(xs.map((x) => x[k]));
  const result = {
    date: new Date().toISOString(),
    // Other work on the machine slows every row alike; the ratio holds up better than the times.
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, memGiB: Math.round(os.totalmem() / 2 ** 30), loadAverage1m: os.loadavg()[0] },
    runs: RUNS,
    sample: { name: "python", memoryMiB: recipe.memoryMiB },
    capture: { ms: captureMs },
    coldBootToAnswer: { ms: median(cold), samples: cold },
    vmsfx: { runningMs: med(ours, "runningMs"), answerMs: med(ours, "answerMs"), maxRssKb: med(ours, "maxRssKb"), bundleBytes: statSync(bundle).size, snapshotCoreBytes: snapshotCore, parts: report.parts, samples: ours },
    executable: { bytes: exeInfo.bytes, runningMs: med(exe, "runningMs"), answerMs: med(exe, "answerMs"), maxRssKb: med(exe, "maxRssKb"), samples: exe },
  };
  result.ratios = { coldBootVsResumeAnswer: Math.round((result.coldBootToAnswer.ms / result.vmsfx.answerMs) * 10) / 10 };
  mkdirSync(path.join(root, "bench/results"), { recursive: true });
  writeFileSync(path.join(root, "bench/results/python.json"), JSON.stringify(result, null, 2) + "\n");
  const mib = (n) => (n / 2 ** 20).toFixed(1) + " MiB";
  const ms = (n) => Math.round(n) + " ms";
  const md = [
    "| python sample: `6*7` piped in | guest running | answers 42 | state on disk | peak RSS |",
    "|---|---|---|---|---|",
    `| vmsfx run (bundle, every block verified) | ${ms(result.vmsfx.runningMs)} | ${ms(result.vmsfx.answerMs)} | ${mib(snapshotCore)} (CPU+RAM+VGA), bundle ${mib(result.vmsfx.bundleBytes)} | ${mib(result.vmsfx.maxRssKb * 1024)} |`,
    `| ./python (one executable, ${mib(result.executable.bytes)}) | ${ms(result.executable.runningMs)} | ${ms(result.executable.answerMs)} | (same bundle, appended) | ${mib(result.executable.maxRssKb * 1024)} |`,
    `| cold boot + Python start (vmsfx run --fresh) | — | ${ms(result.coldBootToAnswer.ms)} | — | — |`,
    "",
    `Medians of ${RUNS} resumes and ${cold.length} cold boots on ${result.machine.cpus} cores (${result.machine.cpu}), Node ${process.version}, ${result.date.slice(0, 10)}, load average ${result.machine.loadAverage1m.toFixed(1)} at the end; ${recipe.memoryMiB} MiB guest RAM. Times are from process start. Cold boot to the answer / resume to the answer: ${result.ratios.coldBootVsResumeAnswer}×. Capture (boot to \`>>> \`, save, compress): ${(captureMs / 1000).toFixed(1)} s.`,
  ].join("\n");
  writeFileSync(path.join(root, "bench/results/python.md"), md + "\n");
  process.stdout.write(md + "\n");
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack ?? e}\n`);
  process.exit(1);
});
