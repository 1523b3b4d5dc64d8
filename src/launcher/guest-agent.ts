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
/** The guest base's agent (apps built with `vmsfx build`): `start`, `stop`, `exit N detached`. */
export const APP_AGENT_PROTOCOL = 2;
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
  /**
   * An app built with `vmsfx build` (protocol 2): every launch has the agent `start` the app (it
   * ignores that while the app runs), with the user's terminal type.
   */
  app?: { term?: string };
  /**
   * The app exited with this status. `detached`: its data disk is unmounted and flushed (protocol
   * 2), so the bundle's own memory may run with that disk next time.
   */
  onExit: (status: number, detached: boolean) => void;
  /** The agent started the app's session (protocol 2). */
  onStarted?: () => void;
  /**
   * The app has ended, and the guest counted the bytes of typed input it never read (`ended N`,
   * from vmsfx-exec's watcher; guest bases since issue 12's fix; older ones never say it).
   */
  onEnded?: (unreadBytes: number) => void;
  /** A poweroff inside the guest is quitting the app (`quitting`). */
  onQuitting?: () => void;
  now?: () => number;
}

export interface GuestAgent {
  /** Resolves when the agent says `fresh` (clock set, RNG reseeded), or after `timeoutMs`. */
  freshened(timeoutMs: number): Promise<void>;
  /** Resolves when the agent says `started` (the app runs; protocol 2), or after `timeoutMs`. */
  started(timeoutMs: number): Promise<void>;
  close(): void;
}

/** The `run` (or `start`) line for these arguments; a usage error when they are too long to send. */
export function runLine(args: string[], verb = "run"): string {
  // Each word is base64 of the argument plus ".", so empty arguments and trailing newlines survive sh.
  const line = `${verb} ${args.map((a) => Buffer.from(`${a}.`).toString("base64")).join(" ")}`.trimEnd();
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
  const run = opts.app ? runLine(opts.args ?? [], "start") : opts.args !== undefined ? runLine(opts.args) : undefined;
  const now = opts.now ?? Date.now;
  const send = (lines: string[]) => host.agentInput(Buffer.from(lines.map((l) => `${l}\n`).join("")));
  let ranApp = false;
  const greet = () => {
    const lines = freshenLines(opts.terminal, now());
    if (opts.app) {
      const term = opts.app.term && /^[A-Za-z0-9._+-]{1,64}$/.test(opts.app.term) ? opts.app.term : undefined;
      if (term && opts.terminal.isTTY) lines.push(`term ${term}`);
      // A restarted agent starts the app again; a running one ignores this.
      lines.push(run!);
    } else if (run && !ranApp) {
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
  const fresh = new Flag();
  const started = new Flag();
  host.on("agent", (bytes) => {
    if (closed) return;
    partial += Buffer.from(bytes).toString("latin1");
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, nl).replace(/\r$/, "");
      partial = partial.slice(nl + 1);
      // For a publisher debugging their guest: every line the agent says, with its arrival time.
      if (process.env.VMSFX_AGENT_LOG) process.stderr.write(`vmsfx agent [${Math.round(performance.now())} ms]: ${line}\n`);
      const [word, value, disk] = line.split(" ");
      // A restarted agent (a cold boot, or one that crashed and was respawned) knows nothing yet.
      if (word === "ready") greet();
      else if (word === "fresh") fresh.set();
      else if (word === "started") {
        started.set();
        opts.onStarted?.();
      }
      else if (word === "ended" && /^\d+$/.test(value ?? "")) opts.onEnded?.(Number(value));
      else if (word === "quitting") opts.onQuitting?.();
      else if (word === "exit" && /^\d+$/.test(value ?? "")) opts.onExit(Number(value) & 0xff, disk === "detached");
    }
    if (partial.length > 4096) partial = "";
  });
  const onResize = () => {
    const size = winsizeLine(opts.terminal);
    if (size && !closed) send([size]);
  };
  opts.terminal.on("resize", onResize);
  return {
    freshened: (timeoutMs) => fresh.wait(timeoutMs),
    started: (timeoutMs) => started.wait(timeoutMs),
    close() {
      closed = true;
      opts.terminal.off("resize", onResize);
    },
  };
}

/** Something the agent says once; waiting for it never waits longer than asked. */
class Flag {
  private done = false;
  private readonly waiting: (() => void)[] = [];

  set(): void {
    this.done = true;
    for (const fn of this.waiting.splice(0)) fn();
  }

  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.done) return resolve();
      const timer = setTimeout(resolve, timeoutMs);
      this.waiting.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
