// `npm run bench:registry`: publishing the shell sample to a real OCI registry (Debian's
// docker-registry) against publishing it to a static folder, and a thin bundle's launch from
// each, side by side in one run. Writes bench/results/registry.json and registry.md.
//
// (a) Publish: version 1 (the sample as it is) and version 2 (the same sample with one line added
//     to disk/hello.txt, rebuilt), both to one tag of a fresh registry, and both to one fresh
//     folder; wall time of each `vmsfx publish`, bytes sent, what was already there. RUNS rounds.
// (b) Launch: a thin bundle of version 2 (--include none) from the registry and from the static
//     folder, with 0 and 20 ms added per HTTP request, a fresh state folder (empty block cache)
//     every launch, the four cases interleaved (order rotated each round), medians of RUNS.
//     A small proxy in front of the registry and the static server itself add the latency and
//     count requests and body bytes.
import { execFileSync, spawn } from "node:child_process";
import { cpSync, createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, appendFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { root, RUNS, cli, log, median, QUESTION, ANSWER, timed, timingsOf, updateReadmeSection } from "./bench-lib.mjs";

const LATENCIES = [0, 20];
const TAG = "bench/shell:latest";

// ---- clean-up: every process and folder this run makes goes away on exit, on failure, on ^C ----

const cleanups = [];
function cleanUp() {
  for (const f of cleanups.splice(0).reverse()) {
    try {
      f();
    } catch {}
  }
}
process.on("exit", cleanUp);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => process.exit(130));

function tempDir(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function closeOnExit(server) {
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return server;
}

const listen = (server) => new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));

// ---- vmsfx ----

// Asynchronous: the proxy and the static server in this process must keep answering meanwhile.
async function vmsfx(args) {
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  cleanups.push(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"));
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  const code = await new Promise((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`vmsfx ${args.join(" ")} exited ${code}`);
  return stdout;
}
const vmsfxJson = async (args) => JSON.parse((await vmsfx([...args, "--json"])).trim().split("\n").pop());

/** Version 1: the shell sample; version 2: the same with one line added to disk/hello.txt. Both built and packed. */
async function buildVersions(work) {
  const v2Src = path.join(work, "shell-v2");
  cpSync(path.join(root, "samples/shell"), v2Src, { recursive: true });
  appendFileSync(path.join(v2Src, "disk/hello.txt"), "version 2 of the sample\n");
  const out = {};
  for (const [v, recipe] of [["v1", path.join(root, "samples/shell/app.json")], ["v2", path.join(v2Src, "app.json")]]) {
    log(`building ${v} (vmsfx build)`);
    const snap = path.join(work, `snap-${v}`);
    await vmsfx(["build", recipe, "-o", snap, "--quiet"]);
    await vmsfx(["pack", snap, "-o", path.join(work, `${v}.vmsfx`), "--quiet"]);
    out[v] = { snap, bundle: path.join(work, `${v}.vmsfx`) };
  }
  return out;
}

// ---- the registry ----

function findRegistry() {
  if (process.env.VMSFX_DOCKER_REGISTRY) return existsSync(process.env.VMSFX_DOCKER_REGISTRY) ? process.env.VMSFX_DOCKER_REGISTRY : undefined;
  return (process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, "docker-registry")).find((f) => existsSync(f));
}

async function freePort() {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

const answers = (url) => new Promise((resolve) => http.get(url, (res) => (res.resume(), resolve(true))).on("error", () => resolve(false)));

/** docker-registry on 127.0.0.1 with filesystem storage in a fresh folder, anonymous. */
async function startRegistry(binary) {
  const dir = tempDir("vmsfx-bench-registry-");
  const port = await freePort();
  const config = path.join(dir, "config.yml");
  writeFileSync(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = spawn(binary, ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const kill = () => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL");
  cleanups.push(kill);
  for (let i = 0; !(await answers(`http://127.0.0.1:${port}/v2/`)); i++) {
    if (child.exitCode !== null || i > 300) throw new Error(`docker-registry did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host: `127.0.0.1:${port}`,
    stop() {
      kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- latency and request counting in front of each origin ----

/** What a front saw: one entry per request (arrival time, when its answer was sent, body bytes answered). */
function counter() {
  return { delayMs: 0, requests: [], reset() { this.requests = []; } };
}

/** Delays each request by `c.delayMs`, then forwards it to `upstream` (host:port) unchanged but for Host. */
async function delayProxy(upstream) {
  const c = counter();
  const [host, port] = upstream.split(":");
  const agent = new http.Agent({ keepAlive: true });
  const server = closeOnExit(http.createServer((req, res) => {
    const entry = { t: performance.now(), method: req.method, url: req.url, range: req.headers.range, bytes: 0 };
    c.requests.push(entry);
    res.on("finish", () => (entry.end = performance.now()));
    setTimeout(() => {
      const up = http.request({ host, port: Number(port), method: req.method, path: req.url, headers: { ...req.headers, host: upstream }, agent }, (ur) => {
        const h = { ...ur.headers };
        if (typeof h.location === "string") h.location = h.location.replace(`http://${upstream}`, `http://${req.headers.host}`);
        res.writeHead(ur.statusCode ?? 502, h);
        ur.on("data", (d) => (entry.bytes += d.length));
        ur.pipe(res);
      });
      up.on("error", () => res.destroy());
      req.pipe(up);
    }, c.delayMs);
  }));
  cleanups.push(() => agent.destroy());
  return { host: `127.0.0.1:${await listen(server)}`, counter: c };
}

