import type { ScreenUpdate } from "./engine-protocol";
import { fillScreenBuffer, isGraphicalMode, provideImageData, restoreScreenAdapter, swapScreenAdapter, type V86Layer, type V86Vga } from "./v86-vga-internals";

/**
 * The guest's screen for the browser window (`--gui`). v86's VGA device draws through a "screen
 * adapter": text cells and the cursor are pushed to it as they change, graphics are pulled (v86
 * renders the framebuffer on request and hands over layers). In Node it gets a dummy that keeps
 * nothing. While a window is open this adapter takes the dummy's place, keeps the text grid or
 * composes the frame, and reports what changed a few dozen times a second: text when a cell or
 * the cursor changed, graphics (pulled: v86 announces no pixel writes) while they show. None of
 * it exists unless a window was asked for, so a plain resume pays nothing.
 */

const FRAME_MS = 40;

export interface ScreenTap {
  stop(): void;
}

export function tapScreen(vga: V86Vga, report: (u: ScreenUpdate) => void): ScreenTap {
  provideImageData();
  return new Tap(vga, report);
}

/** The text grid and cursor as v86 pushes them; `changed` is called when any of it changed. */
class TextGrid {
  cols = 0;
  rows = 0;
  private chars = new Uint8Array(0);
  private fg = new Uint32Array(0);
  private bg = new Uint32Array(0);
  private readonly cursor = { row: 0, col: 0, visible: true };

  constructor(private readonly changed: () => void) {}

  putChar(row: number, col: number, chr: number, bgColor: number, fgColor: number): void {
    if (row >= this.rows || col >= this.cols) return;
    const i = row * this.cols + col;
    this.chars[i] = chr;
    this.bg[i] = bgColor;
    this.fg[i] = fgColor;
    this.changed();
  }

  setSize(cols: number, rows: number): void {
    if (cols === this.cols && rows === this.rows) return;
    this.cols = cols;
    this.rows = rows;
    this.chars = new Uint8Array(cols * rows);
    this.fg = new Uint32Array(cols * rows);
    this.bg = new Uint32Array(cols * rows);
    this.changed();
  }

  moveCursor(row: number, col: number): void {
    if (row === this.cursor.row && col === this.cursor.col) return;
    this.cursor.row = row;
    this.cursor.col = col;
    this.changed();
  }

  showCursor(visible: boolean): void {
    if (this.cursor.visible === !!visible) return;
    this.cursor.visible = !!visible;
    this.changed();
  }

  /** A copy to send, or nothing while v86 has no text size (graphics, or between modes). */
  update(): ScreenUpdate | undefined {
    if (this.cols === 0 || this.rows === 0) return undefined;
    return { mode: "text", cols: this.cols, rows: this.rows, chars: this.chars.slice(), fg: this.fg.slice(), bg: this.bg.slice(), cursor: { ...this.cursor } };
  }
}

/** The composed graphics frame (RGBA) and what of it was last sent. */
class GraphicsFrame {
  private width = 0;
  private height = 0;
  private pixels = new Uint8Array(0);
  private sent = new Uint8Array(0);

  setSize(width: number, height: number): void {
    this.width = width;
    this.height = height;
    this.pixels = new Uint8Array(width * height * 4);
    for (let i = 3; i < this.pixels.length; i += 4) this.pixels[i] = 255;
    // Nothing sent matches a new size: the next frame goes out whole.
    this.forgetSent();
  }

  clear(): void {
    this.pixels.fill(0);
    for (let i = 3; i < this.pixels.length; i += 4) this.pixels[i] = 255;
  }

  forgetSent(): void {
    this.sent = new Uint8Array(0);
  }

