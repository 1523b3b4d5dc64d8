import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { CLI, ROOT } from "../helpers/cli";

/**
 * `vmsfx run --gui` driven by a real headless Chromium: the page is refused without its token,
 * shows the real guest's VGA text screen, types into the serial console, sends PS/2 keys that
 * the guest's kernel receives, and follows the guest into a VGA graphics mode.
 */

const CHROMIUM = "/usr/bin/chromium";

function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    http.get({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  });
}

/** Status line of a WebSocket upgrade request (101 when accepted). */
function upgradeStatus(url: string, origin: string): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: `/ws${u.search}`,
      headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", Origin: origin },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("browser window (--gui)", () => {
  let work: string;
  let child: ChildProcessWithoutNullStreams;
  let stderr = "";
  let url: string;
  let context: BrowserContext;
  let page: Page;
  let exited: Promise<number | null>;

  const consoleText = () => page.locator("#console").textContent().then((t) => t ?? "");
  const screenText = () => page.locator("#screen-text").textContent().then((t) => t ?? "");
  /** Types a shell command into the console pane and waits for `expected` in it. */
  async function shell(command: string, expected: RegExp): Promise<string> {
    await page.locator("#console").click();
    await page.keyboard.type(command);
    await page.keyboard.press("Enter");
    await expect.poll(consoleText, { timeout: 20_000 }).toMatch(expected);
    return consoleText();
  }
  async function irq1Count(): Promise<number> {
    const marker = `irq-${Math.random().toString(36).slice(2, 8)}`;
    const text = await shell(`echo ${marker} $(grep ' 1:' /proc/interrupts)`, new RegExp(`\\n${marker} 1: +\\d+`));
    return Number(text.match(new RegExp(`\\n${marker} 1: +(\\d+)`))![1]);
  }

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), "vmsfx-gui-"));
    child = spawn(process.execPath, [CLI, "run", inject("bundlePath"), "--gui", "--json", "--no-browser", "--state-dir", path.join(work, "state")], { cwd: ROOT });
    exited = new Promise((resolve) => child.on("close", resolve));
    child.stdout.resume();
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no address printed; stderr: ${stderr}`)), 60_000);
      child.stderr.on("data", (d) => {
        stderr += d;
        const m = stderr.match(/vmsfx-gui (\{.*\})/);
        if (m) {
          clearTimeout(timer);
          resolve(JSON.parse(m[1]).url);
        }
      });
    });
    context = await chromium.launchPersistentContext(path.join(work, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close();
    if (child && child.exitCode === null) child.kill("SIGKILL");
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("serves only 127.0.0.1, only with the token, only to its own address and origin", async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?t=[\w-]{20,}$/);
    const u = new URL(url);
    expect(await status(url)).toBe(200);
    expect(await status(`${u.origin}/`)).toBe(403);
    expect(await status(`${u.origin}/?t=${u.searchParams.get("t")!.slice(1)}x`)).toBe(403);
    // DNS rebinding: a hostile name pointed at 127.0.0.1 carries its own Host header.
    expect(await status(url, { Host: `rebound.example:${u.port}` })).toBe(403);
    expect(await upgradeStatus(url, "http://evil.example")).toBe(403);
    expect(await upgradeStatus(url, u.origin)).toBe(101);
    const bare = await page.goto(`${u.origin}/`);
    expect(bare?.status()).toBe(403);
  });

  it("shows the guest's VGA text screen", async () => {
    await page.goto(url);
    // The sample's VGA holds what SeaBIOS printed before Linux took the serial console.
    await expect.poll(screenText, { timeout: 20_000 }).toContain("SeaBIOS");
    expect(await page.locator("#screen").getAttribute("data-mode")).toBe("text");
    // The canvas really has the text drawn: light-grey glyph pixels on black in the first rows.
    const lit = await page.evaluate(() => {
      const c = document.getElementById("screen") as HTMLCanvasElement;
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, 32).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 300) n++;
      return n;
    });
    expect(lit).toBeGreaterThan(100);
  });

  it("types into the serial console", async () => {
    await shell("echo gui-$((6*7))", /\ngui-42/);
  });

  it("sends keys pressed on the screen to the guest's PS/2 keyboard", async () => {
    // Something must hold the first virtual terminal open for the kernel to echo keys onto the
    // VGA console and hand the line to a reader.
    await shell("cat /dev/tty1 > /tmp/typed & echo reader-started", /\nreader-started/);
    const before = await irq1Count();
    await page.locator("#screen").click();
    await page.keyboard.type("ps2ok");
    await page.keyboard.press("Enter");
    // The kernel's keyboard driver turned the scancodes into characters on tty1, echoed on the
    // VGA text screen ...
    await expect.poll(screenText, { timeout: 20_000 }).toMatch(/^ps2ok$/m);
    // ... and as a line to the reader; every press and release was an i8042 interrupt.
    await shell("echo got-$(cat /tmp/typed)", /\ngot-ps2ok/);
    expect(await irq1Count()).toBeGreaterThanOrEqual(before + 12);
  });

  it("follows the guest into a VGA graphics mode", async () => {
    // Attribute controller, mode control register (index 0x10): bit 0 selects graphics.
    // Reading 0x3da resets its index/data flip-flop; /dev/port writes single I/O bytes.
    await shell(
      "dd if=/dev/port bs=1 skip=986 count=1 of=/dev/null 2>/dev/null; printf '\\060' | dd of=/dev/port bs=1 seek=960 count=1 conv=notrunc 2>/dev/null; printf '\\101' | dd of=/dev/port bs=1 seek=960 count=1 conv=notrunc 2>/dev/null; echo mode-switched",
      /\nmode-switched/,
    );
    await expect.poll(() => page.locator("#screen").getAttribute("data-mode"), { timeout: 20_000 }).toBe("graphical");
    const shown = await page.evaluate(() => {
      const c = document.getElementById("screen") as HTMLCanvasElement;
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let lit = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] | d[i + 1] | d[i + 2]) lit++;
      return { width: c.width, height: c.height, lit };
    });
    // v86 now renders the text-mode memory as 256-colour pixels at the size the CRTC gives:
    // not a pretty picture, but the framebuffer, pixel for pixel, in the page.
    expect(shown.width).toBe(320);
    expect(shown.lit).toBeGreaterThan(100);
    expect(await screenText()).toBe("");
  });

  it("suspends the guest from the page", async () => {
    await page.locator("#suspend").click();
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/suspended; run it again/);
    await expect.poll(() => page.locator("#status").textContent()).toMatch(/suspended/);
  });
});