/** Serves `dir` (a `vmsfx publish -o` folder), each request delayed by `c.delayMs`, whole files only. */
async function staticServer(dir) {
  const c = counter();
  const server = closeOnExit(http.createServer((req, res) => {
    const entry = { t: performance.now(), method: req.method, url: req.url, range: req.headers.range, bytes: 0 };
    c.requests.push(entry);
    res.on("finish", () => (entry.end = performance.now()));
    setTimeout(() => {
      const rel = path.normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
      const file = path.join(dir, rel);
      let size;
      try {
        size = statSync(file).size;
      } catch {
        return res.writeHead(404).end();
      }
      entry.bytes = size;
      res.writeHead(200, { "content-length": size });
      createReadStream(file).pipe(res);
    }, c.delayMs);
  }));
  return { base: `http://127.0.0.1:${await listen(server)}/`, counter: c };
}

// ---- (a) publishing ----

async function timedJson(args) {
  const t0 = performance.now();
  const json = await vmsfxJson(args);
  return { wallMs: Math.round(performance.now() - t0), json };
}

/** One round: v1 then v2 to one tag of a fresh registry, and to one fresh folder. Keeps the registry and folder of the last round. */
async function publishRound(binary, bundles, keep) {
  const registry = await startRegistry(binary);
  const ref = `oci://${registry.host}/${TAG}`;
  const reg = [await timedJson(["publish", bundles.v1.bundle, "--to", ref, "--insecure"]), await timedJson(["publish", bundles.v2.bundle, "--to", ref, "--insecure"])];
  const site = tempDir("vmsfx-bench-site-");
  const folder = [await timedJson(["publish", bundles.v1.bundle, "-o", site]), await timedJson(["publish", bundles.v2.bundle, "-o", site])];
  if (!keep) {
    registry.stop();
    rmSync(site, { recursive: true, force: true });
  }
  return { registry: reg, folder, kept: keep ? { registry, site } : undefined };
}

function summarizePublish(rounds) {
  const out = { registry: {}, folder: {} };
  ["v1", "v2"].forEach((v, i) => {
    const r = rounds[0].registry[i].json;
    out.registry[v] = { wallMs: median(rounds.map((x) => x.registry[i].wallMs)), ownSeconds: median(rounds.map((x) => x.registry[i].json.seconds)), uploadedBytes: r.uploadedBytes, packs: r.packs, blobs: r.blobs, reusedBlobs: r.reused, reusedBytes: r.reusedBytes };
    const f = rounds[0].folder[i].json;
    out.folder[v] = { wallMs: median(rounds.map((x) => x.folder[i].wallMs)), writtenBytes: f.writtenBytes, blocks: f.blocks, writtenBlocks: f.written, skippedBlocks: f.skipped, skippedBytes: f.bytes - f.writtenBytes };
  });
  return out;
}

