import { describe, expect, it } from "vitest";
import { ScreenMirror } from "../../src/gui/screen-mirror";

describe("ScreenMirror", () => {
  it("keeps the whole screen and the recent console for a page that opens late", () => {
    const mirror = new ScreenMirror();
    mirror.output(new Uint8Array(40 * 1024).fill(0x61));
    mirror.output(new Uint8Array(40 * 1024).fill(0x62));
    mirror.output(Buffer.from("tail"));
    const band = (y: number, rows: number, v: number) => ({ mode: "graphical" as const, width: 4, height: 3, y, rgba: new Uint8Array(4 * 4 * rows).fill(v) });
    mirror.screen(band(0, 3, 1));
    expect(Array.from(mirror.screen(band(1, 1, 9)))).toEqual([3, 4, 0, 3, 0, 1, 0, ...Array(16).fill(9)]);
    const [serial, screen] = mirror.replay();
    // The console backlog is bounded and ends with the latest bytes.
    expect(serial[0]).toBe(2);
    expect(serial.length - 1).toBeLessThanOrEqual(64 * 1024 + 40 * 1024);
    expect(Buffer.from(serial.subarray(-4)).toString()).toBe("tail");
    // The screen is the whole frame with the later band applied.
    expect(Array.from(screen.subarray(0, 7))).toEqual([3, 4, 0, 3, 0, 0, 0]);
    expect(Array.from(screen.subarray(7))).toEqual([...Array(16).fill(1), ...Array(16).fill(9), ...Array(16).fill(1)]);
    // Text mode replaces graphics.
    const text = mirror.screen({ mode: "text", cols: 2, rows: 1, chars: Uint8Array.from([0x41, 0x42]), fg: Uint32Array.from([0xaabbcc, 0xffffff]), bg: Uint32Array.from([0, 0x010203]), cursor: { row: 0, col: 1, visible: true } });
    expect(Array.from(text)).toEqual([1, 2, 0, 1, 0, 0, 0, 1, 0, 1, 0x41, 0x42, 0xaa, 0xbb, 0xcc, 0xff, 0xff, 0xff, 0, 0, 0, 1, 2, 3]);
    expect(mirror.replay()[1]).toBe(text);
  });
});
