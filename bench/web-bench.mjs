// `npm run bench` (fourth part): a web app (samples/notes, busybox httpd) through its forwarded
// port. (a) exec of the one-file executable → the page's first byte and the full page, fetched as
// a browser would once the launcher prints `vmsfx-open {"url": ...}` (`--json --no-browser`), on
// a first launch and on a launch after quitting, interleaved; (b) guest → host throughput over
// HTTP against the same bytes written to the serial console, and host → guest uploads, interleaved
// in one running launch; (c) connect → first byte of a tiny static file, sequential and 12 at once.
// Writes bench/results/web.json and web.md (and the README's `bench-web` section, if marked).
//   BENCH_RUNS=5 BENCH_WEB_MIB=2 BENCH_WEB_CONNECTS=20 node bench/web-bench.mjs   (the defaults but RUNS)
import { spawn, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, cpSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { root, RUNS, cli, log, median, updateReadmeSection } from "./bench-lib.mjs";

const work = path.join(root, ".cache/bench-web");
const MIB = Number(process.env.BENCH_WEB_MIB ?? 2);
const SIZE = MIB << 20;
const SEQUENTIAL = Number(process.env.BENCH_WEB_CONNECTS ?? 20);
const PARALLEL = 12;
const LINE = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n";
const pattern = (n) => Buffer.from(LINE.repeat(Math.ceil(n / LINE.length))).subarray(0, n);
const round1 = (x) => Math.round(x * 10) / 10;
const round2 = (x) => Math.round(x * 100) / 100;
const LOAD_AT_START = os.loadavg().map(round2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Only for this benchmark, next to the sample's own CGI scripts: `console?N` writes the same N
 * bytes `bytes?N` sends (same `yes | head -c`) to the guest's serial console between two marker
 * lines, and `sink` counts a POST's bytes without hashing them (`bytes` hashes what it gets).
 */
const BENCH_CGI = `#!/bin/sh
LINE=0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ
case "$SCRIPT_NAME" in
*/sink) n=$(head -c "\${CONTENT_LENGTH:-0}" | wc -c) ;;
*) { echo "vmsfx-bench-begin"; yes "$LINE" | head -c "\${QUERY_STRING:-0}"; echo "vmsfx-bench-end"; } >/dev/console; n=ok ;;
esac
printf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' "$n"
`;

/** The notes sample plus the two scripts above, built (default level) and packed as an executable. */
function buildApp() {
  const spec = path.join(work, "notes");
  rmSync(work, { recursive: true, force: true });
  cpSync(path.join(root, "samples/notes"), spec, { recursive: true });
  for (const name of ["console", "sink"]) {
    writeFileSync(path.join(spec, "www/cgi-bin", name), BENCH_CGI);
    chmodSync(path.join(spec, "www/cgi-bin", name), 0o755);
  }
  log("notes: vmsfx build (default level)");
  const t0 = performance.now();
  execFileSync(process.execPath, [cli, "build", path.join(spec, "app.json"), "-o", path.join(work, "snap"), "--json"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  const buildMs = Math.round(performance.now() - t0);
  const exe = path.join(work, "notes-app");
  execFileSync(process.execPath, [cli, "pack", path.join(work, "snap"), "--exe", "-o", exe, "--quiet"], { cwd: root, stdio: "inherit" });
  return { exe, buildMs, executableBytes: statSync(exe).size };
}

/** Starts the executable (stdin held open) and resolves once it prints the page's address. */
function launch(exe, stateDir) {
  const t0 = performance.now();
  const child = spawn(exe, ["--state-dir", stateDir, "--json", "--no-browser", "--publish", "127.0.0.1:0:80"], { cwd: work });
  let err = "";
  const exited = new Promise((r) => child.on("close", r));
  const app = { child, t0, exited, stderr: () => err, onStdout: () => undefined };
  child.stdout.on("data", (d) => app.onStdout(d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
    child.stderr.on("data", (d) => {
      err += d;
      const m = app.url ? null : /vmsfx-open (\{.*\})\n/.exec(err);
      if (!m) return;
      clearTimeout(timer);
      app.openMs = performance.now() - t0;
      app.url = JSON.parse(m[1]).url;
      app.origin = new URL(app.url);
      resolve(app);
    });
    void exited.then((code) => reject(new Error(`the app exited (${code}) before its page opened\n${err.slice(-1500)}`)));
  });
}

/** Ctrl-C on the console: busybox httpd ends, so the app quits and leaves a `quit` point. */
async function quit(app) {
  app.child.stdin.write("\x03");
  const code = await Promise.race([app.exited, sleep(120_000).then(() => "hung")]);
  if (code === "hung") app.child.kill("SIGKILL");
  if (code !== 130) throw new Error(`quitting the app: ${code}\n${app.stderr().slice(-1500)}`);
}

/**
 * One HTTP/1.0 exchange on a fresh connection: ms from connect() to the first response byte and
 * to the end (the guest closes), and the response; `{ hung: true }` after `timeoutMs` (v86 never
 * retransmits a SYN, so a connection the guest dropped would wait forever).
 */
function exchange(origin, head, body, timeoutMs = 600_000) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const t0 = performance.now();
    let firstMs;
    const s = net.connect({ host: origin.hostname, port: Number(origin.port) }, () => {
      s.write(head);
      if (body) s.write(body);
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ hung: true });
    }, timeoutMs);
    s.on("data", (d) => {
      firstMs ??= performance.now() - t0;
      chunks.push(d);
    });
    s.on("end", () => {
      clearTimeout(timer);
      resolve({ firstMs, endMs: performance.now() - t0, response: Buffer.concat(chunks) });
    });
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const get = (origin, target, timeoutMs) => exchange(origin, `GET ${target} HTTP/1.0\r\nHost: ${origin.host}\r\n\r\n`, undefined, timeoutMs);
const post = (origin, target, body) =>
  exchange(origin, `POST ${target} HTTP/1.0\r\nHost: ${origin.host}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`, body);
const bodyOf = (response) => response.subarray(response.indexOf("\r\n\r\n") + 4);

function ok(r, what) {
  if (r.hung) throw new Error(`${what}: no answer in time`);
  if (!/^HTTP\/1\.[01] 200/.test(r.response.toString("latin1", 0, 16))) throw new Error(`${what}: ${r.response.toString("latin1", 0, 300)}`);
  return r;
}

/** (a) One launch: exec → `vmsfx-open`, then the page fetched at once: its first byte, its end. */
async function timedLaunch(exe, stateDir) {
  const app = await launch(exe, stateDir);
  const r = ok(await get(app.origin, app.origin.pathname), "the page");
  if (!bodyOf(r.response).includes("<h1>Notes</h1>")) throw new Error("the page is not the notes page");
  await quit(app);
  return { openMs: Math.round(app.openMs), firstByteMs: Math.round(app.openMs + r.firstMs), pageMs: Math.round(app.openMs + r.endMs) };
}

async function launchTimes(exe) {
  const quitState = path.join(work, "after-quit-state");
  // Leaves a quit point for the launches after quitting (and warms the OS's file cache).
  await timedLaunch(exe, quitState);
  const first = [];
  const afterQuit = [];
  for (let i = 0; i < RUNS; i++) {
    log(`${new Date().toISOString().slice(11, 19)} launch ${i + 1}/${RUNS}: first launch, then after quitting`);
    const fresh = path.join(work, `first-state-${i}`);
    first.push(await timedLaunch(exe, fresh));
    rmSync(fresh, { recursive: true, force: true });
    afterQuit.push(await timedLaunch(exe, quitState));
  }
  return { first, afterQuit };
}

/** (b) N bytes guest → host over HTTP: request written → last byte in; checked byte for byte. */
async function download(app) {
  const r = ok(await get(app.origin, `/cgi-bin/bytes?${SIZE}`), "download");
  if (!bodyOf(r.response).equals(pattern(SIZE))) throw new Error("the download's bytes differ");
  return r.endMs;
}

/**
 * (b) The same N bytes guest → serial console → the launcher's stdout: request written → end
 * marker seen on stdout. The console's tty adds a \r per line (1.6% more bytes on the wire).
 */
async function serial(app) {
  let out = "";
  const done = new Promise((resolve) => {
    app.onStdout = (d) => {
      const from = Math.max(0, out.length - 20);
      out += d.toString("latin1");
      if (out.indexOf("vmsfx-bench-end", from) >= 0) resolve(performance.now());
    };
  });
  const t0 = performance.now();
  ok(await get(app.origin, `/cgi-bin/console?${SIZE}`), "serial");
  const t1 = await Promise.race([done, sleep(600_000).then(() => NaN)]);
  app.onStdout = () => undefined;
  const got = /vmsfx-bench-begin\r?\n([\s\S]*)vmsfx-bench-end/.exec(out)?.[1].replace(/\r/g, "");
  if (got === undefined || !Buffer.from(got.slice(0, SIZE), "latin1").equals(pattern(SIZE))) throw new Error("the console's bytes differ");
  return t1 - t0;
}

/** (b) N random bytes host → guest: connect → the guest's answer (its byte count, or sha256). */
async function upload(app, target) {
  const body = randomBytes(SIZE);
  const r = ok(await post(app.origin, target, body), `upload to ${target}`);
  const answer = bodyOf(r.response).toString().trim();
  const want = target.endsWith("sink") ? String(SIZE) : createHash("sha256").update(body).digest("hex");
  if (answer !== want) throw new Error(`upload to ${target}: the guest answered ${answer}`);
  return r.endMs;
}

/** (c) Connect → first byte of a tiny static file (index.html, served by httpd itself); a connection without an answer in 20 s counts as hung. */
async function connects(app) {
  const one = () => get(app.origin, "/index.html", 20_000).then((r) => (r.hung ? r : ok(r, "connect")));
  const seq = [];
  for (let i = 0; i < SEQUENTIAL; i++) seq.push(await one());
  const t0 = performance.now();
  const par = await Promise.all(Array.from({ length: PARALLEL }, one));
  const answered = (rs) => rs.filter((r) => !r.hung).map((r) => r.firstMs);
  return { seq: answered(seq), par: answered(par), hung: seq.length + par.length - answered(seq).length - answered(par).length, parWallMs: performance.now() - t0 };
}

/** (b) and (c) in one running launch, each kind once a round, the order rotating round to round. */
async function transfers(exe) {
  const app = await launch(exe, path.join(work, "transfer-state"));
  const kinds = {
    httpDown: () => download(app),
    serialDown: () => serial(app),
    httpUpSink: () => upload(app, "/cgi-bin/sink"),
    httpUpSha: () => upload(app, "/cgi-bin/bytes"),
  };
  const ms = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
  const conn = { seq: [], par: [], parWallMs: [], hung: 0 };
  for (let i = 0; i < RUNS; i++) {
    log(`${new Date().toISOString().slice(11, 19)} transfers ${i + 1}/${RUNS}: ${MIB} MiB each way over HTTP, ${MIB} MiB over the console, ${SEQUENTIAL} + ${PARALLEL} connections`);
    const order = Object.keys(kinds);
    for (const k of [...order.slice(i % order.length), ...order.slice(0, i % order.length)]) ms[k].push(Math.round(await kinds[k]()));
    const c = await connects(app);
    conn.seq.push(...c.seq);
    conn.par.push(...c.par);
    conn.parWallMs.push(c.parWallMs);
    conn.hung += c.hung;
  }
  await quit(app);
  return { ms, conn };
}

const mibps = (ms) => round2(MIB / (ms / 1000));

function summarize(build, launches, t) {
  const pick = (xs, k) => median(xs.map((x) => x[k]));
  const launch = (xs) => ({ openMs: pick(xs, "openMs"), firstByteMs: pick(xs, "firstByteMs"), pageMs: pick(xs, "pageMs") });
  const rates = Object.fromEntries(Object.entries(t.ms).map(([k, xs]) => [k, { medianMs: median(xs), mibPerS: mibps(median(xs)) }]));
  const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
  return {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadAverageAtStart: LOAD_AT_START, loadAverageAtEnd: os.loadavg().map(round2) },
    runs: RUNS,
    sizes: { transferBytes: SIZE, sequentialConnectsPerRun: SEQUENTIAL, parallelConnects: PARALLEL },
    build,
    firstLaunch: launch(launches.first),
    afterQuit: launch(launches.afterQuit),
    throughput: rates,
    serialVsHttp: round1(rates.httpDown.mibPerS / rates.serialDown.mibPerS),
    connect: {
      sequentialMedianMs: round1(median(t.conn.seq)),
      sequentialP90Ms: round1(q(t.conn.seq, 0.9)),
      parallelMedianMs: round1(median(t.conn.par)),
      parallelMaxMs: round1(Math.max(...t.conn.par)),
      parallelWallMedianMs: round1(median(t.conn.parWallMs)),
      hungConnections: t.conn.hung,
      connections: RUNS * (SEQUENTIAL + PARALLEL),
    },
    samples: { launches, transferMs: t.ms, connect: t.conn },
  };
}

function markdown(r) {
  const ms = (x) => `${x} ms`;
  const tp = (k) => `${r.throughput[k].mibPerS} MiB/s (${ms(r.throughput[k].medianMs)})`;
  const c = r.connect;
  return [
    "| web app (samples/notes, busybox httpd) | first launch | after quitting |",
    "|---|---|---|",
    `| exec → \`vmsfx-open\` printed | ${ms(r.firstLaunch.openMs)} | ${ms(r.afterQuit.openMs)} |`,
    `| exec → the page's first byte | ${ms(r.firstLaunch.firstByteMs)} | ${ms(r.afterQuit.firstByteMs)} |`,
    `| exec → the full page | ${ms(r.firstLaunch.pageMs)} | ${ms(r.afterQuit.pageMs)} |`,
    "",
    `| through the forwarded port (${MIB} MiB transfers) | median |`,
    "|---|---|",
    `| guest → host, HTTP download (\`/cgi-bin/bytes?N\`) | ${tp("httpDown")} |`,
    `| guest → host, the same bytes on the serial console | ${tp("serialDown")} (HTTP is ${r.serialVsHttp}× faster) |`,
    `| host → guest, HTTP upload, the guest counts it | ${tp("httpUpSink")} |`,
    `| host → guest, HTTP upload, the guest hashes it (sha256) | ${tp("httpUpSha")} |`,
    `| connect → first byte of a small static file, one at a time | ${ms(c.sequentialMedianMs)} (90th percentile ${ms(c.sequentialP90Ms)}) |`,
    `| the same, ${PARALLEL} connections at once | ${ms(c.parallelMedianMs)} each (slowest ${ms(c.parallelMaxMs)}; all ${PARALLEL} in ${ms(c.parallelWallMedianMs)}) |`,
    `| connections without an answer in 20 s (of ${c.connections}) | ${c.hungConnections} |`,
    "",
    `Medians of ${RUNS} runs on ${r.machine.cpus} cores (${r.machine.cpu}, shared: load average ${r.machine.loadAverageAtStart[0]} at the start, ${r.machine.loadAverageAtEnd[0]} at the end), ${r.date.slice(0, 10)}; the executable is ${(r.build.executableBytes / 2 ** 20).toFixed(1)} MiB (built at the default level in ${(r.build.buildMs / 1000).toFixed(1)} s). ` +
      "Launches run `./notes --json --no-browser --publish 127.0.0.1:0:80` and are timed from exec: a fresh state folder (first launch) interleaved with one holding a quit point (after quitting, Ctrl-C); the page (`/cgi-bin/notes`, a CGI script) is fetched over a new connection as soon as the `vmsfx-open` line shows. " +
      `Transfers run in one launch, each kind once a round in a rotating order, timed from connect to the last byte (downloads, checked byte for byte) or to the guest's answer (uploads of random bytes; \`sink\` counts them, \`bytes\` returns their sha256); the serial console's number is the same \`yes | head -c N\` written to /dev/console, timed from the request until its end marker reaches the launcher's stdout (the tty adds a \\r per 63-byte line). ` +
      `Connections: ${SEQUENTIAL} a round one after another, then ${PARALLEL} at once, each timed from connect() to the first byte of \`/index.html\` (HTTP/1.0; httpd forks for each).`,
  ].join("\n");
}

async function main() {
  mkdirSync(path.join(root, "bench/results"), { recursive: true });
  const build = buildApp();
  const launches = await launchTimes(build.exe);
  const t = await transfers(build.exe);
  const result = summarize(build, launches, t);
  writeFileSync(path.join(root, "bench/results/web.json"), JSON.stringify(result, null, 2) + "\n");
  const md = markdown(result);
  writeFileSync(path.join(root, "bench/results/web.md"), md + "\n");
  updateReadmeSection("bench-web", md);
  process.stdout.write(md + "\n");
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack ?? e}\n`);
  process.exit(1);
});
