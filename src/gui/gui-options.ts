import type { GuiOptions } from "./gui-session";

/** The browser window's options, the same on `vmsfx run` and on the executable itself. */
export const GUI_OPTIONS = {
  gui: { type: "boolean", default: false, describe: "also show the guest's screen and console in your browser (a private page on 127.0.0.1)" },
  browser: { type: "boolean", default: true, describe: "with --gui, or a web app: open its page in your browser when run on a terminal (--no-browser: only print its address)" },
} as const;

export function guiFrom(a: { gui?: boolean; browser?: boolean; json?: boolean }): GuiOptions | undefined {
  return a.gui ? { open: a.browser !== false, json: a.json === true } : undefined;
}
