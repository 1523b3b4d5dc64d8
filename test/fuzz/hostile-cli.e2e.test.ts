import { describe, expect, it } from "vitest";
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { vmsfx, type CliResult } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { CORPUS_DIR, readCorpus, type CorpusCase } from "./corpus";
import { LONG } from "./budget";
import { DEADLINE } from "../helpers/deadlines";

/**
 * The hostile corpus through the real CLI (`vmsfx inspect`, `verify`, `run`), as a user with a
 * throwaway home: each file gets its documented exit code and one coded line on stderr, and no
 * file appears or changes anywhere but the --state-dir we give it — not in the home folder, the
 * working folder, the temp folder, next to the bundle, or where a tar entry's name points.
 * `npm test` runs a representative set; `npm run fuzz` runs every file.
 */

const REPRESENTATIVE = [
  "valid",
  "truncated-to-100",
  "truncated-to-4608",
  "footer-toc-length-4GiB",
  "footer-version-3",
  "toc-manifest-length-33MiB",
  "toc-block-missing",
  "manifest-negative-size",
  "manifest-version-2",
  "manifest-duplicate-keys",
  "manifest-encrypted-header-malformed",
  "signature-not-json",
  "zstd-bomb-runs-past-declared",
  "tar-names-dotdot",
  "tar-names-absolute",
  "tar-symlinks",
  "tar-devices",
];

const corpus = readCorpus();
const chosen = LONG ? corpus : corpus.filter((c) => REPRESENTATIVE.includes(c.name));

/** Every path under `root` with its size, mode and modification time (symlinks not followed). */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      const st = lstatSync(p);
      out[path.relative(root, p)] = `${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`;
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

function expectCoded(r: CliResult, exit: number, what: string): void {
  expect([what, r.code]).toEqual([what, exit]);
  if (exit === 0) return;
  const lines = r.stderr.trim().split("\n");
  // verify lists each failed block before its summary; every line is a vmsfx line, never a stack.
  for (const line of lines) expect([what, line]).toEqual([what, expect.stringMatching(/^vmsfx: /)]);
  expect([what, lines[lines.length - 1]]).toEqual([what, expect.stringMatching(/\[VMSFX_[A-Z_]+\]$/)]);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("the hostile corpus through the CLI", () => {
  it("the representative set names files that exist", () => {
    for (const name of REPRESENTATIVE) expect(corpus.map((c) => c.name)).toContain(name);
  });

  it.each(chosen.map((c) => [c.name, c] as const))("%s: documented exit codes, nothing written outside the state folder", async (_n, c: CorpusCase) => {
    const root = tempDir("vmsfx-hostile-user-");
    const dirs = { home: path.join(root, "home"), cwd: path.join(root, "cwd"), tmp: path.join(root, "tmp"), medium: path.join(root, "medium"), state: path.join(root, "state") };
    for (const d of Object.values(dirs)) mkdirSync(d);
    const file = path.join(dirs.medium, "app.vmsfx");
    copyFileSync(path.join(CORPUS_DIR, c.file), file);
    const env = {
      HOME: dirs.home,
      USERPROFILE: dirs.home,
      TMPDIR: dirs.tmp,
      XDG_DATA_HOME: path.join(dirs.home, ".local/share"),
      XDG_CONFIG_HOME: path.join(dirs.home, ".config"),
      XDG_CACHE_HOME: path.join(dirs.home, ".cache"),
    };
    const opts = { env, cwd: dirs.cwd, timeoutMs: DEADLINE.launch };
    const before = { home: tree(dirs.home), cwd: tree(dirs.cwd), tmp: tree(dirs.tmp), medium: tree(dirs.medium) };

    expectCoded(await vmsfx(["inspect", file], opts), c.exit.inspect, `${c.name} inspect`);
    expectCoded(await vmsfx(["verify", file, "--state-dir", dirs.state], opts), c.exit.verify, `${c.name} verify`);
    expectCoded(await vmsfx(["run", file, "--state-dir", dirs.state], { ...opts, input: "poweroff\n" }), c.exit.run, `${c.name} run`);

    expect({ home: tree(dirs.home), cwd: tree(dirs.cwd), tmp: tree(dirs.tmp), medium: tree(dirs.medium) }).toEqual(before);
    // Where the tar-name cases point.
    expect(existsSync("/tmp/vmsfx-hostile")).toBe(false);
  });
});
