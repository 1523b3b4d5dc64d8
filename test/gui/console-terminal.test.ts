import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import type { Terminal } from "@xterm/xterm";
import type { WebSocket } from "ws";
import { bundlePageScript } from "../../build-scripts/page-bundle.mjs";
import { startGuiServer, type GuiServer } from "../../src/gui/gui-server";
import { guiPage } from "../../src/gui/page";
import { MSG_SERIAL, type PageRequest } from "../../src/gui/page-protocol";

/**
 * The page's console pane in a real headless Chromium, against the page's own server (no guest):
 * console output is rendered by a terminal emulator (escape sequences included), under the page's
 * Content-Security-Policy; typing reaches the serial line; the pane's size is sent on connect and
 * whenever the window is resized. The e2e test (test/integration/gui.e2e.test.ts) does the same
 * against a real guest.
 */

/** Debian's chromium; build-scripts/host-tools.sh installs it for the e2e tier. */
function findChromium(): string | undefined {
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const CHROMIUM = findChromium();
/** The page exposes its console's terminal for tests (console-pane.ts). */
type TestWindow = { vmsfxConsole: Terminal; violations: string[] };
if (!CHROMIUM) process.stderr.write("vmsfx tests: chromium is not installed, so the console pane's browser tests are skipped; to run them: apt-get install chromium\n");

describe.skipIf(!CHROMIUM)("the console pane's terminal (headless Chromium)", () => {
  let server: GuiServer;
  let browser: Browser;
  let page: Page;
  let client: WebSocket | undefined;
  const requests: PageRequest[] = [];
  const winsizes = () => requests.filter((r): r is Extract<PageRequest, { t: "winsize" }> => r.t === "winsize");
  const serialOut = (text: string) => client!.send(Buffer.concat([Buffer.from([MSG_SERIAL]), Buffer.from(text)]));
  const termSize = () => page.evaluate(() => {
      const term = (window as unknown as TestWindow).vmsfxConsole;
      return { rows: term.rows, cols: term.cols };
    });

  beforeAll(async () => {
    const script = await bundlePageScript();
    server = await startGuiServer({
      page: (nonce) => guiPage("terminal test", nonce, script),
      onClient: (ws) => {
        client = ws;
        ws.on("message", (data) => requests.push(JSON.parse(String(data)) as PageRequest));
      },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
    page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    // Anything the page's policy refused (xterm's own <style> elements, its style attributes).
    await page.addInitScript(() => {
      const w = window as unknown as TestWindow;
      w.violations = [];
      document.addEventListener("securitypolicyviolation", (e) => w.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    await page.goto(server.url);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("sends the terminal's size, fitted to the pane, when it connects", async () => {
    await expect.poll(() => client !== undefined && winsizes().length > 0).toBe(true);
    const size = await termSize();
    expect(winsizes()[0]).toEqual({ t: "winsize", ...size });
    // A 1000x800 window leaves the pane far more than the 2x1 of a terminal that was not fitted.
    expect(size.cols).toBeGreaterThan(60);
    expect(size.rows).toBeGreaterThan(5);
  });

  it("renders escape sequences: cursor position, clear screen, bold, 24-bit colour", async () => {
    serialOut("some earlier output\r\n\x1b[2J\x1b[5;10HHELLO\x1b[1mBOLD\x1b[0m \x1b[38;2;255;0;0mRED\x1b[0m");
    const row5 = () =>
      page.evaluate(() => {
        const b = (window as unknown as TestWindow).vmsfxConsole.buffer.active;
        const line = b.getLine(b.baseY + 4)!;
        return { text: line.translateToString(true), boldH: line.getCell(9)!.isBold() !== 0, boldB: line.getCell(14)!.isBold() !== 0 };
      });
    await expect.poll(row5).toEqual({ text: "         HELLOBOLD RED", boldH: false, boldB: true });
    // Drawn under the page's policy: the renderer's cells carry the colours and weights.
    const red = page.locator("#console .xterm-rows span", { hasText: "RED" });
    await expect.poll(() => red.evaluate((el) => getComputedStyle(el).color)).toBe("rgb(255, 0, 0)");
    await expect.poll(() => page.locator("#console .xterm-rows span.xterm-bold", { hasText: "BOLD" }).count()).toBe(1);
    expect(await page.evaluate(() => (window as unknown as TestWindow).violations)).toEqual([]);
    // The pane's text copy (for screen readers, copying and tests) has the same lines.
    await expect.poll(() => page.locator("#console").textContent()).toMatch(/^ {9}HELLOBOLD RED$/m);
  });

  it("sends what is typed in it to the serial line", async () => {
    const before = requests.length;
    await page.locator("#console").click();
    await page.keyboard.type("ls -l");
    await page.keyboard.press("Enter");
    await page.keyboard.press("ArrowUp");
    const typed = () => requests.slice(before).flatMap((r) => (r.t === "serial" ? [r.data] : [])).join("");
    await expect.poll(typed).toBe("ls -l\r\x1b[A");
  });

  it("leaves the guest's terminal queries to the launcher's side: no answer is typed", async () => {
    const before = requests.length;
    serialOut("\x1b[6n\x1b[c\x1b[>c\x1b[5n\x1b[?6n\x1b[?25$p\x1bP$qm\x1b\\\x1b]11;?\x07\x1b]11;#102030\x07queries-done");
    const cursorLine = () =>
      page.evaluate(() => {
        const b = (window as unknown as TestWindow).vmsfxConsole.buffer.active;
        return b.getLine(b.baseY + b.cursorY)!.translateToString(true);
      });
    await expect.poll(cursorLine).toContain("queries-done");
    expect(requests.slice(before)).toEqual([]);
    // Setting a colour is not a query: the terminal's background did change.
    const backgrounds = () => page.locator("#console .xterm").evaluate((el) => [...el.querySelectorAll("*")].map((e) => getComputedStyle(e).backgroundColor));
    await expect.poll(backgrounds).toContain("rgb(16, 32, 48)");
  });

  it("follows the window: a resize refits the terminal and sends the new size", async () => {
    const before = await termSize();
    await page.setViewportSize({ width: 700, height: 560 });
    await expect.poll(termSize).not.toEqual(before);
    const after = await termSize();
    expect(after.cols).toBeLessThan(before.cols);
    expect(after.rows).toBeLessThan(before.rows);
    await expect.poll(() => winsizes().at(-1)).toEqual({ t: "winsize", ...after });
  });
});