// ---- (b) thin launches ----

/** One launch with a fresh state folder: ms until the guest answers, --timings, what the front saw. */
async function launch(app, front, work) {
  const stateDir = path.join(work, "launch-state");
  rmSync(stateDir, { recursive: true, force: true });
  front.counter.reset();
  const t0 = performance.now();
  const o = await timed(process.execPath, [cli, "run", app, "--timings", "--state-dir", stateDir], { input: QUESTION + "poweroff\n", until: new RegExp(ANSWER) });
  const t = timingsOf(o.stderr);
  const reqs = front.counter.requests;
  rmSync(stateDir, { recursive: true, force: true });
  const before = reqs.filter((r) => r.t < t0 + o.ms);
  const requestLog = reqs.map((r) => `${r.t < t0 + o.ms ? "" : "(after the answer) "}${r.method} ${r.url}${r.range ? ` ${r.range}` : ""}: ${r.bytes} bytes`);
  return {
    requestLog,
    answerMs: Math.round(o.ms),
    runningMs: t.running,
    fetchedBytes: t.fetchedBytes,
    requests: reqs.length,
    requestsBeforeAnswer: before.length,
    // What the latency can cost: from the first request's arrival to the last answer sent before
    // the guest answered. Less sensitive to the machine's load than the whole launch.
    networkMs: before.length ? Math.round(Math.max(...before.map((r) => r.end ?? r.t)) - before[0].t) : 0,
    servedBytes: reqs.reduce((n, r) => n + r.bytes, 0),
  };
}

async function launches(cases, work) {
  const samples = Object.fromEntries(cases.map((k) => [k.name, []]));
  const logs = {};
  for (let i = 0; i < RUNS; i++) {
    const order = [...cases.slice(i % cases.length), ...cases.slice(0, i % cases.length)];
    for (const k of order) {
      log(`launch round ${i + 1}/${RUNS}: ${k.name}`);
      k.front.counter.delayMs = k.latencyMs;
      const { requestLog, ...m } = await launch(k.app, k.front, work);
      logs[k.name] ??= requestLog;
      samples[k.name].push(m);
    }
  }
  return cases.map((k) => {
    const s = samples[k.name];
    const med = (key) => median(s.map((x) => x[key]));
    const m = { from: k.from, latencyMs: k.latencyMs, thinFileBytes: statSync(k.app).size };
    for (const key of Object.keys(s[0])) m[key] = med(key);
    // The spread: one busy moment on the machine moves a single launch by a second or more.
    [m.answerMinMs, m.answerMaxMs] = [Math.min(...s.map((x) => x.answerMs)), Math.max(...s.map((x) => x.answerMs))];
    // The requests of the first launch, for the registry path in full (the folder's are one per block).
    return { ...m, samples: s, firstLaunchRequests: k.from === "registry" ? logs[k.name] : logs[k.name].slice(0, 5).concat("…") };
  });
}

async function thinApps(snap, regFront, siteFront, work) {
  const regApp = path.join(work, "thin-registry.vmsfx");
  const siteApp = path.join(work, "thin-folder.vmsfx");
  await vmsfx(["pack", snap, "--thin", "--include", "none", "--remote", `oci://${regFront.host}/${TAG}`, "--insecure", "-o", regApp, "--quiet"]);
  await vmsfx(["pack", snap, "--thin", "--include", "none", "--remote", siteFront.base, "-o", siteApp, "--quiet"]);
  return LATENCIES.flatMap((latencyMs) => [
    { name: `registry-${latencyMs}ms`, from: "registry", latencyMs, app: regApp, front: regFront },
    { name: `folder-${latencyMs}ms`, from: "static folder", latencyMs, app: siteApp, front: siteFront },
  ]);
}

// ---- the report ----

const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;
const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;

