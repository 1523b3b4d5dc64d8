import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT } from "../helpers/cli";

export const CORPUS_DIR = path.join(ROOT, "test/fixtures/hostile");

export interface CorpusCase {
  file: string;
  name: string;
  why: string;
  /** The code openBundle then verifySnapshot give, or "ok". */
  api: string;
  /** The CLI's exit code for each command. */
  exit: { inspect: number; verify: number; run: number };
}

export function readCorpus(): CorpusCase[] {
  return JSON.parse(readFileSync(path.join(CORPUS_DIR, "index.json"), "utf8"));
}
