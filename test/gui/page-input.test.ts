import { describe, expect, it } from "vitest";
import { MAX_WINSIZE, deliverPageInput, parsePageInput, type PageTarget } from "../../src/gui/page-input";

const parse = (v: unknown) => parsePageInput(Buffer.from(typeof v === "string" ? v : JSON.stringify(v)));

describe("parsePageInput", () => {
  it("refuses page messages that are not exactly what the page sends", () => {
    expect(parse({ t: "serial", data: "ls\r" })).toEqual({ t: "serial", bytes: new Uint8Array(Buffer.from("ls\r")) });
    expect(parse({ t: "keys", codes: [0xe0, 0x48] })).toEqual({ t: "keys", codes: [0xe0, 0x48] });
    expect(parse({ t: "mouse", dx: 3.4, dy: -99999, buttons: [true, false, false], wheel: 7 })).toEqual({ t: "mouse", dx: 3, dy: -4096, buttons: [true, false, false], wheel: 1 });
    for (const bad of ["{", "null", { t: "keys", codes: [256] }, { t: "keys", codes: [] }, { t: "keys", codes: Array(65).fill(1) }, { t: "serial", data: "" }, { t: "serial", data: 5 }, { t: "serial", data: "x".repeat(65 * 1024) }, { t: "mouse", dx: "1" }, { t: "mouse", buttons: [true] }, { t: "mouse", dx: Infinity }, { t: "poweroff" }]) {
      expect(parse(bad)).toBeUndefined();
    }
  });

  it("takes the console's size only as whole numbers of rows and columns in a sane range", () => {
    expect(parse({ t: "winsize", rows: 40, cols: 132 })).toEqual({ t: "winsize", rows: 40, cols: 132 });
    expect(parse({ t: "winsize", rows: 1, cols: MAX_WINSIZE })).toEqual({ t: "winsize", rows: 1, cols: MAX_WINSIZE });
    const bad = [
      { t: "winsize" },
      { t: "winsize", rows: 24 },
      { t: "winsize", rows: 0, cols: 80 },
      { t: "winsize", rows: 24, cols: -80 },
      { t: "winsize", rows: 24, cols: MAX_WINSIZE + 1 },
      { t: "winsize", rows: 24.5, cols: 80 },
      { t: "winsize", rows: "24", cols: "80" },
      { t: "winsize", rows: 24, cols: null },
      { t: "winsize", rows: [24], cols: 80 },
      { t: "winsize", rows: 1e300, cols: 80 },
      '{"t":"winsize","rows":24,"cols":NaN}',
    ];
    for (const b of bad) expect(parse(b), JSON.stringify(b)).toBeUndefined();
  });
});

describe("deliverPageInput", () => {
  function recorder() {
    const calls: string[] = [];
    const guest: PageTarget = {
      input: (b) => void calls.push(`serial ${Buffer.from(b).toString()}`),
      agentInput: (b) => void calls.push(`agent ${Buffer.from(b).toString()}`),
      keyboard: (c) => void calls.push(`keys ${c.join(",")}`),
      mouse: (m) => void calls.push(`mouse ${JSON.stringify(m)}`),
    };
    return { calls, guest };
  }

  it("gives the guest agent a winsize line for the page's size, and the rest to their devices", () => {
    const { calls, guest } = recorder();
    let suspended = 0;
    for (const m of [{ t: "winsize", rows: 37, cols: 101 }, { t: "serial", data: "ls\r" }, { t: "keys", codes: [0x1c] }, { t: "mouse", dx: 1, dy: 2 }, { t: "suspend" }]) {
      deliverPageInput(parse(m)!, guest, () => suspended++);
    }
    expect(calls).toEqual(["agent winsize 37 101\n", "serial ls\r", "keys 28", 'mouse {"dx":1,"dy":2}']);
    expect(suspended).toBe(1);
  });
});
