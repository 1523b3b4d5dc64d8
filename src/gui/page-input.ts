/**
 * What the page may ask of the guest, checked field by field: the page is ours, but its messages
 * cross a socket, and nothing from it reaches the emulator unchecked.
 */

export type PageInput =
  | { t: "serial"; bytes: Uint8Array }
  | { t: "keys"; codes: number[] }
  | { t: "mouse"; dx: number; dy: number; buttons?: [boolean, boolean, boolean]; wheel?: number }
  | { t: "suspend" };

const MAX_TEXT = 64 * 1024;
const MAX_CODES = 64;
const MAX_DELTA = 4096;

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
