import { describe, expect, it } from "vitest";
import { parsePageInput } from "../../src/gui/page-input";

describe("parsePageInput", () => {
  it("refuses page messages that are not exactly what the page sends", () => {
    const parse = (v: unknown) => parsePageInput(Buffer.from(typeof v === "string" ? v : JSON.stringify(v)));
    expect(parse({ t: "serial", data: "ls\r" })).toEqual({ t: "serial", bytes: new Uint8Array(Buffer.from("ls\r")) });
    expect(parse({ t: "keys", codes: [0xe0, 0x48] })).toEqual({ t: "keys", codes: [0xe0, 0x48] });
    expect(parse({ t: "mouse", dx: 3.4, dy: -99999, buttons: [true, false, false], wheel: 7 })).toEqual({ t: "mouse", dx: 3, dy: -4096, buttons: [true, false, false], wheel: 1 });
    for (const bad of ["{", "null", { t: "keys", codes: [256] }, { t: "keys", codes: [] }, { t: "keys", codes: Array(65).fill(1) }, { t: "serial", data: "" }, { t: "serial", data: 5 }, { t: "serial", data: "x".repeat(65 * 1024) }, { t: "mouse", dx: "1" }, { t: "mouse", buttons: [true] }, { t: "mouse", dx: Infinity }, { t: "poweroff" }]) {
      expect(parse(bad)).toBeUndefined();
    }
  });
});
