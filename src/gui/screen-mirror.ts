import type { ScreenUpdate } from "../engine/engine-protocol";
import { MSG_GRAPHICS, MSG_SERIAL, MSG_TEXT } from "./page-protocol";

/**
 * The launcher's copy of what the guest shows, so a page that opens (or reloads) late gets the
 * whole screen and the recent console at once, then only changes. The messages' layout is in
 * page-protocol.ts.
 */

/** Enough console history to fill the pane on a reload. */
const SERIAL_BACKLOG = 64 * 1024;

export class ScreenMirror {
  private text: Uint8Array | undefined;
  private frame: { width: number; height: number; rgba: Uint8Array } | undefined;
  private serial: Buffer[] = [];
  private serialBytes = 0;

  /** Records an update; returns the message to send to pages already open. */
  screen(u: ScreenUpdate): Uint8Array {
    if (u.mode === "text") {
      this.frame = undefined;
      this.text = encodeText(u);
      return this.text;
    }
    this.text = undefined;
    if (!this.frame || this.frame.width !== u.width || this.frame.height !== u.height) {
      this.frame = { width: u.width, height: u.height, rgba: new Uint8Array(u.width * u.height * 4) };
    }
    this.frame.rgba.set(u.rgba.subarray(0, this.frame.rgba.length - u.y * u.width * 4), u.y * u.width * 4);
    return encodeGraphics(u.width, u.height, u.y, u.rgba);
  }

  /** Records console output; returns the message to send. */
  output(bytes: Uint8Array): Uint8Array {
    const b = Buffer.from(bytes);
    this.serial.push(b);
    this.serialBytes += b.length;
    while (this.serialBytes - this.serial[0].length >= SERIAL_BACKLOG) this.serialBytes -= this.serial.shift()!.length;
    return withKind(MSG_SERIAL, b);
  }

  /** Everything a newly opened page needs: the console so far, then the screen. */
  replay(): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (this.serialBytes > 0) out.push(withKind(MSG_SERIAL, Buffer.concat(this.serial)));
    const screen = this.currentScreen();
    if (screen) out.push(screen);
    return out;
  }

  currentScreen(): Uint8Array | undefined {
    if (this.text) return this.text;
    if (this.frame) return encodeGraphics(this.frame.width, this.frame.height, 0, this.frame.rgba);
    return undefined;
  }
}

function withKind(kind: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = kind;
  out.set(payload, 1);
  return out;
}

function encodeText(u: Extract<ScreenUpdate, { mode: "text" }>): Uint8Array {
  const n = u.cols * u.rows;
  const out = Buffer.alloc(10 + n * 7);
  out[0] = MSG_TEXT;
  out.writeUInt16LE(u.cols, 1);
  out.writeUInt16LE(u.rows, 3);
  out.writeUInt16LE(u.cursor.row, 5);
  out.writeUInt16LE(u.cursor.col, 7);
  out[9] = u.cursor.visible ? 1 : 0;
  out.set(u.chars.subarray(0, n), 10);
  for (let i = 0; i < n; i++) {
    writeRgb(out, 10 + n + i * 3, u.fg[i]);
    writeRgb(out, 10 + n * 4 + i * 3, u.bg[i]);
  }
  return out;
}

function writeRgb(out: Buffer, at: number, color: number): void {
  out[at] = (color >> 16) & 0xff;
  out[at + 1] = (color >> 8) & 0xff;
  out[at + 2] = color & 0xff;
}

function encodeGraphics(width: number, height: number, y: number, rgba: Uint8Array): Uint8Array {
  const out = Buffer.alloc(7 + rgba.length);
  out[0] = MSG_GRAPHICS;
  out.writeUInt16LE(width, 1);
  out.writeUInt16LE(height, 3);
  out.writeUInt16LE(y, 5);
  out.set(rgba, 7);
  return out;
}
