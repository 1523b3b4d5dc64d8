import type { PortForward } from "../engine/engine-protocol";
import { openBrowser } from "../gui/open-browser";
import { urlOf } from "./port-forwards";

/**
 * A web app's page (its spec's `open`): once the guest accepts connections on the page's port,
 * the launcher prints the address, gives scripts a `vmsfx-open {"url": ...}` line (`--json`), and
 * opens the user's browser (on a terminal, unless `--no-browser`). The app keeps running until
 * the user quits or suspends it, as any other.
 */

export interface WebAppOptions {
  name: string;
  open: { guestPort: number; path: string };
  bound: readonly PortForward[];
  browser: boolean;
  json: boolean;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /** Whether the guest accepts connections on a port now. */
  probe(port: number): Promise<boolean>;
  /** Opens the URL in the user's browser (tests replace it). */
  openUrl?: (url: string) => void;
}

const PROBE_EVERY_MS = 100;
/** After this, the user is told the page is slow to come up (the wait goes on). */
const SLOW_MS = 30_000;

/** Waits for the page's port, then announces it; stop() ends the wait (the session ended first). */
export function announceWebApp(o: WebAppOptions): { stop(): void; announced: Promise<string | undefined> } {
  let stopped = false;
  const url = urlOf(o.bound, o.open.guestPort, o.open.path);
  const announced = (async () => {
    if (!url) return undefined;
    const started = Date.now();
    let warned = false;
    while (!stopped && !(await o.probe(o.open.guestPort).catch(() => false))) {
      if (!warned && Date.now() - started > SLOW_MS) {
        warned = true;
        o.stderr.write(`\r\nvmsfx: ${o.name} has not opened its page on guest port ${o.open.guestPort} yet; still waiting (its console shows why).\r\n`);
      }
      await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
    }
    if (stopped) return undefined;
    if (o.json) o.stderr.write(`vmsfx-open ${JSON.stringify({ url })}\n`);
    else o.stderr.write(`\r\nvmsfx: ${o.name} is open at ${url} (Ctrl-] then q suspends it)\r\n`);
    if (o.browser && o.stdout.isTTY) (o.openUrl ?? openBrowser)(url);
    return url;
  })();
  return {
    stop: () => void (stopped = true),
    announced,
  };
}
