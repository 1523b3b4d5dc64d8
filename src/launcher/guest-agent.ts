import { randomBytes } from "node:crypto";
import { VmsfxError } from "../errors";
import type { GuestHost } from "../engine/engine-host";

/**
 * The host side of the guest agent's line protocol on the guest's second serial port (ttyS1),
 * documented for publishers in docs/guest-agent.md. On every resume it gives the guest this
 * moment's clock, fresh entropy and the terminal's size; with arguments (`./app -- ARGS`) it has
 * the agent run the guest's app with them, and hands back the app's exit status.
 */

export const AGENT_PROTOCOL = 1;
/** The agent reads its port byte by byte in sh; keep the one long line (`run`) modest. */
export const MAX_RUN_LINE = 4000;
const SEED_BYTES = 64;

export interface GuestAgentOptions {
  /** Arguments for the guest's app; undefined when none were given (the guest just resumes). */
  args?: string[];
  /** A cold-booted agent announces itself with `ready`; a resumed one is already waiting. */
  coldBoot: boolean;
  /** The user's terminal: its size is the guest console's size, now and on every resize. */
  terminal: NodeJS.WriteStream;
  /** The app the agent ran for `args` exited with this status. */
  onExit: (status: number) => void;
  now?: () => number;
}

export interface GuestAgent {
  /** Resolves when the agent says `fresh` (clock set, RNG reseeded), or after `timeoutMs`. */
  freshened(timeoutMs: number): Promise<void>;
  close(): void;
}

/** The `run` line for these arguments; a usage error when they are too long to send. */
export function runLine(args: string[]): string {
  // Each word is base64 of the argument plus ".", so empty arguments and trailing newlines survive sh.
  const line = `run ${args.map((a) => Buffer.from(`${a}.`).toString("base64")).join(" ")}`.trimEnd();
  if (Buffer.byteLength(line) > MAX_RUN_LINE) throw new VmsfxError("VMSFX_USAGE", `the arguments after -- are too long for the guest agent (${Buffer.byteLength(line)} bytes encoded, at most ${MAX_RUN_LINE}).`);
  return line;
}

/** The lines that make a resumed guest current: clock, entropy, and the console's size. */
export function freshenLines(terminal: NodeJS.WriteStream, nowMs: number): string[] {
  const lines = [`time ${Math.floor(nowMs / 1000)}.${String(Math.floor((nowMs % 1000) * 1e6)).padStart(9, "0")}`, `seed ${randomBytes(SEED_BYTES).toString("hex")}`];
  const size = winsizeLine(terminal);
  if (size) lines.push(size);
  return lines;
}

function winsizeLine(terminal: NodeJS.WriteStream): string | undefined {
  if (!terminal.isTTY || !terminal.rows || !terminal.columns) return undefined;
  return `winsize ${terminal.rows} ${terminal.columns}`;
}

/**
 * Attach before the guest runs: the first lines wait in the engine and reach the agent the moment
 * the resumed guest executes, so nothing on the resume path waits for the agent.
 */
export function attachGuestAgent(host: GuestHost, opts: GuestAgentOptions): GuestAgent {
  const run = opts.args !== undefined ? runLine(opts.args) : undefined;
  const now = opts.now ?? Date.now;
  const send = (lines: string[]) => host.agentInput(Buffer.from(lines.map((l) => `${l}\n`).join("")));
  let ranApp = false;
  const greet = () => {
    const lines = freshenLines(opts.terminal, now());
    if (run && !ranApp) {
      ranApp = true;
      // The console shell is paused before the size changes, or it would redraw its prompt
      // above the app's output.
      lines.splice(2, 0, "pause");
      lines.push(run);
    }
    send(lines);
  };
  if (!opts.coldBoot) greet();

  let partial = "";
  let closed = false;
  const onFresh: (() => void)[] = [];
  let fresh = false;
  host.on("agent", (bytes) => {
    if (closed) return;
    partial += Buffer.from(bytes).toString("latin1");
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, nl).replace(/\r$/, "");
      partial = partial.slice(nl + 1);
      const [word, value] = line.split(" ");
      // A restarted agent (a cold boot, or one that crashed and was respawned) knows nothing yet.
      if (word === "ready") greet();
      else if (word === "fresh") {
        fresh = true;
        for (const fn of onFresh.splice(0)) fn();
      }
      else if (word === "exit" && /^\d+$/.test(value ?? "")) opts.onExit(Number(value) & 0xff);
    }
    if (partial.length > 4096) partial = "";
  });
  const onResize = () => {
    const size = winsizeLine(opts.terminal);
    if (size && !closed) send([size]);
  };
  opts.terminal.on("resize", onResize);
  return {
    freshened(timeoutMs) {
      return new Promise((resolve) => {
        if (fresh) return resolve();
        const timer = setTimeout(resolve, timeoutMs);
        onFresh.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    close() {
      closed = true;
      opts.terminal.off("resize", onResize);
    },
  };
}