  // putImageData semantics: buffer pixel (x, y) of the layer's rectangle lands on the screen at
  // (x + screen_x - buffer_x, y + screen_y - buffer_y), clipped to the screen.
  compose(l: V86Layer): void {
    const src = l.image_data.data;
    const stride = l.image_data.width * 4;
    const dx = l.screen_x - l.buffer_x;
    const dy = l.screen_y - l.buffer_y;
    const x0 = Math.max(l.buffer_x, -dx);
    const x1 = Math.min(l.buffer_x + l.buffer_width, this.width - dx);
    if (x1 <= x0) return;
    for (let y = l.buffer_y; y < l.buffer_y + l.buffer_height; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= this.height) continue;
      const from = y * stride + x0 * 4;
      if (from + (x1 - x0) * 4 > src.length) break;
      this.pixels.set(src.subarray(from, from + (x1 - x0) * 4), (sy * this.width + x0 + dx) * 4);
    }
  }

  /** Only the band of rows that changed since the last one travels; nothing if none did. */
  changedBand(): ScreenUpdate | undefined {
    const { width, height, pixels } = this;
    if (width === 0 || height === 0) return undefined;
    const rowBytes = width * 4;
    let first = 0;
    let last = height - 1;
    if (this.sent.length === pixels.length) {
      while (first < height && rowEqual(pixels, this.sent, first * rowBytes, rowBytes)) first++;
      if (first === height) return undefined;
      while (last > first && rowEqual(pixels, this.sent, last * rowBytes, rowBytes)) last--;
    } else {
      this.sent = new Uint8Array(pixels.length);
    }
    const band = pixels.slice(first * rowBytes, (last + 1) * rowBytes);
    this.sent.set(band, first * rowBytes);
    return { mode: "graphical", width, height, y: first, rgba: band };
  }
}

/** The object v86 draws on (its ScreenAdapter's methods), handing everything to the grid and the frame. */
function screenAdapter(text: TextGrid, frame: GraphicsFrame, setMode: (graphical: boolean) => void) {
  return {
    FLAG_BLINKING: 1,
    FLAG_FONT_PAGE_B: 2,
    put_char: (row: number, col: number, chr: number, _flags: number, bgColor: number, fgColor: number) => text.putChar(row, col, chr, bgColor, fgColor),
    set_mode: (isGraphical: boolean) => setMode(!!isGraphical),
    set_size_text: (cols: number, rows: number) => text.setSize(cols, rows),
    set_size_graphical: (width: number, height: number) => frame.setSize(width, height),
    clear_screen: () => frame.clear(),
    update_cursor: (row: number, col: number) => text.moveCursor(row, col),
    update_cursor_scanline: (_start: number, _end: number, visible: boolean) => text.showCursor(visible),
    update_buffer: (layers: V86Layer[]) => {
      for (const l of layers) frame.compose(l);
    },
    clear_text_state: () => {
      text.cols = text.rows = 0;
    },
    set_font_bitmap() {},
    set_font_page() {},
    set_scale() {},
    destroy() {},
    pause() {},
    continue() {},
  };
}

/**
 * A frame is due FRAME_MS after the first change since the last one; graphics keep it due
 * (pulled each frame), text is sent only when it changed.
 */
class Tap implements ScreenTap {
  private graphical: boolean;
  private lastMode: boolean | undefined;
  private textDirty = true;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly text = new TextGrid(() => this.changed());
  private readonly frame = new GraphicsFrame();
  private readonly previous: unknown;

  constructor(
    private readonly vga: V86Vga,
    private readonly report: (u: ScreenUpdate) => void,
  ) {
    this.graphical = isGraphicalMode(vga);
    const adapter = screenAdapter(this.text, this.frame, (graphical) => {
      this.graphical = graphical;
      this.changed();
    });
    this.previous = swapScreenAdapter(vga, adapter, (c, r) => adapter.set_size_text(c, r));
    this.changed();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    restoreScreenAdapter(this.vga, this.previous);
  }

  private changed(): void {
    this.textDirty = true;
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => this.drawFrame(), FRAME_MS);
    this.timer.unref?.();
  }

  private drawFrame(): void {
    this.timer = undefined;
    if (this.graphical !== this.lastMode) {
      this.lastMode = this.graphical;
      this.textDirty = true;
      this.frame.forgetSent();
    }
    if (this.graphical) {
      fillScreenBuffer(this.vga);
      this.send(this.frame.changedBand());
      this.changed();
    } else if (this.textDirty) {
      this.textDirty = false;
      this.send(this.text.update());
    }
  }

  private send(update: ScreenUpdate | undefined): void {
    if (update) this.report(update);
  }
}

function rowEqual(a: Uint8Array, b: Uint8Array, offset: number, length: number): boolean {
  // Compare as 32-bit words: a 640-pixel row is 640 comparisons.
  if (offset % 4 === 0 && a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const wa = new Uint32Array(a.buffer, a.byteOffset + offset, length / 4);
    const wb = new Uint32Array(b.buffer, b.byteOffset + offset, length / 4);
    for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) return false;
    return true;
  }
  for (let i = 0; i < length; i++) if (a[offset + i] !== b[offset + i]) return false;
  return true;
}
