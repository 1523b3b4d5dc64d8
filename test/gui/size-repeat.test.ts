import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SizeRepeat } from "../../src/gui/size-repeat";

/**
 * A page that opens while the app starts sends its size before the app handles SIGWINCH (seen
 * in test/integration/tui-page.e2e.test.ts: nano stayed at 24x80 in a 15x113 pane): the size is
 * sent once more after the app has drawn and gone quiet.
 */
describe("SizeRepeat", () => {
  let sent: [number, number][];
  let repeat: SizeRepeat;
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    repeat = new SizeRepeat((rows, cols) => sent.push([rows, cols]), 1000);
  });
  afterEach(() => vi.useRealTimers());

  it("sends a page's first size again once output that came after it has been quiet for a while", () => {
    repeat.sized(15, 113, true);
    vi.advanceTimersByTime(5000);
    expect(sent, "no output yet: the app has not started drawing").toEqual([]);
    for (let i = 0; i < 5; i++) {
      repeat.output();
      vi.advanceTimersByTime(900);
    }
    expect(sent, "still drawing").toEqual([]);
    vi.advanceTimersByTime(100);
    expect(sent).toEqual([[15, 113]]);
    // Once: the redraw that follows is not answered with another size.
    repeat.output();
    vi.advanceTimersByTime(5000);
    expect(sent).toEqual([[15, 113]]);
  });

  it("repeats the latest size when the page resized meanwhile, and only a page's first size arms it", () => {
    repeat.sized(20, 90, false);
    repeat.output();
    vi.advanceTimersByTime(5000);
    expect(sent, "a later resize of a page is not repeated").toEqual([]);
    repeat.sized(15, 113, true);
    repeat.output();
    repeat.sized(30, 120, false);
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([[30, 120]]);
  });

  it("sends nothing once something else set the size or the session ended", () => {
    repeat.sized(15, 113, true);
    repeat.output();
    repeat.cancel();
    vi.advanceTimersByTime(5000);
    repeat.output();
    vi.advanceTimersByTime(5000);
    expect(sent).toEqual([]);
  });
});
