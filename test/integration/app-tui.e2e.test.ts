import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import * as path from "node:path";
import { CLI, ROOT, runProgram } from "../helpers/cli";
import { builtApp, canBuildDebianApps, type BuiltApp, resumeKind } from "../helpers/app-sample";
import { DEADLINE } from "../helpers/deadlines";
import { hostTool } from "../helpers/host-tools";

/**
 * A full-screen terminal program (samples/editor: GNU nano from Debian's packages, editing
 * /data/notes.txt) run as a user runs it: the launcher in a real pseudo-terminal
 * (test/helpers/pty-driver.py), raw mode and all. The editor draws at the terminal's size and
 * redraws at a new one, gets every key (Ctrl-C included), keeps a saved file across a quit, and
 * a suspend keeps the whole session, unsaved text included.
 */

const canBuild = canBuildDebianApps(hostTool("mmdebstrap"));
const DRIVER = path.join(ROOT, "test/helpers/pty-driver.py");
const hasPython = spawnSync("python3", ["-c", "import pty, fcntl, termios, select"], { stdio: "ignore" }).status === 0;
if (canBuild && !hasPython) console.log("app-tui.e2e: skipped: the pseudo-terminal driver needs Python 3 (sudo apt-get install python3)");

/** Generous ceilings: two loaded cores, other tests booting guests alongside. */
const WAIT_S = 120;

type Step = { wait: string; timeout?: number } | { raw: true } | { send: string } | { resize: [number, number] } | { exit: number };

interface PtyRun {
  ok: boolean;
  error: string | null;
  step: number | null;
  exit: number | null;
  transcript: string;
  /** The transcript's length after each step. */
  marks: number[];
}

