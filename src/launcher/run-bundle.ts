import { traceStop } from "../engine/stop-trace";
import { VmsfxError } from "../errors";
import type { EngineAssets } from "../engine/engine-assets";
import type { DiskSlot, PortForward } from "../engine/engine-protocol";
import { sessionLimitMessage } from "../policy/restrictions";
import type { GuiOptions } from "../gui/gui-session";
import type { UnreadInput } from "./line-pacer";
import { Disposer } from "./disposer";
import { openLaunchPlan, type LaunchPlan, type PlanOptions } from "./launch-plan";
import { loadMachine, startGuest } from "./guest-start";
import { FrontEnds } from "./front-ends";
import { SessionEnd, type EndReason } from "./session-end";
import { persistSession, type SavedSession } from "./persist";
import { takeEngine } from "./engine-start";
import { forwardsFor, type PublishRequest } from "./port-forwards";
import { outboundLists } from "./outbound-lists";
import { announceWebApp } from "./web-app";

/**
 * `vmsfx run` and the executable: a launch in four stages. Open the app (launch-plan: the
 * version, the gate, the resume point, the sources), start the guest (guest-start: resume or cold
 * boot), attach the front-ends (front-ends, session-end), and on the way out keep the user's work
 * as a new resume point (persist). The order matters for speed: the engine worker starts first
 * and loads v86 while this thread reads and verifies memory blocks.
 */

export interface RunOptions extends Omit<PlanOptions, "stderr"> {
  /** Called the first time the guest reads each disk block (`vmsfx record`). */
  onDiskRead?: (slot: DiskSlot, index: number) => void;
  /** Piped input: keep the guest running after the input ends (`vmsfx record` watches it for a while). */
  stayAfterInput?: boolean;
  /** Suspend after this long (`vmsfx record` ends its session this way). */
  maxRunMs?: number;
  /** Milliseconds since process start at each step, for `--timings` and the benchmark. */
  timings?: Record<string, number>;
  /** Also show the guest in a browser window (`--gui`); started once the guest runs. */
  gui?: GuiOptions;
  /** `--publish`: host ports for guest ports, added to (or replacing) the app's own. */
  publish?: PublishRequest[];
  /** `--no-network` (false): the guest connects nowhere, whatever the app allows. */
  network?: boolean;
  /** A web app's page: open it in the browser (on a terminal), and/or print it as a JSON line. */
  web?: { browser: boolean; json: boolean };
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export interface RunResult {
  exitCode: number;
  reason: EndReason;
  /** Set when the publisher's session limit ended the run. */
  notice?: string;
  saved?: SavedSession;
}

export async function runBundle(file: string, assets: EngineAssets, opts: RunOptions): Promise<RunResult> {
  const mark = (name: string) => void (opts.timings && (opts.timings[name] = Math.round(performance.now() * 10) / 10));
  const { host, module } = takeEngine(assets);
  // Undone on every path, last first: the front-ends (signal handlers, timers, the output-closed
  // hook, the console, the GUI), then the engine, then what the plan opened.
  const owner = new Disposer();
  let plan: LaunchPlan | undefined;
  owner.own(() => plan?.close());
  owner.own(() => host.stop());
  try {
    plan = await openLaunchPlan(file, assets.identity, opts);
    mark("opened");
    const machine = await loadMachine(plan, { engine: assets.identity, onDiskRead: opts.onDiskRead, timings: opts.timings }, mark);
    const forwards = forwardsFor(plan.manifest, opts.publish ?? [], plan.file);
    const end = new SessionEnd();
    end.listen(host);
    const fe = new FrontEnds(host, plan, opts, end, owner, mark);
    const { inputGate, bound } = await startGuest(host, module, plan, machine, { ...opts, forwards, outbound: outboundLists(plan.manifest, opts.network !== false), agent: fe.agent, screenShown: (tail) => fe.modes.push(Buffer.from(tail, "latin1")) }, mark);
    mark("running");
    await fe.attach(inputGate);
    tellPorts(bound, !!plan.manifest.app?.open, opts);
    const open = plan.manifest.app?.open;
    if (open) {
      const web = announceWebApp({ name: plan.manifest.guest.name, open, bound, browser: opts.web?.browser ?? true, json: opts.web?.json ?? false, stdout: opts.stdout, stderr: opts.stderr, probe: (p) => host.probe(p) });
      owner.ownSync(() => web.stop());
      void web.announced.then((url) => url && mark("pageOpen"));
    }
    const reason = await end.reason;
    mark("finished");
    const unread = await fe.close(reason);
    await host.flushDisks();
    if (end.fatal) throw end.fatal;
    const saved = await persistSession(host, plan, machine, reason, fe.modes.redo() + fe.screen.currentLine());
    return resultOf(reason, plan, saved, unread, fe.appStatus);
  } finally {
    traceStop("releasing");
    await owner.dispose();
    traceStop("released");
  }
}

/** Scripts get every bound port as a JSON line; people get the ports no page announcement names. */
function tellPorts(bound: PortForward[], hasPage: boolean, opts: RunOptions): void {
  if (bound.length === 0) return;
  if (opts.web?.json) opts.stderr.write(`vmsfx-ports ${JSON.stringify(bound)}\n`);
  else if (!hasPage) opts.stderr.write(`\r\nvmsfx: ${bound.map((f) => `guest port ${f.guest} is at ${f.address}:${f.host}`).join(", ")}\r\n`);
}

/** The exit code and what to tell the user once the terminal is the user's again. */
function resultOf(reason: EndReason, plan: LaunchPlan, saved: SavedSession, unread: UnreadInput, appStatus: number): RunResult {
  if (unread.lines > 0) {
    const e = inputNotRead(unread, reason === "app-quit");
    return { exitCode: e.exitCode, reason, notice: `vmsfx: ${e.message} [${e.code}]`, saved };
  }
  const notice = reason === "session-limit" && plan.gate.policy ? sessionLimitMessage(plan.gate.policy) : undefined;
  return { exitCode: reason === "signal" ? 130 : reason === "app-exit" || reason === "app-quit" ? appStatus : 0, reason, notice, saved };
}

/** Piped lines the guest never ran because it shut down first: said, never silently dropped. */
function inputNotRead(unread: UnreadInput, app: boolean): VmsfxError {
  const lines = unread.lines === 1 ? "1 line" : `${unread.lines} lines`;
  const first = unread.first === undefined ? "" : `, starting with ${JSON.stringify(unread.first.slice(0, 80))}`;
  return new VmsfxError("VMSFX_INPUT_NOT_READ", `the ${app ? "app quit" : "guest shut down"} before it read all of its input: ${lines}${first} did not run. Its ${app ? "data is" : "disks are"} kept; run the app again with the rest of the input.`);
}
