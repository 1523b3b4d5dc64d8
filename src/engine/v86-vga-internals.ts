import type { Touchpoints } from "./v86-internals";

/**
 * The VGA half of v86-internals.ts: what the browser window (`--gui`) reaches in v86's VGA
 * device. v86 picks its screen adapter once, at construction, from browser options, and in Node
 * it gets a dummy that keeps nothing; no public call attaches one later or renders a frame.
 * Every accessor here is listed in VGA_TOUCHPOINTS, which checkV86Internals runs at start-up.
 */

/** The VGA device: its memory, its screen adapter and the calls that redraw onto it. */
export interface V86Vga {
  /** A Proxy that acts as a Uint8Array view (its identity is stable). */
  svga_memory: Uint8Array;
  /** get_state()[39] is svga_memory, [61] the pixel buffer derived from it. */
  get_state(): unknown[];
  screen: unknown;
  /** Null until v86 has rendered graphics into an ImageData (it skips that where the class is missing). */
  image_data: unknown;
  graphical_mode: boolean;
  svga_enabled: boolean;
  svga_width: number;
  svga_height: number;
  svga_bpp: number;
  max_cols: number;
  max_rows: number;
  screen_width: number;
  set_size_graphical(width: number, height: number, virtualWidth: number, virtualHeight: number, bpp: number): void;
  update_vga_size(): void;
  update_layers(): void;
  complete_replot(): void;
  complete_redraw(): void;
  update_cursor(): void;
  screen_fill_buffer(): void;
}

/** A rectangle of rendered pixels that v86 hands to the screen adapter's update_buffer. */
export interface V86Layer {
  image_data: { data: Uint8ClampedArray; width: number };
  screen_x: number;
  screen_y: number;
  buffer_x: number;
  buffer_y: number;
  buffer_width: number;
  buffer_height: number;
}

export const VGA_STATE_SVGA_MEMORY = 39;
export const VGA_STATE_PIXEL_BUFFER = 61;

/** What each accessor below reaches in the VGA device; an accessor added here adds its line. */
export const VGA_TOUCHPOINTS: Record<string, Touchpoints> = {
  provideImageData: { present: ["image_data"] },
  swapScreenAdapter: {
    present: ["screen"],
    functions: ["set_size_graphical", "update_vga_size", "update_layers", "complete_replot", "complete_redraw", "update_cursor"],
    numbers: ["max_cols", "max_rows", "svga_width", "svga_height", "svga_bpp", "screen_width"],
    booleans: ["graphical_mode", "svga_enabled"],
  },
  restoreScreenAdapter: { present: ["screen"] },
  fillScreenBuffer: { functions: ["screen_fill_buffer"] },
  isGraphicalMode: { booleans: ["graphical_mode"] },
};

/**
 * v86 renders graphics into a buffer it wraps in an ImageData, and skips that step where the
 * class is missing (Node). A plain holder is all it needs.
 */
export function provideImageData(): void {
  const g = globalThis as { ImageData?: unknown };
  g.ImageData ??= class ImageData {
    constructor(
      public data: Uint8ClampedArray,
      public width: number,
      public height: number,
    ) {}
  };
}

/**
 * Puts `adapter` in place of the VGA's screen adapter and redraws everything onto it; returns
 * the previous one. v86 picks its adapter only at construction, from browser options; none lets
 * a window attach later (`--gui`), and keeping one from the start would cost a plain resume.
 */
export function swapScreenAdapter(vga: V86Vga, adapter: unknown, setTextSize: (cols: number, rows: number) => void): unknown {
  const previous = vga.screen;
  vga.screen = adapter;
  // Draw what is already there: for text, every cell again; for graphics, size the buffer v86
  // skipped without ImageData, then replot all of it.
  if (vga.graphical_mode) {
    vga.screen_width = 0;
    if (vga.svga_enabled) vga.set_size_graphical(vga.svga_width, vga.svga_height, vga.svga_width, vga.svga_height, vga.svga_bpp);
    else vga.update_vga_size();
    vga.update_layers();
    vga.complete_replot();
  } else {
    setTextSize(vga.max_cols, vga.max_rows);
    vga.update_cursor();
  }
  vga.complete_redraw();
  return previous;
}

/** Gives the VGA back the adapter swapScreenAdapter returned; nothing is redrawn onto it. */
export function restoreScreenAdapter(vga: V86Vga, previous: unknown): void {
  vga.screen = previous;
}

/** Renders the framebuffer and hands its changed layers to the adapter: v86 announces no pixel writes. */
export function fillScreenBuffer(vga: V86Vga): void {
  vga.screen_fill_buffer();
}

export function isGraphicalMode(vga: V86Vga): boolean {
  return !!vga.graphical_mode;
}
