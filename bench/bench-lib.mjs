// What the benchmarks share: where things are, how a run is timed, and the question every shell
// resume is asked.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
export const RUNS = Number(process.env.BENCH_RUNS ?? 7);
export const cli = path.join(root, "bin/vmsfx");
export const log = (s) => process.stderr.write(`bench: ${s}\n`);
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const QUESTION = "echo $((6*7))xyz\n";
export const ANSWER = "42xyz";

/** Spawns a command, feeds it input, and reports ms from spawn until `until` shows on stdout. */
export function timed(cmd, args, { input, until, timeoutMs = 120_000, signalOnHit }) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: root });
    let stdout = "";
    let stderr = "";
    let hitMs;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ")}: no "${until}" within ${timeoutMs} ms\n${stdout.slice(-500)}\n${stderr.slice(-500)}`));
    }, timeoutMs);
    child.stdout.on("data", (d) => {
      stdout += d;
      if (hitMs === undefined && until.test(stdout)) {
        hitMs = performance.now() - t0;
        if (signalOnHit) child.kill(signalOnHit);
      }
    });
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => {
      clearTimeout(timer);
      if (hitMs === undefined) reject(new Error(`${cmd} exited ${code} before "${until}"\n${stderr.slice(-800)}`));
      else resolve({ ms: hitMs, stdout, stderr, code });
    });
    if (signalOnHit) child.stdin.write(input);
    else child.stdin.end(input);
  });
}

/** The `--timings` line a launch printed on stderr. */
export const timingsOf = (stderr) => JSON.parse(/vmsfx-timings (.*)/.exec(stderr)[1]);

/** Replaces the README's `<!-- NAME:begin -->…<!-- NAME:end -->` section with `md`, so its tables match the committed results. */
export function updateReadmeSection(name, md) {
  const readmePath = path.join(root, "README.md");
  const readme = readFileSync(readmePath, "utf8");
  const marked = new RegExp(`<!-- ${name}:begin -->[\\s\\S]*<!-- ${name}:end -->`);
  if (marked.test(readme)) writeFileSync(readmePath, readme.replace(marked, `<!-- ${name}:begin -->\n${md}\n<!-- ${name}:end -->`));
}
