import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { CLI, vmsfx } from "../helpers/cli";
import { DEADLINE } from "../helpers/deadlines";
import { launchWithGui } from "../helpers/gui-launch";
import { hostTool } from "../helpers/host-tools";

/**
 * `vmsfx run --gui` driven by a real headless Chromium: the page is refused without its token,
 * shows the real guest's VGA text screen, types into the serial console, sends PS/2 keys and
 * mouse packets that the guest's kernel receives, and follows the guest into VGA mode 13h.
 */

/** Debian's chromium, provided by the global setup (the browser tests are skipped without it). */
const CHROMIUM = hostTool("chromium");
/** A shell function for the guest: `o PORT VALUE` writes one byte to an I/O port. */
const PORT_WRITER = `o() { printf "\\\\$(printf %o $2)" | dd of=/dev/port bs=1 seek=$1 count=1 conv=notrunc 2>/dev/null; }`;

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


function launchChromium(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

describe.skipIf(!CHROMIUM)("browser window (--gui)", () => {
  let work: string;
  let child: ChildProcessWithoutNullStreams;
  let stderr: () => string;
  let url: string;
  let context: BrowserContext;
  let page: Page;
  let exited: Promise<number | null>;

  const consoleText = () => page.locator("#console").textContent().then((t) => t ?? "");
  const screenText = () => page.locator("#screen-text").textContent().then((t) => t ?? "");
  /**
   * Types a shell command into the console pane and waits for `expected` in it. Expected output
   * is computed by the guest (`$((2*3))`), so the echoed command line can never match it.
   */
  async function shell(command: string, expected: RegExp): Promise<string> {
    await page.locator("#console").click();
    await page.keyboard.type(command);
    await page.keyboard.press("Enter");
    await expect.poll(consoleText, { timeout: DEADLINE.page }).toMatch(expected);
    return consoleText();
  }
  async function irqCount(irq: number): Promise<number> {
    const marker = `irq-${Math.random().toString(36).slice(2, 8)}`;
    const text = await shell(`echo ${marker} $(grep ' ${irq}:' /proc/interrupts)`, new RegExp(`\\n${marker} ${irq}: +\\d+`));
    return Number(text.match(new RegExp(`\\n${marker} ${irq}: +(\\d+)`))![1]);
  }

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), "vmsfx-gui-"));
    ({ child, url, exited, stderr } = await launchWithGui(process.execPath, [CLI, "run", inject("bundlePath"), "--gui", "--json", "--no-browser", "--state-dir", path.join(work, "state")]));
    context = await launchChromium(path.join(work, "profile"));
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
    await expect.poll(screenText, { timeout: DEADLINE.page }).toContain("SeaBIOS");
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
    await shell("cat /dev/tty1 > /tmp/typed & echo reader-$((2*3))", /\nreader-6/);
    const before = await irqCount(1);
    await page.locator("#screen").click();
    await page.keyboard.type("ps2ok");
    await page.keyboard.press("Enter");
    // The kernel's keyboard driver turned the scancodes into characters on tty1, echoed on the
    // VGA text screen ...
    await expect.poll(screenText, { timeout: DEADLINE.page }).toMatch(/^ps2ok$/m);
    // ... and as a line to the reader; every press and release was an i8042 interrupt.
    await shell("echo got-$(cat /tmp/typed)", /\ngot-ps2ok/);
    expect(await irqCount(1)).toBeGreaterThanOrEqual(before + 12);
  });

  it("sends the mouse over the screen to the guest's PS/2 mouse", async () => {
    // The sample has no mouse driver (psmouse is a module it does not load), so the test turns
    // the mouse's reporting on itself, as psmouse would: 0xD4 to port 0x64 (next byte for the
    // mouse), 0xF4 to port 0x60 (enable). From then on every packet is an IRQ 12.
    child.stdin.write(`${PORT_WRITER}\no 100 212; o 96 244; sleep 1; echo aux-$((1+1))\n`);
    await expect.poll(consoleText, { timeout: DEADLINE.page }).toMatch(/\naux-2/);
    const before = await irqCount(12);
    const box = (await page.locator("#screen").boundingBox())!;
    await page.mouse.move(box.x + 20, box.y + 20);
    for (let i = 1; i <= 10; i++) await page.mouse.move(box.x + 20 + i * 15, box.y + 20 + i * 5);
    await page.mouse.down();
    await page.mouse.up();
    // Each packet is three bytes, each byte an interrupt: the moves and a click are well over 9.
    await expect.poll(() => irqCount(12), { timeout: DEADLINE.page }).toBeGreaterThanOrEqual(before + 9);
  });

  it("follows the guest into VGA mode 13h and shows its framebuffer", async () => {
    // The guest programs the VGA for 320x200 in 256 colours through /dev/port (the registers of
    // BIOS mode 13h), sets palette entries 200 (red) and 201 (green) and fills the top half of
    // the framebuffer with 200 and the bottom half with 201 through /dev/mem. The script goes in
    // on the terminal side (stdin), as a user's typing would.
    const script = [
      PORT_WRITER,
      `ox() { p=$1; i=$2; shift 2; for v in "$@"; do o $p $i; o $((p+1)) $v; i=$((i+1)); done; }`,
      `o 962 99; ox 964 0 3 1 15 0 14; ox 980 17 14; ox 980 0 95 79 80 130 84 128 191 31 0 65 0 0 0 0 0 0 156 14 143 40 64 150 185 163 255`,
      `ox 974 0 0 0 0 0 0 64 5 15 255`,
      `dd if=/dev/port bs=1 skip=986 count=1 of=/dev/null 2>/dev/null; i=0; for v in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 65 0 15 0 0; do o 960 $i; o 960 $v; i=$((i+1)); done; o 960 32`,
      `o 968 200; for v in 63 0 0 0 63 0; do o 969 $v; done`,
      `dd if=/dev/zero bs=32000 count=1 2>/dev/null | tr '\\000' '\\310' > /tmp/top; tr '\\310' '\\311' < /tmp/top > /tmp/bottom`,
      `cat /tmp/top /tmp/bottom | dd of=/dev/mem bs=320 seek=2048 conv=notrunc 2>/dev/null; echo mode13-$((6+7))`,
    ];
    child.stdin.write(script.join("\n") + "\n");
    await expect.poll(consoleText, { timeout: DEADLINE.page }).toMatch(/\nmode13-13/);
    await expect.poll(() => page.locator("#screen").getAttribute("data-mode"), { timeout: DEADLINE.page }).toBe("graphical");
    const pixels = () =>
      page.evaluate(() => {
        const c = document.getElementById("screen") as HTMLCanvasElement;
        const g = c.getContext("2d")!;
        const at = (x: number, y: number) => Array.from(g.getImageData(x, y, 1, 1).data).join(",");
        return { size: `${c.width}x${c.height}`, top: at(10, 10), topEdge: at(319, 99), bottomEdge: at(0, 100), bottom: at(300, 190) };
      });
    await expect.poll(pixels, { timeout: DEADLINE.page }).toEqual({ size: "320x200", top: "255,0,0,255", topEdge: "255,0,0,255", bottomEdge: "0,255,0,255", bottom: "0,255,0,255" });
    expect(await screenText()).toBe("");
  });

  it("suspends the guest from the page", async () => {
    await page.locator("#suspend").click();
    expect(await exited).toBe(0);
    expect(stderr()).toMatch(/suspended; run it again/);
    await expect.poll(() => page.locator("#status").textContent()).toMatch(/suspended/);
  });
});

