import { describe, expect, it } from "vitest";
import { attachGuestAgent, runLine } from "../../src/launcher/guest-agent";
import type { GuestHost } from "../../src/engine/engine-host";

/** Just the two things the agent's host side uses: its port's input and the agent's lines. */
function fakeHost() {
  const sent: string[] = [];
  let onAgent: (b: Uint8Array) => void = () => {};
  const host = {
    on: (event: string, fn: (b: Uint8Array) => void) => event === "agent" && (onAgent = fn),
    agentInput: (b: Uint8Array) => sent.push(...Buffer.from(b).toString().split("\n").filter(Boolean)),
  } as unknown as GuestHost;
  return { host, sent, say: (line: string) => onAgent(Buffer.from(`${line}\n`)) };
}

const tty = { isTTY: true, rows: 30, columns: 100, on() {}, off() {} } as unknown as NodeJS.WriteStream;
const pipe = { isTTY: false, on() {}, off() {} } as unknown as NodeJS.WriteStream;

describe("guest agent protocol 2 (apps built with vmsfx build)", () => {
  it("every resume sends the clock, entropy, size, the user's TERM and `start` with the arguments", () => {
    const { host, sent } = fakeHost();
    attachGuestAgent(host, { coldBoot: false, terminal: tty, app: { term: "xterm-256color" }, args: ["a b", ""], onExit: () => {} });
    expect(sent.map((l) => l.split(" ")[0])).toEqual(["time", "seed", "winsize", "term", "start"]);
    expect(sent[2]).toBe("winsize 30 100");
    expect(sent[3]).toBe("term xterm-256color");
    expect(sent[4]).toBe(runLine(["a b", ""], "start"));
  });

  it("no TERM when the output is not a terminal; a TERM that is not a plain name is never sent", () => {
    const piped = fakeHost();
    attachGuestAgent(piped.host, { coldBoot: false, terminal: pipe, app: { term: "xterm" }, onExit: () => {} });
    expect(piped.sent.map((l) => l.split(" ")[0])).toEqual(["time", "seed", "start"]);
    const odd = fakeHost();
    attachGuestAgent(odd.host, { coldBoot: false, terminal: tty, app: { term: "x; rm -rf /" }, onExit: () => {} });
    expect(odd.sent.some((l) => l.startsWith("term"))).toBe(false);
  });

  it("a cold-booted (or respawned) agent is greeted, and starts the app, when it says ready 2", () => {
    const { host, sent, say } = fakeHost();
    attachGuestAgent(host, { coldBoot: true, terminal: pipe, app: {}, onExit: () => {} });
    expect(sent).toEqual([]);
    say("ready 2");
    expect(sent.at(-1)).toBe("start");
  });

  it("`exit N detached` is a quit; `exit N attached` is not; `started` opens the input gate", async () => {
    const { host, say } = fakeHost();
    const exits: [number, boolean][] = [];
    const agent = attachGuestAgent(host, { coldBoot: false, terminal: pipe, app: {}, onExit: (s, d) => exits.push([s, d]) });
    let started = false;
    const gate = agent.started(60_000).then(() => (started = true));
    expect(started).toBe(false);
    say("started");
    await gate;
    expect(started).toBe(true);
    say("exit 3 detached");
    say("exit 300 attached");
    expect(exits).toEqual([
      [3, true],
      [300 & 0xff, false],
    ]);
  });

  it("`ended N` hands on the guest's count of unread input; `quitting` says a poweroff is quitting the app", () => {
    const { host, say } = fakeHost();
    const heard: string[] = [];
    attachGuestAgent(host, { coldBoot: false, terminal: pipe, app: {}, onExit: () => {}, onEnded: (n) => heard.push(`ended ${n}`), onQuitting: () => heard.push("quitting") });
    say("quitting");
    say("ended 15");
    say("ended x");
    expect(heard).toEqual(["quitting", "ended 15"]);
  });
});
