import { spawn } from "node:child_process";
import { ROOT } from "./cli";
import { DEADLINE } from "./deadlines";

/** Starts a launcher with --gui --json (stdio piped: no terminal) and waits for the page's address on stderr. */
export async function launchWithGui(cmd: string, args: string[], cwd = ROOT, env?: NodeJS.ProcessEnv) {
  const child = spawn(cmd, args, { cwd, env: env ?? process.env });
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  // What the launcher passes on to its own (piped) output, latin1 so escapes survive.
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString("latin1")));
  let stderr = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address printed; stderr: ${stderr}`)), DEADLINE.launch);
    child.stderr.on("data", (d) => {
      stderr += d;
      const m = stderr.match(/vmsfx-gui (\{.*\})/);
      if (m) {
        clearTimeout(timer);
        resolve(JSON.parse(m[1]).url);
      }
    });
    child.on("close", () => reject(new Error(`exited before printing an address; stderr: ${stderr}`)));
  });
  return { child, url, exited, stderr: () => stderr, stdout: () => stdout };
}
