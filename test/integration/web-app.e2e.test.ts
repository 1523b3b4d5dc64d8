import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { CLI, ROOT, vmsfx } from "../helpers/cli";
import { builtApp, resumeKind, type BuiltApp } from "../helpers/app-sample";
import { hostTool } from "../helpers/host-tools";
import { DEADLINE } from "../helpers/deadlines";

/**
 * Issue 15: a web app's guest port served on the host. The notes sample (busybox httpd and a CGI
 * script, built with `vmsfx build`) is launched with `--publish 0:80` (any free port, so test
 * files never collide) and reached through the forward: its page, a form post kept on the data
 * disk, parallel connections, large transfers both ways, half-close, reset, a refused port, a
 * flood, a port in use. VMSFX_TRANSFER_MIB sets the large transfers' size (4 here, 50 in
 * `npm run load`).
 */

const TRANSFER = Number(process.env.VMSFX_TRANSFER_MIB || 4) << 20;
const CHROMIUM = hostTool("chromium");
const LINE = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n";

/** What /cgi-bin/bytes?N sends: the line `yes` repeats, cut at N bytes. */
function pattern(n: number): Buffer {
  return Buffer.from(LINE.repeat(Math.ceil(n / LINE.length))).subarray(0, n);
}

interface Launch {
  url: string;
  origin: string;
  child: ChildProcessWithoutNullStreams;
  stderr(): string;
  /** Ends the launch with SIGTERM (a suspend; exit 130, as for any signal) and resolves with its exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Starts the app with stdin held open (so it runs until told), and waits for its page's address. */
function launch(bundle: string, args: string[] = ["--publish", "0:80"]): Promise<Launch> {
  const child = spawn(process.execPath, [CLI, "run", bundle, "--json", "--no-browser", ...args], { cwd: ROOT, env: { ...process.env, VMSFX_TRACE_STOP: "1" } });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  child.stdout.resume();
  const exited = new Promise<number | null>((r) => child.on("close", r));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no vmsfx-open line\n${err}`));
    }, DEADLINE.launch);
    const onData = () => {
      const m = /vmsfx-open (\{.*\})\n/.exec(err);
      if (!m) return;
      clearTimeout(timer);
      child.stderr.off("data", onData);
      const url = (JSON.parse(m[1]) as { url: string }).url;
      resolve({
        url,
        origin: new URL(url).origin,
        child,
        stderr: () => err,
        exited,
        stop: () => {
          child.kill("SIGTERM");
          return exited;
        },
      });
    };
    child.stderr.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the app exited (${code}) before its page opened\n${err}`));
    });
  });
}

/** One HTTP exchange on a raw socket; `halfClose` ends our side once the request is written. */
function exchange(origin: string, request: Buffer, halfClose = false): Promise<Buffer> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host: hostname, port: Number(port) }, () => {
      s.write(request);
      if (halfClose) s.end();
    });
    s.on("data", (d) => chunks.push(d));
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
  });
}

function body(response: Buffer): Buffer {
  return response.subarray(response.indexOf("\r\n\r\n") + 4);
}

