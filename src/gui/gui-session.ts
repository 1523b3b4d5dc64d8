import type { GuestHost } from "../engine/engine-host";
import { startGuiServer } from "./gui-server";
import { openBrowser } from "./open-browser";
import { guiPage } from "./page";
import { pageScript } from "./page-asset";
import { deliverPageInput, parsePageInput, winsizeLine } from "./page-input";
import { PageLink } from "./page-link";
import { MSG_SERIAL } from "./page-protocol";
import { ScreenMirror } from "./screen-mirror";
import { SizeRepeat } from "./size-repeat";

/**
 * The browser window (`--gui`): the guest's VGA screen and serial console in a page on loopback,
 * keyboard and mouse back to the guest. Started once the guest runs, so the resume path is the
 * same with or without it; the terminal stays attached as well. The page's console is a terminal
 * emulator whose size the guest's console follows while a page is open.
 */

export interface GuiOptions {
  /** Try to open the user's browser (the launcher only does so when stdout is a terminal). */
  open: boolean;
  /** Print the address as a `vmsfx-gui {"url": ...}` line for scripts instead of a sentence. */
  json?: boolean;
}

export interface GuiSession {
  readonly url: string;
  /** Tells open pages why the guest is gone and stops serving. */
  close(message: string): Promise<void>;
}

export interface GuiStart extends GuiOptions {
  title: string;
  /** What the console showed when the guest was saved (the terminal got it redrawn; so does the page). */
  consoleTail?: string;
  /** The page's "Suspend and quit". */
  onSuspend: () => void;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export async function startGui(host: GuestHost, opts: GuiStart): Promise<GuiSession> {
  const script = pageScript();
  const mirror = new ScreenMirror();
  if (opts.consoleTail) mirror.output(Buffer.from(opts.consoleTail, "latin1"));
  const links = new Set<PageLink>();
  let closing = false;
  // A page's first size may reach the app while it starts, and be lost (size-repeat.ts).
  const repeat = new SizeRepeat((rows, cols) => {
    if (!closing && links.size > 0) host.agentInput(winsizeLine(rows, cols));
  });
  const terminalResized = () => repeat.cancel();
  opts.stdout.on("resize", terminalResized);

  host.on("serial", (bytes) => {
    repeat.output();
    const msg = mirror.output(bytes);
    for (const link of links) link.serial(msg);
  });
  host.on("screen", (update) => {
    const msg = mirror.screen(update);
    for (const link of links) link.screen(msg);
  });

  const server = await startGuiServer({
    page: (nonce) => guiPage(opts.title, nonce, script),
    onClient: (ws) => {
      const link = new PageLink(ws, () => mirror.currentScreen());
      links.add(link);
      let sized = false;
      ws.on("close", () => {
        links.delete(link);
        if (links.size === 0) repeat.cancel();
        // The last page that sized the guest's console is gone: the terminal's size is back (the
        // launcher only gives a terminal's size), unless the session is ending anyway.
        const { isTTY, rows, columns } = opts.stdout;
        if (sized && links.size === 0 && !closing && isTTY && rows && columns) host.agentInput(winsizeLine(rows, columns));
      });
      link.notice({ t: "hello", title: opts.title });
      for (const m of mirror.replay()) {
        if (m[0] === MSG_SERIAL) link.serial(m);
        else link.screen(m);
      }
      ws.on("message", (data, isBinary) => {
        const input = !isBinary && Buffer.isBuffer(data) ? parsePageInput(data) : undefined;
        if (!input) return;
        if (input.t === "winsize") {
          repeat.sized(input.rows, input.cols, !sized);
          sized = true;
        }
        deliverPageInput(input, host, opts.onSuspend);
      });
    },
  });
  host.watchScreen();
  // The terminal may be raw (every key goes to the guest), hence \r\n.
  if (opts.json) opts.stderr.write(`vmsfx-gui ${JSON.stringify({ url: server.url })}\n`);
  else opts.stderr.write(`vmsfx: the guest's screen and console are at ${server.url}\r\n`);
  if (opts.open && opts.stdout.isTTY) openBrowser(server.url);

  return {
    url: server.url,
    async close(message: string) {
      closing = true;
      repeat.cancel();
      opts.stdout.off("resize", terminalResized);
      for (const link of links) {
        link.notice({ t: "bye", message });
        link.close();
      }
      await server.close();
    },
  };
}
