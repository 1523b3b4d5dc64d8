import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshV86 } from "../helpers/fresh-v86";
import type { ScreenUpdate } from "../../src/engine/engine-protocol";
import { checkV86Internals, vgaOf } from "../../src/engine/v86-internals";
import { tapScreen } from "../../src/engine/v86-screen";

/* eslint-disable @typescript-eslint/no-explicit-any */


describe("tapScreen", () => {
  let emulator: any;
  beforeAll(async () => {
    emulator = await freshV86();
    checkV86Internals(emulator);
  });
  afterAll(async () => {
    await emulator?.destroy();
  });

  it("reports the text screen once after attaching, and gives the VGA its adapter back on stop", async () => {
    const vga = vgaOf(emulator);
    const dummy = vga.screen;
    const updates: ScreenUpdate[] = [];
    const tap = tapScreen(vga, (u) => updates.push(u));
    expect(vga.screen).not.toBe(dummy);
    await new Promise((r) => setTimeout(r, 150));
    tap.stop();
    expect(vga.screen).toBe(dummy);
    expect(updates).toHaveLength(1);
    const [text] = updates;
    expect(text.mode).toBe("text");
    if (text.mode !== "text") return;
    expect([text.cols, text.rows]).toEqual([80, 25]);
    expect(text.chars).toHaveLength(80 * 25);
    expect(text.cursor.visible).toBe(true);
  });
});
