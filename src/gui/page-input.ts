import type { GuestHost } from "../engine/engine-host";

/**
 * What the page may ask of the guest, checked field by field: the page is ours, but its messages
 * cross a socket, and nothing from it reaches the emulator unchecked. A message that is not
 * exactly what the page sends is dropped (undefined), never an error: the session goes on.
 */

export type PageInput =
  | { t: "serial"; bytes: Uint8Array }
  | { t: "winsize"; rows: number; cols: number }
  | { t: "keys"; codes: number[] }
  | { t: "mouse"; dx: number; dy: number; buttons?: [boolean, boolean, boolean]; wheel?: number }
  | { t: "suspend" };

const MAX_TEXT = 64 * 1024;
const MAX_CODES = 64;
const MAX_DELTA = 4096;
/**
 * A terminal size the guest's console may be given. The kernel takes up to 65535, but no pane is
 * that large: a 4K screen in a 5-pixel font is under 800 columns and 250 rows.
 */
export const MAX_WINSIZE = 1000;

export function parsePageInput(data: Buffer): PageInput | undefined {
  let m: unknown;
  try {
    m = JSON.parse(data.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof m !== "object" || m === null) return undefined;
  const o = m as Record<string, unknown>;
  switch (o.t) {
    case "serial":
      return typeof o.data === "string" && o.data.length > 0 && o.data.length <= MAX_TEXT ? { t: "serial", bytes: new Uint8Array(Buffer.from(o.data, "utf8")) } : undefined;
    case "winsize": {
      const ok = (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_WINSIZE;
      return ok(o.rows) && ok(o.cols) ? { t: "winsize", rows: o.rows as number, cols: o.cols as number } : undefined;
    }
    case "keys":
      return Array.isArray(o.codes) && o.codes.length > 0 && o.codes.length <= MAX_CODES && o.codes.every((c) => Number.isInteger(c) && c >= 0 && c <= 255) ? { t: "keys", codes: o.codes as number[] } : undefined;
    case "mouse": {
      const delta = (v: unknown) => (v === undefined ? 0 : typeof v === "number" && Number.isFinite(v) ? Math.max(-MAX_DELTA, Math.min(MAX_DELTA, Math.round(v))) : NaN);
      const dx = delta(o.dx);
      const dy = delta(o.dy);
      if (Number.isNaN(dx) || Number.isNaN(dy)) return undefined;
      const out: PageInput = { t: "mouse", dx, dy };
      if (o.buttons !== undefined) {
        if (!Array.isArray(o.buttons) || o.buttons.length !== 3 || !o.buttons.every((b) => typeof b === "boolean")) return undefined;
        out.buttons = o.buttons as [boolean, boolean, boolean];
      }
      if (o.wheel !== undefined) {
        const w = delta(o.wheel);
        if (Number.isNaN(w)) return undefined;
        out.wheel = Math.sign(w);
      }
      return out;
    }
    case "suspend":
      return { t: "suspend" };
    default:
      return undefined;
  }
}

/** What of the guest a page's input reaches. */
export type PageTarget = Pick<GuestHost, "input" | "keyboard" | "mouse" | "agentInput">;

/** Hands one checked message to the guest (or, for `suspend`, to the launcher). */
export function deliverPageInput(input: PageInput, guest: PageTarget, onSuspend: () => void): void {
  if (input.t === "serial") guest.input(input.bytes);
  else if (input.t === "winsize") guest.agentInput(winsizeLine(input.rows, input.cols));
  else if (input.t === "keys") guest.keyboard(input.codes);
  else if (input.t === "mouse") guest.mouse({ dx: input.dx, dy: input.dy, buttons: input.buttons, wheel: input.wheel });
  else onSuspend();
}

/**
 * The guest agent's `winsize` line (docs/guest-agent.md), the one the launcher sends for the
 * user's terminal. It goes straight to the agent's port, like the launcher's own lines: whichever
 * of the terminal and the page was resized last sets the guest console's size.
 */
export function winsizeLine(rows: number, cols: number): Uint8Array {
  return Buffer.from(`winsize ${rows} ${cols}\n`);
}
