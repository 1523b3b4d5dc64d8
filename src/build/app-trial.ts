import { VmsfxError } from "../errors";
import { freshenLines } from "../launcher/guest-agent";
import { SerialTail } from "../launcher/terminal-answerer";
import type { BootingGuest } from "../snapshot/capture";
import type { ReadyWhen } from "./app-spec";

/**
 * The build's trial run, between the cold boot and the capture: start the app once through the
 * guest agent (protocol 2), wait until it is ready by the spec's rule, stop it (the data disk is
 * unmounted and flushed, as at every quit), and have the agent rebuild a fresh overlay root. What
 * the app read while starting stays in the guest's page cache, so every launch of the bundle
 * starts it warm; nothing it wrote outside its data is kept.
 */

export type TrialPhase = "booting" | "starting the app" | "app ready" | "stopping the app";

export function appTrial(ready: ReadyWhen, specFile: string, onPhase?: (p: TrialPhase) => void): (guest: BootingGuest) => Promise<void> {
  return async ({ host, console, deadline, fatal }) => {
    const lines = agentLines(host);
    const failed = (why: string, tail: SerialTail = console) =>
      new VmsfxError("VMSFX_CAPTURE_TIMEOUT", `${specFile}: ${why}. Last console lines:\n${tail.lastLines() || "(none)"}`);
    const next = async (want: RegExp, what: string, tail?: SerialTail): Promise<string> => {
      for (;;) {
        const line = await lines.next(deadline, fatal);
        if (line === undefined) throw failed(`${what} within the spec's ready.timeoutSeconds`, tail);
        if (want.test(line)) return line;
        const exited = /^exit (\d+)/.exec(line);
        if (exited && !want.test("exit")) throw failed(`the app exited with status ${exited[1]} before it was ready`, tail);
      }
    };
    onPhase?.("booting");
    await next(/^ready 2$/, "the guest base did not start its agent");
    onPhase?.("starting the app");
    const appConsole = new SerialTail();
    const output = { last: 0, seen: false };
    host.on("serial", (b) => {
      appConsole.push(b);
      output.last = Date.now();
      output.seen = true;
    });
    const terminal = { isTTY: true, rows: 24, columns: 80 } as NodeJS.WriteStream;
    host.agentInput(Buffer.from([...freshenLines(terminal, Date.now()), "term xterm", "start", ""].join("\n")));
    await next(/^started$/, "the app did not start", appConsole);
    await appReady(ready, appConsole, output, lines, deadline, fatal, failed);
    onPhase?.("app ready");
    onPhase?.("stopping the app");
    host.agentInput(Buffer.from("stop\n"));
    const exit = await next(/^exit \d+ (detached|attached)$/, "the app did not stop", appConsole);
    if (!exit.endsWith("detached")) throw failed("the app's data disk could not be unmounted after the trial run (a process of the app kept it busy)", appConsole);
    host.agentInput(Buffer.from("reset\n"));
    await next(/^idle$/, "the guest agent did not make a fresh root");
    lines.close();
  };
}

async function appReady(ready: ReadyWhen, tail: SerialTail, output: { last: number; seen: boolean }, lines: AgentLines, deadline: number, fatal: () => VmsfxError | undefined, failed: (why: string, tail: SerialTail) => VmsfxError): Promise<void> {
  for (;;) {
    const failure = fatal();
    if (failure) throw failure;
    const exited = lines.pending().find((l) => l.startsWith("exit "));
    if (exited) throw failed(`the app exited with status ${exited.split(" ")[1]} before it was ready`, tail);
    if ("serial" in ready ? ready.serial.test(tail.value) : output.seen && Date.now() - output.last >= ready.quietMs) return;
    if (Date.now() > deadline) throw failed(`the app did not become ready (${"serial" in ready ? `its console never matched /${ready.serial.source}/` : `its console never fell quiet for ${ready.quietMs} ms after output`}) within the spec's ready.timeoutSeconds`, tail);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface AgentLines {
  next(deadline: number, fatal: () => VmsfxError | undefined): Promise<string | undefined>;
  pending(): string[];
  close(): void;
}

/** The agent's lines, one at a time, as they come. */
function agentLines(host: BootingGuest["host"]): AgentLines {
  const queue: string[] = [];
  let partial = "";
  let closed = false;
  host.on("agent", (bytes) => {
    if (closed) return;
    partial += Buffer.from(bytes).toString("latin1");
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      queue.push(partial.slice(0, nl).replace(/\r$/, ""));
      partial = partial.slice(nl + 1);
    }
  });
  return {
    async next(deadline, fatal) {
      while (queue.length === 0) {
        const failure = fatal();
        if (failure) throw failure;
        if (Date.now() > deadline) return undefined;
        await new Promise((r) => setTimeout(r, 20));
      }
      return queue.shift();
    },
    pending: () => queue,
    close: () => void (closed = true),
  };
}
