/**
 * What the launcher and the page say to each other, shared by both sides (the page is bundled
 * from this file too, so it must stay free of Node imports). Binary messages to the page start
 * with one byte, the kind:
 *   1 text screen:  cols u16, rows u16, cursor row u16, col u16, visible u8, then per cell the
 *                   CP437 code, then fg RGB, then bg RGB (3 bytes each)
 *   2 console:      the guest's serial bytes
 *   3 graphics:     width u16, height u16, first row u16, then RGBA rows
 * (u16 little-endian.) Text messages to the page are JSON: `hello` once, `bye` at the end.
 */

export const MSG_TEXT = 1;
export const MSG_SERIAL = 2;
export const MSG_GRAPHICS = 3;

export type PageNotice = { t: "hello"; title: string } | { t: "bye"; message: string };

/**
 * What the page sends, as JSON text; the launcher checks each field (page-input.ts). `winsize` is
 * the console pane's terminal size, sent when the page connects and whenever it changes: the
 * guest's console follows it (the guest agent's `winsize` line, docs/guest-agent.md).
 */
export type PageRequest =
  | { t: "serial"; data: string }
  | { t: "winsize"; rows: number; cols: number }
  | { t: "keys"; codes: number[] }
  | { t: "mouse"; dx: number; dy: number; buttons?: boolean[]; wheel?: number }
  | { t: "suspend" };
