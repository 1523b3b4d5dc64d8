import { EventEmitter } from "node:events";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../../src/snapshot/manifest";
import { Disposer } from "../../src/launcher/disposer";
import { FrontEnds } from "../../src/launcher/front-ends";
import { openLaunchPlan, type LaunchPlan } from "../../src/launcher/launch-plan";
import { SessionEnd, type EndReason } from "../../src/launcher/session-end";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";

let dir: string;
let manifest: Manifest;
beforeAll(async () => ({ dir, manifest } = await makeSyntheticSnapshot()));

/** The engine as the front-ends see it: events a test emits, and what was typed to the guest. */
class FakeHost extends EventEmitter {
  readonly typed: string[] = [];
  readonly agentSaid: string[] = [];
  input(bytes: Uint8Array): void {
    this.typed.push(Buffer.from(bytes).toString("latin1"));
  }
  agentInput(bytes: Uint8Array): void {
    this.agentSaid.push(Buffer.from(bytes).toString("latin1"));
  }
  agent(text: string): void {
    this.emit("agent", Buffer.from(text, "latin1"));
  }
  serial(text: string): void {
    this.emit("serial", Buffer.from(text, "latin1"));
  }
}

/** A terminal (or a pipe) on either side: what was written, and raw mode as set. */
class FakeStream extends EventEmitter {
  out = "";
  raw: boolean[] = [];
  readonly rows = 24;
  readonly columns = 80;
  constructor(readonly isTTY: boolean) {
    super();
  }
  write(s: string | Uint8Array): boolean {
    this.out += typeof s === "string" ? s : Buffer.from(s).toString("latin1");
    return true;
  }
  setRawMode(on: boolean): void {
    this.raw.push(on);
  }
  resume(): void {}
  pause(): void {}
}

const APP = { protocol: 2, dataDisk: "hdb", data: ["/data"] } as const;
const opened: LaunchPlan[] = [];
const owners: Disposer[] = [];
afterEach(async () => {
  for (const o of owners.splice(0)) await o.dispose();
  for (const p of opened.splice(0)) await p.close();
});

/** Front-ends for a resumed guest (an app built with `vmsfx build`, or a plain one), attached. */
async function frontEnds(o: { app?: boolean; tty?: boolean; args?: string[] } = {}) {
  const real = await openLaunchPlan(dir, manifest.engine, { fresh: false, stateDir: tempDir(), stderr: { write: () => true } });
  opened.push(real);
  const plan: LaunchPlan = { ...real, manifest: { ...real.manifest, app: o.app ? { ...APP, data: [...APP.data] } : undefined } };
  const host = new FakeHost();
  const stdin = new FakeStream(o.tty ?? false);
  const stdout = new FakeStream(o.tty ?? false);
  const stderr = new FakeStream(false);
  const end = new SessionEnd();
  const owner = new Disposer();
  owners.push(owner);
  const marks: string[] = [];
  const fe = new FrontEnds(host as never, plan, { args: o.args, stdin: stdin as never, stdout: stdout as never, stderr: stderr as never }, end, owner, (m) => marks.push(m));
  await fe.attach(undefined);
  return { fe, host, stdin, stdout, stderr, end, marks };
}

describe("FrontEnds: the app's exit", () => {
  it("an app's `exit N detached` (its data disk off) ends the session as app-quit, with its status", async () => {
    const { fe, host, end, marks } = await frontEnds({ app: true });
    host.agent("exit 3 detached\n");
    await expect(end.reason).resolves.toBe("app-quit");
    expect(fe.appStatus).toBe(3);
    expect(marks).toContain("appExited");
  });

  it("an app's `exit N attached` (its data disk still busy) ends it as app-exit: the whole machine is kept", async () => {
    const { fe, host, end } = await frontEnds({ app: true });
    host.agent("exit 0 attached\n");
    await expect(end.reason).resolves.toBe("app-exit");
    expect(fe.appStatus).toBe(0);
  });

  it("a plain guest's run (`-- ARGS`) is an app-exit even when the agent says detached", async () => {
    const { fe, host, end } = await frontEnds({ args: ["--version"] });
    expect(host.agentSaid.join("")).toMatch(/^run /m);
    host.agent("exit 2 detached\n");
    await expect(end.reason).resolves.toBe("app-exit");
    expect(fe.appStatus).toBe(2);
  });
});

describe("FrontEnds.close", () => {
  const UNREAD_COUNTS: [EndReason, boolean][] = [
    ["poweroff", true],
    ["reboot", true],
    ["app-quit", true],
    ["app-exit", false],
    ["detached", false],
    ["signal", false],
    ["session-limit", false],
  ];
  it.each(UNREAD_COUNTS)("piped lines the guest never ran, at %s: reported %s", async (reason, reported) => {
    const { fe, host, stdin } = await frontEnds();
    stdin.emit("data", Buffer.from("one\ntwo\nthree\n"));
    // The resumed guest is at its prompt: the first line goes, the rest wait for the next prompt.
    expect(host.typed.join("")).toBe("one\n");
    await expect(fe.close(reason)).resolves.toEqual(reported ? { lines: 2, first: "two" } : { lines: 0 });
  });

  it("gives the user's terminal back the modes the guest's app set when leaving it running", async () => {
    const { fe, host, stdin, stdout } = await frontEnds({ tty: true });
    host.serial("\x1b[?1049h\x1b[?2004hvim");
    await fe.close("detached");
    expect(stdout.out).toMatch(/\x1b\[\?2004l\x1b\[\?1049l$/);
    expect(stdin.raw).toEqual([true, false]);
    // What the user saw is kept for the resume point, and the modes to set again.
    expect(fe.screen.currentLine()).toMatch(/vim$/);
    expect(fe.modes.redo()).toBe("\x1b[?1049h\x1b[?2004h");
  });

  it.each(["app-exit", "app-quit"] as const)("leaves the terminal's modes alone when the app ended (%s): the app undid them itself", async (reason) => {
    const { fe, host, stdout } = await frontEnds({ app: true, tty: true });
    host.serial("\x1b[?1049h");
    const before = stdout.out;
    await fe.close(reason);
    expect(stdout.out).toBe(before);
  });
});

describe("FrontEnds: disk errors", () => {
  it("tells the user once per disk block, not once per read", async () => {
    const { host, stderr } = await frontEnds();
    const blockSize = manifest.disks[0].map.blockSize;
    const offline = Object.assign(new Error("the server is offline"), { code: "VMSFX_OFFLINE" });
    host.emit("disk-error", "hda", 512, offline);
    host.emit("disk-error", "hda", 1024, offline);
    host.emit("disk-error", "hda", blockSize * 2, offline);
    const told = stderr.out.split("\r\n").filter(Boolean);
    expect(told).toEqual([
      "vmsfx: the guest got an I/O error reading its disk hda at byte 512: the server is offline [VMSFX_OFFLINE]",
      `vmsfx: the guest got an I/O error reading its disk hda at byte ${blockSize * 2}: the server is offline [VMSFX_OFFLINE]`,
    ]);
  });
});