describe.skipIf(!CHROMIUM)("browser window in the one-file executable (./app --gui)", () => {
  it("carries the page: the screen and the console work from the executable alone", async () => {
    const work = mkdtempSync(path.join(os.tmpdir(), "vmsfx-gui-exe-"));
    let context: BrowserContext | undefined;
    let app: Awaited<ReturnType<typeof launchWithGui>> | undefined;
    try {
      const exe = path.join(work, "app");
      const made = await vmsfx(["exe", inject("bundlePath"), "-o", exe, "--quiet"], { timeoutMs: DEADLINE.launch });
      expect(made.code, made.stderr).toBe(0);
      // From an empty folder, with nothing on PATH: no node_modules, no dist/, no page file.
      app = await launchWithGui(exe, ["--gui", "--json", "--no-browser"], work, { PATH: "/nonexistent", HOME: work });
      context = await launchChromium(path.join(work, "profile"));
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(app.url);
      await expect.poll(() => page.locator("#screen-text").textContent(), { timeout: DEADLINE.page }).toContain("SeaBIOS");
      await page.locator("#console").click();
      await page.keyboard.type("echo exe-$((6*7))");
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("#console").textContent(), { timeout: DEADLINE.page }).toMatch(/\nexe-42/);
      await page.locator("#suspend").click();
      expect(await app.exited).toBe(0);
    } finally {
      await context?.close();
      if (app && app.child.exitCode === null) app.child.kill("SIGKILL");
      rmSync(work, { recursive: true, force: true });
    }
  });
});
