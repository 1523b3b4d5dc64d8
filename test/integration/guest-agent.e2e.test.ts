import { describe, expect, it, inject } from "vitest";
import { EventEmitter } from "node:events";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { CLI, ROOT, runProgram, vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { attachGuestAgent, MAX_RUN_LINE, runLine } from "../../src/launcher/guest-agent";
import type { GuestHost } from "../../src/engine/engine-host";
import { DEADLINE } from "../helpers/deadlines";

/** What the guest printed between `tag<` and `>` (the echoed command line holds `tag<$(...)>`, which does not match). */
function between(stdout: string, tag: string): string {
  const m = new RegExp(`${tag}<([0-9a-f]+)>`).exec(stdout);
  expect(m, `no ${tag}<...> line in:\n${stdout}`).not.toBeNull();
  return m![1];
}

/** Resumes the sample bundle from its own state (a fresh state folder each time) and reads the clock and /dev/urandom. */
async function resumeAndSample(): Promise<{ guestSeconds: number; random: string; before: number; after: number }> {
  const before = Date.now() / 1000;
  const r = await vmsfx(["run", inject("bundlePath"), "--state-dir", tempDir()], { input: `echo "T<$(date +%s)>"; echo "R<$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n')>"\npoweroff\n` });
  const after = Date.now() / 1000;
  expect(r.code).toBe(0);
  return { guestSeconds: Number(between(r.stdout, "T")), random: between(r.stdout, "R"), before, after };
}

describe("guest agent: fresh clock and entropy on every resume", () => {
  it("two resumes of one bundle see this moment's clock and different /dev/urandom bytes", async () => {
    const captured = Date.parse(JSON.parse((await vmsfx(["inspect", inject("bundlePath"), "--json"])).stdout).createdAt) / 1000;
    const a = await resumeAndSample();
    const b = await resumeAndSample();
    for (const s of [a, b]) {
      // `date` shows whole seconds of the host's clock when it resumed, not the capture's.
      expect(s.guestSeconds).toBeGreaterThanOrEqual(Math.floor(s.before) - 1);
      expect(s.guestSeconds).toBeLessThanOrEqual(Math.ceil(s.after) + 1);
      expect(s.random).toMatch(/^[0-9a-f]{32}$/);
    }
    // The snapshot's own clock was stopped at capture; this run was later than that.
    expect(b.guestSeconds).toBeGreaterThan(captured);
    expect(a.random).not.toBe(b.random);
  });
});

describe("guest agent: arguments and exit status", () => {
  it("runs the guest's app with the arguments after -- and exits with its status (UTF-8 intact)", async () => {
    const stateDir = tempDir();
    const r = await vmsfx(["run", inject("bundlePath"), "--state-dir", stateDir, "--", "sh", "-c", 'printf "[%s]" "$@"; echo " héllo ✓"; exit 7', "x", "a  b", "", "c\nd"]);
    expect(r.stdout).toBe("[a  b][][c\r\nd] héllo ✓\r\n");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(7);
    const v = await vmsfx(["run", inject("bundlePath"), "--state-dir", tempDir(), "--", "--version"]);
    expect(v.stdout).toMatch(/^vmsfx sample shell 2 \(Linux /);
    expect(v.code).toBe(0);
    // The app's end was a quit: the next launch starts a working shell with the data kept.
    const next = await vmsfx(["run", inject("bundlePath"), "--state-dir", stateDir], { input: "echo $((40+2))xyz\npoweroff\n" });
    expect(next.stdout).toMatch(/^42xyz\r?$/m);
    expect(next.code).toBe(0);
  });

  it("the guest console takes the host terminal's size", async () => {
    // `script` gives vmsfx a pseudo-terminal of a known size.
    const cmd = `stty rows 33 cols 101 && ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} run ${JSON.stringify(inject("bundlePath"))} --state-dir ${JSON.stringify(tempDir())} -- stty size`;
    const r = await runProgram("script", ["-qfec", cmd, "/dev/null"], { cwd: ROOT });
    expect(r.stdout.replace(/\r/g, "")).toBe("33 101\n");
    expect(r.code).toBe(0);
  });

  it("refuses arguments too long for the agent's line, as a usage error", async () => {
    expect(() => runLine(["x".repeat(MAX_RUN_LINE)])).toThrow(/too long/);
    const r = await vmsfx(["run", inject("bundlePath"), "--state-dir", tempDir(), "--", "x".repeat(MAX_RUN_LINE)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\[VMSFX_USAGE\]/);
    expect((await vmsfx(["inspect", inject("bundlePath"), "--", "x"])).code).toBe(2);
  });
});

describe("guest agent: host side of the protocol", () => {
  function fakeHost() {
    const listeners: ((b: Uint8Array) => void)[] = [];
    const sent: string[] = [];
    const host = {
      on: (event: string, fn: (b: Uint8Array) => void) => event === "agent" && listeners.push(fn),
      agentInput: (b: Uint8Array) => sent.push(...Buffer.from(b).toString().split("\n").filter(Boolean)),
    } as unknown as GuestHost;
    return { host, sent, say: (s: string) => listeners.forEach((fn) => fn(Buffer.from(s))) };
  }
  const terminal = () => Object.assign(new EventEmitter(), { isTTY: true, rows: 24, columns: 80 }) as unknown as NodeJS.WriteStream;

  it("sends clock, seed and size at resume, the size again on every resize, hears fresh, and reports the app's status", async () => {
    const { host, sent, say } = fakeHost();
    const term = terminal();
    const exits: number[] = [];
    const agent = attachGuestAgent(host, { coldBoot: false, terminal: term, onExit: (s) => exits.push(s), now: () => 1_700_000_000_250 });
    expect(sent[0]).toBe("time 1700000000.250000000");
    expect(sent[1]).toMatch(/^seed [0-9a-f]{128}$/);
    expect(sent[2]).toBe("winsize 24 80");
    Object.assign(term, { rows: 50, columns: 132 });
    term.emit("resize");
    expect(sent[3]).toBe("winsize 50 132");
    let freshened = false;
    void agent.freshened(DEADLINE.launch).then(() => (freshened = true));
    say("fresh\n");
    await Promise.resolve();
    expect(freshened).toBe(true);
    say("ex");
    say("it 3\r\n");
    expect(exits).toEqual([3]);
    agent.close();
    term.emit("resize");
    expect(sent).toHaveLength(4);
  });

  it("a cold-booted agent is greeted when it says ready, and runs the app once", () => {
    const { host, sent, say } = fakeHost();
    attachGuestAgent(host, { coldBoot: true, args: ["--version"], terminal: terminal(), onExit: () => {}, now: () => 0 });
    expect(sent).toEqual([]);
    say("ready 1\n");
    expect(sent.map((l) => l.split(" ")[0])).toEqual(["time", "seed", "pause", "winsize", "run"]);
    expect(sent[4]).toBe(`run ${Buffer.from("--version.").toString("base64")}`);
    say("ready 1\n");
    expect(sent.filter((l) => l.startsWith("run"))).toHaveLength(1);
  });
});

// The agents and the base's init must stay plain POSIX sh that busybox accepts.
it("the guest base's agent and init, the v1 agent and the sample's app parse as sh", () => {
  for (const f of ["build-scripts/guest-base/vmsfx-agent", "build-scripts/guest-base/init", "docs/vmsfx-agent-v1", "samples/shell/vmsfx-shell"]) execFileSync("sh", ["-n", path.join(ROOT, f)]);
});
