import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import * as dgram from "node:dgram";
import { rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { ROOT, vmsfx } from "../helpers/cli";
import { builtApp, type BuiltApp } from "../helpers/app-sample";
import { dnsAnswer, parseDnsQuery, RCODE } from "../../src/engine/dns-message";
import { ipv4Number } from "../../src/engine/outbound-rules";

/**
 * Issue 15, part 3: a guest's way out, as a policy. The app (test/fixtures/apps/outbound, busybox)
 * may reach this host (`host.vmsfx.internal`, made to 127.0.0.1 here) and look up `localhost`,
 * nothing else. Real guest tools (wget, nslookup) talk to real servers on this host: TCP and
 * UDP through host sockets, DNS from the host's resolver, refusals as a guest expects them, and
 * the two ways to narrow it: a signed policy and `--no-network`.
 */

const ALIAS = "host.vmsfx.internal";
const BIG = 2 << 20;
let app: BuiltApp;
let web: http.Server;
let webPort: number;
let other: http.Server;
let otherPort: number;
let seen: string[];
const big = Buffer.alloc(BIG);
for (let i = 0; i < BIG; i += 4) big.writeUInt32BE((i * 2654435761) >>> 0, i);

function serve(onRequest: http.RequestListener): Promise<[http.Server, number]> {
  const s = http.createServer(onRequest);
  return new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve([s, (s.address() as net.AddressInfo).port])));
}

/** Runs one command in the guest (the fixture's app execs its arguments); the launcher's output and code. */
async function guest(command: string, extra: string[] = [], bundle = app.bundle) {
  const r = await vmsfx(["run", bundle, ...extra, "--", "sh", "-c", command]);
  return { out: r.stdout.replace(/\r/g, ""), err: r.stderr, code: r.code };
}

beforeAll(async () => {
  app = builtApp("outbound", path.join(ROOT, "test/fixtures/apps/outbound"));
  seen = [];
  [web, webPort] = await serve((req, res) => {
    seen.push(req.url ?? "");
    if (req.url === "/big") return void res.end(big);
    if (req.method === "POST") {
      const h = createHash("sha256");
      req.on("data", (d) => h.update(d)).on("end", () => res.end(`sha256=${h.digest("hex")}\n`));
      return;
    }
    res.end("hello from the host\n");
  });
  [other, otherPort] = await serve((_req, res) => res.end("the other server\n"));
});

afterAll(() => {
  web?.close();
  other?.close();
  if (app) rmSync(path.dirname(app.bundle), { recursive: true, force: true });
});

describe("outbound network: the guest reaches what its rules allow, through the host's sockets", () => {
  it("TCP to host.vmsfx.internal reaches this host's 127.0.0.1; large transfers arrive intact both ways", async () => {
    const r = await guest(`wget -q -O- http://${ALIAS}:${webPort}/hello && wget -q -O- http://${ALIAS}:${webPort}/big | sha256sum && yes vmsfx | head -c 1048576 > /tmp/up && wget -q -O- --post-file /tmp/up http://${ALIAS}:${webPort}/up`);
    expect(r.out, r.err).toContain("hello from the host");
    expect(r.out).toContain(createHash("sha256").update(big).digest("hex"));
    const up = Buffer.alloc(1 << 20, "vmsfx\n");
    expect(r.out).toContain(`sha256=${createHash("sha256").update(up).digest("hex")}`);
    expect(r.code, r.err).toBe(0);
  });

  it("inspect says where the app may connect", async () => {
    const r = await vmsfx(["inspect", app.bundle]);
    expect(r.stdout, r.stderr).toMatch(/network\s+may connect out to host\.vmsfx\.internal, localhost/);
  });

  it("DNS is answered from the host's resolver (v86's own would say 192.168.87.1 to every name)", async () => {
    const r = await guest("nslookup localhost");
    expect(r.out, r.err).toMatch(/Name:\s+localhost\s+Address:\s+127\.0\.0\.1/);
  });

  it("UDP goes out through a host socket, and the answer comes back", async () => {
    const server = dgram.createSocket("udp4");
    server.on("message", (msg, from) => {
      const q = parseDnsQuery(msg);
      if (q) server.send(dnsAnswer(q, RCODE.ok, [ipv4Number("10.9.8.7")!]), from.port, from.address);
    });
    await new Promise<void>((resolve) => server.bind(0, "127.0.0.1", resolve));
    try {
      const r = await guest(`nslookup whatever.test 192.168.86.1:${server.address().port}`);
      expect(r.out, r.err).toMatch(/Address:\s+10\.9\.8\.7/);
    } finally {
      server.close();
    }
  });

  it("what is not allowed fails as the guest expects: a name is refused, a closed port is a reset", async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const r = await guest(`wget -q -O- http://example.com/; wget -q -O- http://${ALIAS}:${closed}/; echo done`);
    expect(r.out, r.err).toContain("done");
    expect(r.err + r.out).toMatch(/bad address 'example\.com'/);
    expect(r.err + r.out).toMatch(/Connection refused/);
  });

  it("--no-network: no name resolves and no connection opens, whatever the app allows", async () => {
    seen.length = 0;
    const r = await guest(`wget -q -O- http://${ALIAS}:${webPort}/a; wget -q -O- http://192.168.86.1:${webPort}/b; echo done`, ["--no-network"]);
    expect(r.out, r.err).toContain("done");
    expect(r.err + r.out).toMatch(/bad address/);
    expect(r.err + r.out).toMatch(/Connection refused/);
    expect(seen).toEqual([]);
  });

  it("a signed policy narrows the app's rules: only the port it lists is reached", async () => {
    const dir = path.dirname(app.bundle);
    const key = path.join(dir, "publisher.key");
    const policy = path.join(dir, "policy.json");
    expect((await vmsfx(["keygen", "-o", key])).code).toBe(0);
    writeFileSync(policy, JSON.stringify({ outbound: [`${ALIAS}:${otherPort}`] }));
    const signed = path.join(dir, "narrowed.vmsfx");
    const packed = await vmsfx(["pack", app.snapshot, "--sign", key, "--policy", policy, "-o", signed, "--quiet"]);
    expect(packed.code, packed.stderr).toBe(0);
    seen.length = 0;
    const r = await guest(`wget -q -O- http://${ALIAS}:${otherPort}/; wget -q -O- http://${ALIAS}:${webPort}/; echo done`, [], signed);
    expect(r.out, r.err).toContain("the other server");
    expect(r.err + r.out).toMatch(/Connection refused/);
    expect(seen).toEqual([]);
  });
});
