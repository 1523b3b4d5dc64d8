import type { ScreenUpdate } from "./engine-protocol";

/**
 * The guest's screen for the browser window (`--gui`). v86's VGA device draws through a "screen
 * adapter": text cells and the cursor are pushed to it as they change, graphics are pulled
 * (`screen_fill_buffer` renders the framebuffer and hands over layers). In Node it gets a dummy
 * that keeps nothing. While a window is open this adapter takes the dummy's place, keeps the text
 * grid or composes the frame, and reports what changed a few dozen times a second. None of it
 * exists unless a window was asked for, so a plain resume pays nothing.
 */

const FRAME_MS = 40;

/* eslint-disable @typescript-eslint/no-explicit-any */
type Vga = any;

interface Layer {
  image_data: { data: Uint8ClampedArray; width: number };
  screen_x: number;
  screen_y: number;
  buffer_x: number;
  buffer_y: number;
  buffer_width: number;
  buffer_height: number;
}

export interface ScreenTap {
  stop(): void;
}

export function tapScreen(vga: Vga, report: (u: ScreenUpdate) => void): ScreenTap {
  // v86 renders graphics into a buffer it wraps in an ImageData, and skips that step where the
  // class is missing (Node). A plain holder is all it needs.
  const g = globalThis as { ImageData?: unknown };
  g.ImageData ??= class ImageData {
    constructor(
      public data: Uint8ClampedArray,
      public width: number,
      public height: number,
    ) {}
  };

  let graphical = false;
  let cols = 0;
  let rows = 0;
  let chars = new Uint8Array(0);
  let fg = new Uint32Array(0);
  let bg = new Uint32Array(0);
  const cursor = { row: 0, col: 0, visible: true };
  let textDirty = true;
  let width = 0;
  let height = 0;
  let frame = new Uint8Array(0);
  let sent = new Uint8Array(0);

  const adapter = {
    FLAG_BLINKING: 1,
    FLAG_FONT_PAGE_B: 2,
    put_char(row: number, col: number, chr: number, _flags: number, bgColor: number, fgColor: number) {
      if (row >= rows || col >= cols) return;
      const i = row * cols + col;
      chars[i] = chr;
      bg[i] = bgColor;
      fg[i] = fgColor;
      textDirty = true;
    },
    set_mode(isGraphical: boolean) {
      graphical = !!isGraphical;
      textDirty = true;
    },
    set_size_text(c: number, r: number) {
      if (c === cols && r === rows) return;
      cols = c;
      rows = r;
      chars = new Uint8Array(c * r);
      fg = new Uint32Array(c * r);
      bg = new Uint32Array(c * r);
      textDirty = true;
    },
    set_size_graphical(w: number, h: number) {
      width = w;
      height = h;
      frame = new Uint8Array(w * h * 4);
      for (let i = 3; i < frame.length; i += 4) frame[i] = 255;
      // Nothing sent matches a new size: the next frame goes out whole.
      sent = new Uint8Array(0);
    },
    clear_screen() {
      frame.fill(0);
      for (let i = 3; i < frame.length; i += 4) frame[i] = 255;
    },
    update_cursor(row: number, col: number) {
      if (row === cursor.row && col === cursor.col) return;
      cursor.row = row;
      cursor.col = col;
      textDirty = true;
    },
    update_cursor_scanline(_start: number, _end: number, visible: boolean) {
      if (cursor.visible === !!visible) return;
      cursor.visible = !!visible;
      textDirty = true;
    },
    update_buffer(layers: Layer[]) {
      for (const l of layers) compose(l);
    },
    clear_text_state() {
      cols = rows = 0;
    },
    set_font_bitmap() {},
    set_font_page() {},
    set_scale() {},
    destroy() {},
    pause() {},
    continue() {},
  };

  // putImageData semantics: buffer pixel (x, y) of the layer's rectangle lands on the screen at
  // (x + screen_x - buffer_x, y + screen_y - buffer_y), clipped to the screen.
  function compose(l: Layer): void {
    const src = l.image_data.data;
    const stride = l.image_data.width * 4;
    const dx = l.screen_x - l.buffer_x;
    const dy = l.screen_y - l.buffer_y;
    const x0 = Math.max(l.buffer_x, -dx);
    const x1 = Math.min(l.buffer_x + l.buffer_width, width - dx);
    if (x1 <= x0) return;
    for (let y = l.buffer_y; y < l.buffer_y + l.buffer_height; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= height) continue;
      const from = y * stride + x0 * 4;
      if (from + (x1 - x0) * 4 > src.length) break;
      frame.set(src.subarray(from, from + (x1 - x0) * 4), (sy * width + x0 + dx) * 4);
    }
  }

  function sendText(): void {
    textDirty = false;
    if (cols === 0 || rows === 0) return;
    report({ mode: "text", cols, rows, chars: chars.slice(), fg: fg.slice(), bg: bg.slice(), cursor: { ...cursor } });
  }

  // Only the band of rows that changed since the last frame travels.
  function sendGraphics(): void {
    if (width === 0 || height === 0) return;
    const rowBytes = width * 4;
    let first = 0;
    let last = height - 1;
    if (sent.length === frame.length) {
      while (first < height && rowEqual(frame, sent, first * rowBytes, rowBytes)) first++;
      if (first === height) return;
      while (last > first && rowEqual(frame, sent, last * rowBytes, rowBytes)) last--;
    } else {
      sent = new Uint8Array(frame.length);
    }
    const band = frame.slice(first * rowBytes, (last + 1) * rowBytes);
    sent.set(band, first * rowBytes);
    report({ mode: "graphical", width, height, y: first, rgba: band });
  }

  const previous = vga.screen;
  vga.screen = adapter;
  // Draw what is already there: for text, every cell again; for graphics, size the buffer v86
  // skipped without ImageData, then replot all of it.
  if (vga.graphical_mode) {
    graphical = true;
    vga.screen_width = 0;
    if (vga.svga_enabled) vga.set_size_graphical(vga.svga_width, vga.svga_height, vga.svga_width, vga.svga_height, vga.svga_bpp);
    else vga.update_vga_size();
    vga.update_layers();
    vga.complete_replot();
  } else {
    adapter.set_size_text(vga.max_cols, vga.max_rows);
    vga.update_cursor();
  }
  vga.complete_redraw();

  let lastMode: boolean | undefined;
  const timer = setInterval(() => {
    if (graphical !== lastMode) {
      lastMode = graphical;
      textDirty = true;
      sent = new Uint8Array(0);
    }
    if (graphical) {
      vga.screen_fill_buffer();
      sendGraphics();
    } else if (textDirty) sendText();
  }, FRAME_MS);
  timer.unref?.();
  return {
    stop() {
      clearInterval(timer);
      vga.screen = previous;
    },
  };
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