function markdown(r) {
  const p = r.publish;
  const reg = (v) => `${sec(p.registry[v].wallMs)}, ${mib(p.registry[v].uploadedBytes)} uploaded in ${p.registry[v].packs} packs; ${p.registry[v].reusedBlobs} of ${p.registry[v].blobs} blobs (${mib(p.registry[v].reusedBytes)}) already there`;
  const fol = (v) => `${sec(p.folder[v].wallMs)}, ${mib(p.folder[v].writtenBytes)} written in ${p.folder[v].writtenBlocks} blocks; ${p.folder[v].skippedBlocks} of ${p.folder[v].blocks} blocks (${mib(p.folder[v].skippedBytes)}) already there`;
  return [
    "| publish the shell sample to | version 1 (first publish) | version 2 (one file changed, same tag / folder) |",
    "|---|---|---|",
    `| OCI registry (\`--to oci://…\`, docker-registry 2.8) | ${reg("v1")} | ${reg("v2")} |`,
    `| static folder (\`-o DIR\`) | ${fol("v1")} | ${fol("v2")} |`,
    "",
    "| thin launch of version 2 from | added latency per request | guest answers (fastest–slowest) | running | network | fetched | HTTP requests before the answer (whole launch) |",
    "|---|---|---|---|---|---|---|",
    ...r.launch.map((l) => `| ${l.from} | ${l.latencyMs} ms | ${l.answerMs} ms (${l.answerMinMs}–${l.answerMaxMs}) | ${Math.round(l.runningMs)} ms | ${l.networkMs} ms | ${mib(l.fetchedBytes)} | ${l.requestsBeforeAnswer} (${l.requests}) |`),
    "",
    `Medians of ${r.runs} rounds in one run on ${r.machine.cpus} cores (${r.machine.cpu}), ${r.date.slice(0, 10)}, everything on 127.0.0.1. ` +
      "Publish: wall time of `vmsfx publish` (process start to exit), a fresh registry and a fresh folder each round; bytes as its `--json` reports them (registry: pack blobs, index, manifest sent; folder: blocks written). " +
      `Launch: \`vmsfx run\` of a ${(r.launch[0].thinFileBytes / 1024).toFixed(0)} KiB thin bundle (\`--include none\`) with an empty block cache, timed from process start until the guest's answer shows; ` +
      "*running* and *fetched* are from `--timings`; requests counted by the latency proxy in front of the registry and by the static server, each request delayed once (before it is forwarded or answered); " +
      "*network*: from the first request's arrival to the last answer sent before the guest answered, as those two saw it. The four cases interleaved, their order rotated each round. " +
      "The machine's load moves single launches by a second or more: compare medians of one run, and the network column before the totals.",
  ].join("\n");
}

async function main() {
  const binary = findRegistry();
  if (!binary) return log("registry benchmark skipped: docker-registry is not installed (sudo apt-get install docker-registry)");
  const work = tempDir("vmsfx-bench-reg-");
  const bundles = await buildVersions(work);

  const rounds = [];
  for (let i = 0; i < RUNS; i++) {
    log(`publish round ${i + 1}/${RUNS}`);
    rounds.push(await publishRound(binary, bundles, i === RUNS - 1));
  }
  const { registry, site } = rounds.at(-1).kept;

  const regFront = await delayProxy(registry.host);
  const siteFront = await staticServer(site);
  const launch = await launches(await thinApps(bundles.v2.snap, regFront, siteFront, work), work);

  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
    runs: RUNS,
    registry: execFileSync(binary, ["--version"]).toString().trim(),
    change: "v2 = samples/shell with one line appended to disk/hello.txt, built again",
    publish: summarizePublish(rounds),
    publishSamples: rounds.map((x) => ({ registry: x.registry, folder: x.folder })),
    launch,
  };
  const md = markdown(result);
  mkdirSync(path.join(root, "bench/results"), { recursive: true });
  writeFileSync(path.join(root, "bench/results/registry.json"), JSON.stringify(result, null, 2) + "\n");
  writeFileSync(path.join(root, "bench/results/registry.md"), md + "\n");
  updateReadmeSection("bench-registry", md);
  process.stdout.write(md + "\n");
}

// Exits explicitly: the registry and the servers would keep the process alive; "exit" cleans up.
main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench: ${e.stack ?? e}\n`);
    process.exit(1);
  },
);
