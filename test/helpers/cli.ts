import { spawn } from "node:child_process";
import * as path from "node:path";
import { DEADLINE } from "./deadlines";

export const ROOT = path.resolve(__dirname, "../..");
export const CLI = path.join(ROOT, "bin/vmsfx");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Replace the environment instead of extending this one (a user with nothing installed). */
  bareEnv?: boolean;
  cwd?: string;
}

/** Runs the real CLI as a user would, with optional piped stdin, and a hard time limit. */
export function vmsfx(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return runProgram(process.execPath, [CLI, ...args], opts);
}

/** Runs any program (an app, qemu-user with an app) the same way. */
export function runProgram(cmd: string, args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.bareEnv ? opts.env : { ...process.env, ...opts.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ")} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? DEADLINE.launch);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}
