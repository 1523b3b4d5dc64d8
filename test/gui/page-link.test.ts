import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, type RawData } from "ws";
import { startGuiServer, type GuiServer } from "../../src/gui/gui-server";
import { PageLink, type LinkLimits } from "../../src/gui/page-link";

/**
 * A page that stops reading (a real `ws` client, paused) while the launcher pushes far more than
 * the kernel's socket buffers hold: what waits in the launcher stays bounded, and once the page
 * reads again it ends on the current whole screen and the latest console bytes.
 */

const LIMITS: LinkLimits = { highWater: 1 << 20, lowWater: 256 << 10, maxPendingSerial: 256 << 10 };
const FRAME = 256 << 10;
/** Frames pushed once the launcher holds more than the high-water mark: all of them dropped. */
const FRAMES_OVER = 64;
/** 1 GiB: the most the kernel's socket buffers could ever take before the launcher queues. */
const MAX_FRAMES = 4096;
const SERIAL = 64 << 10;
const SERIALS = 16;

let server: GuiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const frame = (kind: number, fill: number, size: number) => {
  const m = new Uint8Array(size).fill(fill);
  m[0] = kind;
  return m;
};

describe("PageLink", () => {
  it("bounds what a page that stops reading makes the launcher queue, then catches it up", async () => {
    const whole = frame(3, 0xee, FRAME);
    let maxQueued = 0;
    let pushed = 0;
    let link: PageLink | undefined;
    server = await startGuiServer({
      page: () => "",
      onClient: (ws) => {
        link = new PageLink(ws, () => whole, LIMITS);
        ws.on("message", () => {
          const push = () => {
            link!.screen(frame(3, pushed++ & 0x7f, FRAME));
            maxQueued = Math.max(maxQueued, link!.queued);
          };
          // The kernel takes what its buffers hold; past that the launcher would queue.
          while (link!.queued <= LIMITS.highWater && pushed < MAX_FRAMES) push();
          for (let i = 0; i < FRAMES_OVER; i++) push();
          // Console output while congested: only the latest 256 KiB wait for the page.
          for (let i = 0; i < SERIALS; i++) link!.serial(frame(2, 0x80 + i, SERIAL));
          maxQueued = Math.max(maxQueued, link!.queued);
        });
      },
    });
    const u = new URL(server.url);
    const page = new WebSocket(`ws://127.0.0.1:${u.port}/ws${u.search}`);
    const received: Buffer[] = [];
    page.on("message", (m: RawData) => received.push(m as Buffer));
    await new Promise((r) => page.once("open", r));
    page.pause();
    page.send("go");

    // The launcher held no more than the high-water mark and one frame over it.
    await expect.poll(() => maxQueued).toBeGreaterThan(0);
    await expect.poll(() => link?.queued ?? 0).toBeGreaterThan(LIMITS.highWater / 2);
    expect(maxQueued).toBeLessThanOrEqual(LIMITS.highWater + FRAME + 64);

    page.resume();
    await expect.poll(() => received.some((m) => m[0] === 3 && m[1] === 0xee), { timeout: 60_000 }).toBe(true);
    const screens = received.filter((m) => m[0] === 3);
    // Frames were dropped, not queued; the last thing drawn is the whole current screen.
    expect(screens.length).toBeLessThanOrEqual(pushed - FRAMES_OVER + 1);
    expect(screens.at(-1)![1]).toBe(0xee);
    // The console got its latest bytes, in order; the oldest waiting ones were dropped.
    const serials = received.filter((m) => m[0] === 2).map((m) => m[1] - 0x80);
    expect(serials).toEqual([12, 13, 14, 15]);
    page.close();
  });
});
