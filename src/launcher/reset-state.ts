import { promises as fsp } from "node:fs";
import * as readline from "node:readline/promises";
import { RESUME_FILE, discardResumePoint } from "../snapshot/resume-point";
import { openStateDir } from "./state-dir";

/**
 * `--reset`: forget where the user left off, so the next launch starts from the app's own state.
 * On a terminal it asks first: this throws away the user's work.
 */
export async function resetState(target: string, explicitDir: string | undefined, out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const state = await openStateDir(target, explicitDir);
  try {
    const has = await fsp.stat(`${state.path}/${RESUME_FILE}`).then(() => true, () => false);
    if (!has) {
      out.write("Nothing to reset: no saved state.\n");
      return 0;
    }
    if (process.stdin.isTTY) {
      const rl = readline.createInterface({ input: process.stdin, output: out });
      const answer = await rl.question(`Discard your saved changes in ${state.path} and go back to the app's original state? [y/N] `);
      rl.close();
      if (!/^y(es)?$/i.test(answer.trim())) {
        out.write("Kept.\n");
        return 0;
      }
    }
    await discardResumePoint(state.path);
    out.write(`Reset: the next launch starts from the app's original state.\n`);
    return 0;
  } finally {
    await state.release();
  }
}