describe("a web app: its guest port on the host (issue 15)", () => {
  let app: BuiltApp;
  let running: Launch;
  beforeAll(async () => {
    app = builtApp("notes");
    running = await launch(app.bundle);
  });
  afterAll(async () => {
    // Bounded: a suspend that hangs must fail this file, not hold the suite for the hook's 20 min.
    const stopped = await Promise.race([running?.stop(), new Promise((r) => setTimeout(() => r("hung"), DEADLINE.launch))]);
    if (stopped === "hung") running.child.kill("SIGKILL");
    expect(stopped, running?.stderr()).not.toBe("hung");
    rmSync(path.dirname(app.bundle), { recursive: true, force: true });
  });

  it("prints the page's address on 127.0.0.1 as a JSON line, and the page answers through the forward", async () => {
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/cgi-bin\/notes$/);
    const r = await fetch(running.url);
    expect(r.status).toBe(200);
    expect(await r.text()).toContain("<h1>Notes</h1>");
  });

  it("many connections at once each get their own bytes", async () => {
    const sizes = Array.from({ length: 12 }, (_, i) => 1000 + i * 7919);
    const got = await Promise.all(sizes.map((n) => fetch(`${running.origin}/cgi-bin/bytes?${n}`).then((r) => r.arrayBuffer())));
    got.forEach((b, i) => expect(Buffer.from(b).equals(pattern(sizes[i])), `connection ${i}`).toBe(true));
  });

  it(`a ${TRANSFER >> 20} MiB download and upload, checked byte for byte; the client's half-close reaches the guest`, async () => {
    const down = Buffer.from(await (await fetch(`${running.origin}/cgi-bin/bytes?${TRANSFER}`)).arrayBuffer());
    expect(down.length).toBe(TRANSFER);
    expect(down.equals(pattern(TRANSFER))).toBe(true);
    const up = randomBytes(TRANSFER);
    const head = Buffer.from(`POST /cgi-bin/bytes HTTP/1.0\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${up.length}\r\n\r\n`);
    // The request ends with our FIN; the answer still comes back on the half-open connection.
    const answer = await exchange(running.origin, Buffer.concat([head, up]), true);
    expect(body(answer).toString().trim()).toBe(createHash("sha256").update(up).digest("hex"));
  });

  it("a client that resets mid-download leaves the forward working", async () => {
    const { hostname, port } = new URL(running.origin);
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: hostname, port: Number(port) }, () => s.write(`GET /cgi-bin/bytes?${8 << 20} HTTP/1.0\r\n\r\n`));
      s.once("data", () => {
        s.resetAndDestroy();
        resolve();
      });
      s.on("error", reject);
    });
    const r = await fetch(`${running.origin}/cgi-bin/bytes?5000`);
    expect(Buffer.from(await r.arrayBuffer()).equals(pattern(5000))).toBe(true);
  });

  it("a flood of connections is bounded: none crashes the launcher, and the app answers after it", async () => {
    const { hostname, port } = new URL(running.origin);
    const sockets = await Promise.all(
      Array.from({ length: 300 }, () => new Promise<net.Socket>((resolve) => {
        const s = net.connect({ host: hostname, port: Number(port) });
        s.on("error", () => undefined);
        s.once("connect", () => resolve(s));
        s.once("close", () => resolve(s));
      })),
    );
    for (const s of sockets) s.destroy();
    expect(running.child.exitCode).toBeNull();
    // Past the bound (128 connections a port) the launcher refuses at once, and the guest still
    // works through the abandoned ones (busybox httpd forks for each). Its accept queue (9)
    // overflows, so it drops segments: regression, they are sent again (guest-tcp-recovery.ts);
    // v86 never did, and connections hung for good (CI: no answer in 120 s). The app answers
    // again once they are gone, as a browser retrying would see.
    let status = 0;
    let last = "";
    const until = Date.now() + DEADLINE.page;
    while (status !== 200 && Date.now() < until) {
      status = await fetch(running.url, { signal: AbortSignal.timeout(DEADLINE.page / 2) }).then(
        (r) => r.status,
        (e: Error) => ((last = String((e.cause as Error | undefined)?.message ?? e.message)), 0),
      );
      if (status !== 200) await new Promise((r) => setTimeout(r, 500));
    }
    expect(status, `last error: ${last}\n${running.stderr().slice(-3000)}`).toBe(200);
  });
});

