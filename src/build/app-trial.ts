import { VmsfxError } from "../errors";
import type { GuestHost } from "../engine/engine-host";
import { waitForConsole, type ConsoleCondition } from "../engine/console-wait";
import { freshenLines } from "../launcher/guest-agent";
import { SerialTail } from "../launcher/terminal-answerer";
import type { BootingGuest } from "../snapshot/capture";
import { agentLines, type AgentLines } from "./agent-lines";
import type { ReadyWhen } from "./app-spec";

/**
 * The build's trial run, between the cold boot and the capture: start the app once through the
 * guest agent (protocol 2), wait until it is ready by the spec's rule, stop it (the data disk is
 * unmounted and flushed, as at every quit), and have the agent rebuild a fresh overlay root. What
 * the app read while starting stays in the guest's page cache, so every launch of the bundle
 * starts it warm; nothing it wrote outside its data is kept. Every wait is on the engine's events
 * (the agent's lines, the console, a failure), let go of whichever way the trial ends.
 */

export type TrialPhase = "booting" | "starting the app" | "app ready" | "stopping the app";

/** What the trial uses of the booting guest: its engine's events and the agent's port. */
export type TrialGuest = Omit<BootingGuest, "host"> & { host: Pick<GuestHost, "on" | "agentInput" | "probe"> };

type Failed = (why: string, tail?: SerialTail) => VmsfxError;

export function appTrial(ready: ReadyWhen, specFile: string, onPhase?: (p: TrialPhase) => void): (guest: TrialGuest) => Promise<void> {
  return async (guest) => {
    const failed: Failed = (why, tail = guest.console) =>
      new VmsfxError("VMSFX_CAPTURE_TIMEOUT", `${specFile}: ${why}. Last console lines:\n${tail.lastLines() || "(none)"}`);
    const lines = agentLines(guest.host);
    const leave: (() => void)[] = [() => lines.close()];
    try {
      await runTrial(guest, ready, lines, failed, leave, onPhase);
    } finally {
      for (const l of leave) l();
    }
  };
}

/** Each step of the trial, in order; `leave` collects what to stop listening to at the end. */
async function runTrial(guest: TrialGuest, ready: ReadyWhen, lines: AgentLines, failed: Failed, leave: (() => void)[], onPhase?: (p: TrialPhase) => void): Promise<void> {
  const { host, deadline, fatal } = guest;
  const next = (want: RegExp, what: string, tail?: SerialTail) => nextWanted(lines, { deadline, fatal }, want, what, failed, tail);
  onPhase?.("booting");
  await next(/^ready 2$/, "the guest base did not start its agent");
  onPhase?.("starting the app");
  const appConsole = new SerialTail();
  let lastOutputAt: number | undefined;
  leave.push(
    host.on("serial", (b) => {
      appConsole.push(b);
      lastOutputAt = Date.now();
    }),
  );
  const terminal = { isTTY: true, rows: 24, columns: 80 } as NodeJS.WriteStream;
  host.agentInput(Buffer.from([...freshenLines(terminal, Date.now()), "term xterm", "start", ""].join("\n")));
  await next(/^started$/, "the app did not start", appConsole);
  await appReady(guest, ready, { tail: appConsole, lastOutputAt: () => lastOutputAt }, lines, failed);
  onPhase?.("app ready");
  onPhase?.("stopping the app");
  host.agentInput(Buffer.from("stop\n"));
  const exit = await next(/^exit \d+ (detached|attached)$/, "the app did not stop", appConsole);
  if (!exit.endsWith("detached")) throw failed("the app's data disk could not be unmounted after the trial run (a process of the app kept it busy)", appConsole);
  host.agentInput(Buffer.from("reset\n"));
  await next(/^idle$/, "the guest agent did not make a fresh root");
}

/** The agent's next line that `want` matches; other lines are passed over, but an app's exit ends the trial. */
async function nextWanted(lines: AgentLines, by: Pick<TrialGuest, "deadline" | "fatal">, want: RegExp, what: string, failed: Failed, tail?: SerialTail): Promise<string> {
  for (;;) {
    const line = await lines.next(by.deadline, by.fatal);
    if (line === undefined) throw failed(`${what} within the spec's ready.timeoutSeconds`, tail);
    if (want.test(line)) return line;
    const exited = /^exit (\d+)/.exec(line);
    if (exited && !want.test("exit")) throw failed(`the app exited with status ${exited[1]} before it was ready`, tail);
  }
}

const PROBE_EVERY_MS = 200;

/** Asks the guest's TCP stack until `port` accepts a connection (a SYN answered by SYN+ACK). */
async function portReady(guest: TrialGuest, port: number, signal: AbortSignal, timedOut: () => VmsfxError): Promise<void> {
  for (;;) {
    if (signal.aborted) throw signal.reason;
    const failure = guest.fatal();
    if (failure) throw failure;
    if (Date.now() > guest.deadline) throw timedOut();
    if (await guest.host.probe(port)) return;
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
  }
}

/** The app's console since it was started, and when it last wrote (undefined: not yet). */
interface AppConsole {
  tail: SerialTail;
  lastOutputAt(): number | undefined;
}

/**
 * Waits for the spec's ready rule on the app's console; the app exiting first (the agent's `exit`
 * line), the engine failing or the deadline passing ends the wait with the trial's error.
 */
async function appReady(guest: TrialGuest, ready: ReadyWhen, app: AppConsole, lines: AgentLines, failed: Failed): Promise<void> {
  const failure = guest.fatal();
  if (failure) throw failure;
  const exitedBy = (line: string): VmsfxError | undefined => (line.startsWith("exit ") ? failed(`the app exited with status ${line.split(" ")[1]} before it was ready`, app.tail) : undefined);
  const before = lines.pending().find((l) => l.startsWith("exit "));
  if (before !== undefined) throw exitedBy(before);
  const abort = new AbortController();
  const unwatch = lines.watch((line) => {
    const exited = exitedBy(line);
    if (exited) abort.abort(exited);
  });
  try {
    if ("port" in ready) return await portReady(guest, ready.port, abort.signal, () => failed(`the app did not become ready (nothing accepted connections on guest port ${ready.port}) within the spec's ready.timeoutSeconds`, app.tail));
    const until: ConsoleCondition = "serial" in ready ? { pattern: ready.serial, seen: app.tail } : { quietMs: ready.quietMs, lastOutputAt: app.lastOutputAt() };
    const result = await waitForConsole(guest.host, until, { timeoutMs: Math.max(0, guest.deadline - Date.now() + 1), failed: guest.fatal, signal: abort.signal });
    if (result === "timeout") throw failed(`the app did not become ready (${"serial" in ready ? `its console never matched /${ready.serial.source}/` : `its console never fell quiet for ${ready.quietMs} ms after output`}) within the spec's ready.timeoutSeconds`, app.tail);
  } finally {
    unwatch();
  }
}