/** `vmsfx run BUNDLE --state-dir STATE` in a rows × cols pseudo-terminal, following the steps. */
async function inTerminal(bundle: string, state: string, [rows, cols]: [number, number], steps: Step[]): Promise<PtyRun> {
  const spec = { argv: [process.execPath, CLI, "run", bundle, "--state-dir", state], cwd: ROOT, env: { TERM: "xterm-256color" }, rows, cols, steps };
  const ceiling = steps.reduce((s, st) => s + ("wait" in st ? (st.timeout ?? WAIT_S) : "exit" in st ? st.exit : "raw" in st ? WAIT_S : 0), 0);
  const r = await runProgram("python3", [DRIVER], { input: JSON.stringify(spec), timeoutMs: ceiling * 1000 + DEADLINE.launch });
  if (r.code !== 0) throw new Error(`pty-driver.py failed (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as PtyRun;
}

/** What the terminal showed, escapes visible, for a failure message. */
function shown(run: PtyRun, from = 0): string {
  return `${run.error ?? ""} (step ${run.step}, exit ${run.exit})\n${JSON.stringify(run.transcript.slice(from).slice(-3000))}`;
}

/** Between the end of step i-1 and the end of step i. */
function during(run: PtyRun, i: number): string {
  return run.transcript.slice(i === 0 ? 0 : run.marks[i - 1], run.marks[i]);
}

/**
 * The highest row and column the program addressed with cursor positioning (CUP, VPA, HPA) and
 * the scroll region it set: how big it believes the screen is.
 */
function screenExtent(out: string): { maxRow: number; maxCol: number; regions: string[] } {
  let maxRow = 0;
  let maxCol = 0;
  for (const m of out.matchAll(/\x1b\[(\d+)(?:;(\d+))?([HdG])/g)) {
    const [a, b] = [Number(m[1]), Number(m[2] ?? 1)];
    if (m[3] === "H") [maxRow, maxCol] = [Math.max(maxRow, a), Math.max(maxCol, b)];
    else if (m[3] === "d") maxRow = Math.max(maxRow, a);
    else maxCol = Math.max(maxCol, a);
  }
  return { maxRow, maxCol, regions: [...out.matchAll(/\x1b\[(\d+;\d+)r/g)].map((m) => m[1]) };
}


// nano's screen is complete once its two help lines are drawn and it shows the cursor again. The
// help lines hold ((cols + 40) / 20) * 2 shortcuts: 12 at 80 columns, 14 at 100 (… Undo, Redo),
// 16 at 120 (… Set Mark, Copy): a check of the width the editor sees.
const SCREEN_DRAWN = String.raw`(?s)Go To Line.*?\x1b\[\?25h`;
/** nano's cursor position (Ctrl-C) after `text` was typed into an empty file, which then has a last empty line: every key arrived. */
const typedAll = (text: string) => String.raw`\[ line +1/2 \(50%\), col +${text.length + 1}/ *${text.length + 1} `;
const CTRL_C = "\x03";
const CTRL_O = "\x0f";
const CTRL_X = "\x18";
const DETACH = "\x1dq";

describe.skipIf(!canBuild || !hasPython)("a full-screen editor (nano) in a real terminal", () => {
  let app: BuiltApp;
  let dir: string;
  beforeAll(() => {
    app = builtApp("editor");
    dir = path.dirname(app.bundle);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("draws at the terminal's size, gets Ctrl-C as a key, and redraws at a new size after a resize", async () => {
    const state = path.join(dir, "size-state");
    const run = await inTerminal(app.bundle, state, [30, 100], [
      { wait: SCREEN_DRAWN }, // 0
      { send: CTRL_C }, // 1: nano's "Location": the cursor position on the status line
      { wait: String.raw`\[ line +1/1 \(100%\), col +1/ *1 ` }, // 2
      { resize: [40, 120] }, // 3
      { wait: String.raw`(?s)Set Mark.*?Copy.*?\x1b\[\?25h` }, // 4
      { send: CTRL_X }, // 5: nothing was changed, so nano exits at once
      { exit: WAIT_S }, // 6
    ]);
    expect(run.ok, shown(run)).toBe(true);

    const first = during(run, 0);
    expect(first, "a terminal type with a terminfo entry reached the guest: nano uses xterm's alternate screen").toContain("\x1b[?1049h");
    expect(first).toContain("GNU nano");
    const at30x100 = screenExtent(first);
    expect(at30x100.regions, JSON.stringify(first)).toContain("1;30");
    expect(at30x100.maxRow).toBe(30);
    expect(at30x100.maxCol).toBeGreaterThan(80);
    expect(at30x100.maxCol).toBeLessThanOrEqual(100);
    expect(first).toMatch(/Undo[^]*Redo/);
    expect(first).not.toContain("Set Mark");

    // Ctrl-C was a key for the editor, not a signal: the same editor went on to redraw and exit.
    const redrawn = during(run, 4);
    const at40x120 = screenExtent(redrawn);
    expect(at40x120.regions, JSON.stringify(redrawn)).toContain("1;40");
    expect(at40x120.maxRow).toBe(40);
    expect(at40x120.maxCol).toBeGreaterThan(100);
    expect(at40x120.maxCol).toBeLessThanOrEqual(120);
    expect(redrawn).toContain("GNU nano");

    expect(run.exit, shown(run)).toBe(0);
    expect(resumeKind(state)).toBe("quit");
  });

  it("typed text saved with Ctrl-O is in the file after Ctrl-X quits: the next launch opens it", async () => {
    const state = path.join(dir, "save-state");
    const text = "kept after quit: typed in nano";
    const edit = await inTerminal(app.bundle, state, [30, 100], [
      { wait: SCREEN_DRAWN },
      { send: text },
      // The cursor's column says every key arrived.
      { send: CTRL_C },
      { wait: typedAll(text) },
      { send: CTRL_O },
      { wait: String.raw`File Name to Write:` },
      { send: "\r" },
      { wait: String.raw`\[ Wrote 1 line \]` },
      { send: CTRL_X },
      { exit: WAIT_S },
    ]);
    expect(edit.ok, shown(edit)).toBe(true);
    expect(edit.exit, shown(edit)).toBe(0);
    expect(resumeKind(state)).toBe("quit");

    const again = await inTerminal(app.bundle, state, [30, 100], [
      { wait: String.raw`\[ Read 1 line \]` },
      { wait: SCREEN_DRAWN },
      { send: CTRL_X },
      { exit: WAIT_S },
    ]);
    expect(again.ok, shown(again)).toBe(true);
    expect(again.transcript).toContain(text);
    expect(again.transcript).not.toContain("New File");
    expect(again.exit, shown(again)).toBe(0);
    expect(resumeKind(state)).toBe("quit");
  });

  it("Ctrl-] q suspends the editor with unsaved text; the next launch continues that session, redrawn without a key", async () => {
    const state = path.join(dir, "suspend-state");
    const text = "unsaved words for the suspend";
    const first = await inTerminal(app.bundle, state, [30, 100], [
      { wait: SCREEN_DRAWN },
      { send: text },
      { send: CTRL_C },
      { wait: typedAll(text) },
      { send: DETACH },
      { exit: WAIT_S },
    ]);
    expect(first.ok, shown(first)).toBe(true);
    expect(first.transcript).toMatch(/vmsfx: suspended/);
    expect(first.exit, shown(first)).toBe(0);
    expect(resumeKind(state)).toBe("suspended");

    // The resumed editor redraws by itself: the agent signals SIGWINCH when a resume keeps the
    // size. Keys wait for that redraw, so none of them meets nano in the middle of it.
    const second = await inTerminal(app.bundle, state, [30, 100], [
      { raw: true }, // 0
      { wait: SCREEN_DRAWN }, // 1: no key sent yet
      { send: CTRL_X }, // 2: the buffer is modified, so nano asks
      { wait: String.raw`Save modified buffer\?` }, // 3
      { send: "n" }, // 4
      { exit: WAIT_S }, // 5
    ]);
    expect(second.ok, shown(second)).toBe(true);
    const redrawn = during(second, 1);
    expect(redrawn, JSON.stringify(redrawn)).toContain(text);
    expect(redrawn).toContain("GNU nano");
    expect(second.transcript, "the same editor, not a new one").not.toContain("New File");
    expect(second.exit, shown(second)).toBe(0);
    expect(resumeKind(state)).toBe("quit");
  });
});