describe("forwarded ports: refusals and bad input (issue 15)", () => {
  let app: BuiltApp;
  beforeAll(() => {
    app = builtApp("notes");
  });
  afterAll(() => rmSync(path.dirname(app.bundle), { recursive: true, force: true }));

  it("a guest port nothing listens on: the client's connection is reset at once, not left hanging", async () => {
    const l = await launch(app.bundle, ["--publish", "0:80", "--publish", "127.0.0.1:0:81"]);
    try {
      const bound81 = await findBoundPort(l, 81);
      const { code } = await new Promise<{ code?: string }>((resolve) => {
        const s = net.connect({ host: "127.0.0.1", port: bound81 }, () => s.write("GET / HTTP/1.0\r\n\r\n"));
        s.on("error", (e: NodeJS.ErrnoException) => resolve({ code: e.code }));
        s.on("close", () => resolve({}));
      });
      expect(code ?? "closed").toMatch(/ECONNRESET|closed/);
    } finally {
      await l.stop();
    }
  });

  it("a host port in use: VMSFX_PORT_UNAVAILABLE (exit 33) naming the port, before the guest runs", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await vmsfx(["run", app.bundle, "--publish", `${taken}:80`], { input: "" });
      expect(r.code, r.stderr).toBe(33);
      expect(r.stderr).toContain(`host port 127.0.0.1:${taken} (for the app's port 80) is in use`);
      expect(r.stderr).toContain("[VMSFX_PORT_UNAVAILABLE]");
    } finally {
      blocker.close();
    }
  });

  it("a --publish out of range or malformed is a usage error (exit 2)", async () => {
    for (const bad of ["70000:80", "8080:0", "8080", "nohost:8080:80"]) {
      const r = await vmsfx(["run", app.bundle, "--publish", bad]);
      expect(r.code, `${bad}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`--publish ${bad}:`);
    }
  });

  it("the forward comes back after a suspend and resume, and a note posted in Chromium is kept on the data disk across a quit", async () => {
    const first = await launch(app.bundle);
    const note = `note ${Date.now()} <b>&</b>`;
    if (CHROMIUM) {
      const profile = mkdtempSync(path.join(os.tmpdir(), "vmsfx-chromium-"));
      const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
      try {
        const page = await browser.newPage();
        await page.goto(first.url);
        await page.fill("#note", note);
        await Promise.all([page.waitForNavigation(), page.click("#add")]);
        expect(await page.locator("#notes li").allTextContents()).toContain(note);
      } finally {
        await browser.close();
        rmSync(profile, { recursive: true, force: true });
      }
    } else {
      console.log("vmsfx tests: no chromium, so the notes page is posted with fetch instead of a browser (install Debian's chromium to test it in one)");
      await fetch(first.url, { method: "POST", body: new URLSearchParams({ note }), redirect: "manual" });
    }
    expect(await first.stop()).toBe(130);
    const state = app.bundle.replace(/\.vmsfx$/, ".vmsfx-state");
    expect(resumeKind(state)).toBe("suspended");
    // Resumed: the same session, its forward listening again.
    const second = await launch(app.bundle);
    expect(await (await fetch(second.url)).text()).toContain(note.replace("&", "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"));
    // Ctrl-C on the console quits the app (busybox httpd ends): its data disk is all that is kept.
    second.child.stdin.write("\x03");
    expect(await second.exited).toBe(130);
    expect(resumeKind(state)).toBe("quit");
    const third = await launch(app.bundle);
    try {
      expect(await (await fetch(third.url)).text()).toContain("&lt;b&gt;&amp;&lt;/b&gt;");
    } finally {
      await third.stop();
    }
  });
});

/** The host port bound for a guest port: `--timings`-free, so from the first successful connect. */
async function findBoundPort(l: Launch, guest: number): Promise<number> {
  const m = new RegExp(`vmsfx-ports (\\[.*\\])\\n`).exec(l.stderr());
  const ports = m ? (JSON.parse(m[1]) as { host: number; guest: number }[]) : [];
  const f = ports.find((p) => p.guest === guest);
  if (!f) throw new Error(`no bound port for guest port ${guest} in:\n${l.stderr()}`);
  return f.host;
}
