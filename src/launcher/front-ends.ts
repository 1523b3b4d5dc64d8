import type { GuestHost } from "../engine/engine-host";
import type { GuiOptions, GuiSession } from "../gui/gui-session";
import { attachConsole, type ConsoleBridge } from "./console-bridge";
import { attachGuestAgent, type GuestAgent } from "./guest-agent";
import type { UnreadInput } from "./line-pacer";
import { SerialTail } from "./terminal-answerer";
import { TerminalModes } from "./terminal-modes";
import type { Disposer } from "./disposer";
import type { Mark } from "./guest-start";
import type { LaunchPlan } from "./launch-plan";
import { watchSession, type EndReason, type SessionEnd } from "./session-end";

/**
 * The third stage of a launch: what the user and the guest talk through. The guest agent and
 * the disk-error notices are attached before the guest runs (its first lines reach the agent at
 * once); the console, the GUI, the screen record and the session's watchers once it runs.
 * Everything is registered with one owner, so an error anywhere still gives the terminal back.
 */

export interface FrontEndOptions {
  args?: string[];
  gui?: GuiOptions;
  /** Piped input: keep the guest running after the input ends (`vmsfx record`). */
  stayAfterInput?: boolean;
  maxRunMs?: number;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export class FrontEnds {
  /** What the guest's app set on the user's terminal: undone when the launcher leaves it running. */
  readonly modes = new TerminalModes();
  /** What the user last saw, redrawn when this resume point is resumed. */
  readonly screen = new SerialTail(1024);
  readonly agent: GuestAgent;
  /** The app's exit status (`./app -- ARGS`). */
  appStatus = 0;
  private readonly closeAgent: () => void;
  private bridge?: ConsoleBridge;
  private closeConsole: () => Promise<void> = async () => {};
  private closeGui: () => Promise<void> = async () => {};
  /** The guest said a poweroff inside it is quitting the app: let the quit finish. */
  private quitting = false;
  /** What the GUI's page is told when it closes; set by a normal end of the session. */
  private guiFarewell = "The guest has stopped.";

  constructor(
    private readonly host: GuestHost,
    private readonly plan: LaunchPlan,
    private readonly o: FrontEndOptions,
    private readonly end: SessionEnd,
    private readonly owner: Disposer,
    mark: Mark,
  ) {
    const m = plan.manifest;
    this.agent = attachGuestAgent(host, {
      args: o.args,
      coldBoot: plan.coldBoot,
      terminal: o.stdout,
      app: m.app ? { term: process.env.TERM } : undefined,
      onStarted: () => mark("appStarted"),
      onEnded: (unreadBytes) => this.bridge?.appEnded(unreadBytes),
      onQuitting: () => (this.quitting = true),
      onExit: (status, detached) => {
        mark("appExited");
        this.appStatus = status;
        // Everything the app wrote came before this; what follows is the guest's shell.
        void this.closeConsole();
        // An app whose data disk is off keeps only that disk: the next launch is as fast as this one.
        end.finish(m.app && detached ? "app-quit" : "app-exit");
      },
    });
    const agent = this.agent;
    this.closeAgent = owner.ownSync(() => agent.close());
    // The guest sees a failed read as a bad sector; the user is told why, once per disk region.
    const told = new Set<string>();
    host.on("disk-error", (slot, offset, e) => {
      const where = `${slot}:${Math.floor(offset / (m.disks.find((d) => d.slot === slot)?.map.blockSize ?? 1))}`;
      if (told.has(where)) return;
      told.add(where);
      o.stderr.write(`\r\nvmsfx: the guest got an I/O error reading its disk ${slot} at byte ${offset}: ${e.message} [${e.code}]\r\n`);
    });
  }

  /** Once the guest runs: the console, the GUI if asked for, and what else may end the session. */
  async attach(inputGate: Promise<void> | undefined): Promise<void> {
    const { host, plan, o, end } = this;
    const m = plan.manifest;
    const resumed = !plan.coldBoot;
    const bridge = attachConsole(host, {
      stdin: o.stdin,
      stdout: o.stdout,
      stderr: o.stderr,
      onDetach: () => end.finish("detached"),
      inputGate,
      resumedScreen: resumed ? m.console.tail : undefined,
      appStarting: resumed && !!m.app && plan.previous?.kind !== "suspended",
      promptPattern: m.boot?.ready ? new RegExp(m.boot.ready) : undefined,
      detachAtEndOfInput: !o.stayAfterInput && !o.args?.length,
    });
    this.bridge = bridge;
    this.closeConsole = this.owner.own(() => bridge.close());
    if (o.gui) {
      // Loaded only when asked for: a plain run does not even load the web server.
      const { startGui } = await import("../gui/gui-session");
      const gui: GuiSession = await startGui(host, { ...o.gui, title: m.guest.name, consoleTail: resumed ? m.console.tail : undefined, onSuspend: () => end.finish("detached"), stdout: o.stdout, stderr: o.stderr });
      this.closeGui = this.owner.own(() => gui.close(this.guiFarewell));
    }
    host.on("serial", (b) => {
      this.screen.push(b);
      this.modes.push(b);
    });
    watchSession(end, this.owner, { sessionLimitMs: plan.gate.sessionLimitMs, maxRunMs: o.maxRunMs, outputGone: (settled) => bridge.outputGone(settled), quitting: () => this.quitting });
  }

  /**
   * The session has ended: piped lines the guest never ran are counted, the console is closed
   * and the terminal gets its modes back, the GUI says what happened.
   */
  async close(reason: EndReason): Promise<UnreadInput> {
    const bridge = this.bridge;
    // Piped lines the guest never ran because it shut down, or the app quit, before reading them.
    const unread = bridge && (reason === "poweroff" || reason === "reboot" || reason === "app-quit") ? bridge.unread() : { lines: 0 };
    await this.closeConsole();
    // A suspended app keeps its screen for the next launch; the user's own terminal gets its modes back.
    if (bridge?.interactive && reason !== "app-quit" && reason !== "app-exit") this.o.stdout.write(this.modes.undo());
    this.closeAgent();
    this.guiFarewell = reason === "poweroff" || reason === "reboot" ? "The guest has shut down." : "The guest is suspended; run the app again to continue where it stopped.";
    await this.closeGui();
    return unread;
  }
}
