import type { GuestHost } from "../engine/engine-host";
import { startGuiServer } from "./gui-server";
import { openBrowser } from "./open-browser";
import { guiPage } from "./page";
import { parsePageInput } from "./page-input";
import { ScreenMirror } from "./screen-mirror";
import type { WebSocketConnection } from "./websocket";

/**
 * The browser window (`--gui`): the guest's VGA screen and serial console in a page on loopback,
 * keyboard and mouse back to the guest. Started once the guest runs, so the resume path is the
 * same with or without it; the terminal stays attached as well.
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

/** A page that cannot keep up is skipped, then sent the whole screen once it has drained. */
const MAX_BACKLOG = 8 * 1024 * 1024;

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
  const mirror = new ScreenMirror();
  if (opts.consoleTail) mirror.output(Buffer.from(opts.consoleTail, "latin1"));
  const clients = new Set<WebSocketConnection>();
  const stale = new WeakSet<WebSocketConnection>();

  host.on("serial", (bytes) => {
    const msg = mirror.output(bytes);
    for (const c of clients) c.sendBinary(msg);
  });
  host.on("screen", (update) => {
    const msg = mirror.screen(update);
    for (const c of clients) {
      if (c.backlog > MAX_BACKLOG) {
        stale.add(c);
        continue;
      }
      if (stale.has(c)) {
        stale.delete(c);
        const whole = mirror.currentScreen();
        // The mirror already holds this update.
        if (whole) c.sendBinary(whole);
        continue;
      }
      c.sendBinary(msg);
    }
  });

  const server = await startGuiServer({
    page: (nonce) => guiPage(opts.title, nonce),
    onClient: (client) => {
      clients.add(client);
      client.on("close", () => clients.delete(client));
      client.sendText(JSON.stringify({ t: "hello", title: opts.title }));
      for (const m of mirror.replay()) client.sendBinary(m);
      client.on("message", (data, text) => {
        const input = text ? parsePageInput(data) : undefined;
        if (!input) return;
        if (input.t === "serial") host.input(input.bytes);
        else if (input.t === "keys") host.keyboard(input.codes);
        else if (input.t === "mouse") host.mouse({ dx: input.dx, dy: input.dy, buttons: input.buttons, wheel: input.wheel });
        else opts.onSuspend();
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
      for (const c of clients) {
        c.sendText(JSON.stringify({ t: "bye", message }));
        c.close();
      }
      await server.close();
    },
  };
}
