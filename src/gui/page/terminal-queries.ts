import type { Terminal } from "@xterm/xterm";

/**
 * The page's terminal does not answer the guest's terminal queries (device attributes, cursor
 * position and status reports, mode and setting requests, colour queries). The page is a second
 * view of the serial console, and the launcher's side already owns the answers: the user's own
 * terminal answers them, and with no terminal (scripted or desktop launches) the launcher lets
 * nobody answer, so that an answer never lands in a script's input (console-bridge.ts). A page
 * answering too would send every answer twice, or type `^[[14;13R` into a command a script
 * started. Busybox, ncurses and vim all work without answers (busybox asks after every prompt,
 * and does not wait).
 *
 * xterm.js calls the handlers registered last first; returning true ends the sequence there.
 */
export function leaveQueriesUnanswered(term: Terminal): void {
  const swallow = () => true;
  const p = term.parser;
  p.registerCsiHandler({ final: "c" }, swallow); // DA1
  p.registerCsiHandler({ prefix: ">", final: "c" }, swallow); // DA2
  p.registerCsiHandler({ final: "n" }, swallow); // DSR: status, cursor position
  p.registerCsiHandler({ prefix: "?", final: "n" }, swallow); // DECDSR
  p.registerCsiHandler({ intermediates: "$", final: "p" }, swallow); // DECRQM
  p.registerCsiHandler({ prefix: "?", intermediates: "$", final: "p" }, swallow); // DECRQM, private modes
  p.registerDcsHandler({ intermediates: "$", final: "q" }, swallow); // DECRQSS
  // Colour queries (`?` in place of a colour); setting a colour still works.
  for (const osc of [4, 10, 11, 12]) p.registerOscHandler(osc, (data) => data.includes("?"));
}
