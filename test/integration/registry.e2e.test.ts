import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT, vmsfx } from "../helpers/cli";
import { builtApp, type BuiltApp } from "../helpers/app-sample";
import { hostTool } from "../helpers/host-tools";
import { tempDir } from "../helpers/synthetic-snapshot";
import { startRegistry, startRegistryProxy, startTokenServer, type RegistryProxy, type RunningRegistry, type TokenServer } from "../helpers/registry-server";

/**
 * Issue 16: an OCI registry as the place an app is published to and pulled from, tested
 * against a real one (Debian's docker-registry: the CNCF distribution registry 2.8), anonymous
 * and with token authentication, plus a proxy that does what real registries do only sometimes.
 * The app is the busybox "hello" fixture (v2: the same app with another environment).
 */

const REGISTRY = hostTool("docker-registry");
const OPENSSL = hostTool("openssl");
const SKOPEO = hostTool("skopeo");

let v1: BuiltApp;
let v2: BuiltApp;
let work: string;
let key: string;
let open: RunningRegistry;

/** A signed bundle of a built app (publish takes bundles; the thin bundle is packed from the snapshot). */
async function signed(app: BuiltApp, name: string): Promise<string> {
  const out = path.join(work, `${name}.vmsfx`);
  const r = await vmsfx(["pack", app.snapshot, "--sign", key, "-o", out, "--quiet"]);
  expect(r.code, r.stderr).toBe(0);
  return out;
}

async function publish(bundle: string, to: string, env: Record<string, string> = {}) {
  const r = await vmsfx(["publish", bundle, "--to", to, "--insecure", "--json"], { env });
  return { ...r, result: r.code === 0 ? JSON.parse(r.stdout.trim().split("\n").pop()!) : undefined };
}

async function thin(app: BuiltApp, remote: string, name: string, extra: string[] = [], env: Record<string, string> = {}) {
  const out = path.join(work, `${name}.vmsfx`);
  const r = await vmsfx(["pack", app.snapshot, "--thin", "--include", "none", "--remote", remote, "--insecure", "--sign", key, "-o", out, "--quiet", ...extra], { env });
  return { ...r, bundle: out };
}

const cacheOf = (bundle: string) => path.join(bundle.replace(/\.vmsfx$/, ".vmsfx-state"), "cache");
const blocksIn = (dir: string) => readdirSync(dir).filter((f) => /^[0-9a-f]{64}$/.test(f)).length;

describe.skipIf(!REGISTRY)("publish to and pull from an OCI registry (issue 16)", () => {
  beforeAll(async () => {
    v1 = builtApp("hello", path.join(ROOT, "test/fixtures/apps/hello"));
    const spec = path.join(ROOT, ".cache/e2e-specs/hello2");
    rmSync(spec, { recursive: true, force: true });
    cpSync(path.join(ROOT, "test/fixtures/apps/hello"), spec, { recursive: true });
    const json = JSON.parse(readFileSync(path.join(spec, "app.json"), "utf8"));
    writeFileSync(path.join(spec, "app.json"), JSON.stringify({ ...json, env: { GREETING: "version two" } }));
    v2 = builtApp("hello2", spec);
    work = tempDir("vmsfx-registry-e2e-");
    key = path.join(work, "publisher.key");
    expect((await vmsfx(["keygen", "-o", key])).code).toBe(0);
    open = await startRegistry(REGISTRY!);
  });

  afterAll(async () => {
    await open?.stop();
    for (const d of [work, v1 && path.dirname(v1.bundle), v2 && path.dirname(v2.bundle)]) if (d) rmSync(d, { recursive: true, force: true });
  });

  describe("an anonymous registry", () => {
    let first: { uploadedBytes: number; packs: number; blobs: number };

    it("publishes an OCI artifact that skopeo inspects; publishing it again uploads nothing", async () => {
      const bundle = await signed(v1, "v1");
      const r = await publish(bundle, `oci://${open.host}/vmsfx/hello:stable`);
      expect(r.code, r.stderr).toBe(0);
      first = r.result;
      expect(first.packs).toBeGreaterThanOrEqual(1);
      expect(first.uploadedBytes).toBeGreaterThan(1 << 20);
      if (SKOPEO) {
        const s = spawnSync(SKOPEO, ["inspect", "--tls-verify=false", `docker://${open.host}/vmsfx/hello:stable`], { encoding: "utf8" });
        expect(s.status, s.stderr).toBe(0);
        const info = JSON.parse(s.stdout);
        expect(info.Labels).toEqual({ "dev.vmsfx.app": "hello" });
        expect(info.RepoTags).toContain("stable");
        expect(info.Layers).toHaveLength(first.blobs - 1);
      }
      const again = await publish(bundle, `oci://${open.host}/vmsfx/hello:stable`);
      expect(again.result).toMatchObject({ uploadedBytes: 0, reused: first.blobs });
    });

    it("another repository of the registry gets the blobs by a mount, without uploading them", async () => {
      const r = await vmsfx(["publish", path.join(work, "v1.vmsfx"), "--to", `oci://${open.host}/mirror/hello:1`, "--insecure", "--mount-from", "vmsfx/hello", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim().split("\n").pop()!)).toMatchObject({ uploadedBytes: 0, reused: first.blobs });
    });

    it("a thin bundle packed against the tag pulls its blocks from the registry and runs", async () => {
      const t = await thin(v1, `oci://${open.host}/vmsfx/hello:stable`, "thin");
      expect(t.code, t.stderr).toBe(0);
      const r = await vmsfx(["run", t.bundle, "--timings"], { input: "one\n" });
      expect(r.stdout, r.stderr).toMatch(/hello run=0 .*greeting=hi there/);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(/vmsfx-timings (.*)/.exec(r.stderr)![1]).fetchedBytes).toBeGreaterThan(1 << 20);
      expect(blocksIn(cacheOf(t.bundle))).toBeGreaterThan(10);
    });

    it("a new version uploads only the packs that changed, and --update takes it from the tag", async () => {
      const r = await publish(await signed(v2, "v2"), `oci://${open.host}/vmsfx/hello:stable`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.result.reused).toBeGreaterThanOrEqual(2);
      expect(r.result.uploadedBytes).toBeLessThan(first.uploadedBytes);
      const t = path.join(work, "thin.vmsfx");
      const plain = await vmsfx(["run", t], { input: "two\n" });
      expect(plain.stdout, plain.stderr).toMatch(/hello run=1 .*greeting=hi there/);
      const updated = await vmsfx(["run", t, "--update"], { input: "three\n" });
      expect(updated.stdout, updated.stderr).toMatch(/hello run=2 .*greeting=version two/);
      expect(updated.stderr).toMatch(new RegExp(`updated to the version published at oci\\+http://${open.host}/vmsfx/hello:stable@sha256:`));
      const after = await vmsfx(["run", t], { input: "four\n" });
      expect(after.stdout, after.stderr).toMatch(/hello run=3 .*greeting=version two/);
    });

    it("an unknown repository or tag is VMSFX_REGISTRY_NOT_FOUND (63); a tag that is not a vmsfx app is VMSFX_REGISTRY_NOT_VMSFX (66)", async () => {
      const missing = await thin(v1, `oci://${open.host}/vmsfx/nothing:here`, "missing");
      expect(missing.code, missing.stderr).toBe(63);
      expect(missing.stderr).toMatch(/is not there/);
      // Another artifact under a tag: pushed by hand, as another tool would.
      const base = `http://${open.host}/v2/other/chart`;
      const config = Buffer.from("{}");
      const digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
      const start = await fetch(`${base}/blobs/uploads/`, { method: "POST" });
      await fetch(new URL(`${start.headers.get("location")}${start.headers.get("location")!.includes("?") ? "&" : "?"}digest=${digest}`, base), { method: "PUT", body: config });
      const manifest = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "application/vnd.cncf.helm.config.v1+json", config: { mediaType: "application/vnd.oci.empty.v1+json", digest, size: 2 }, layers: [] };
      const put = await fetch(`${base}/manifests/1.0`, { method: "PUT", headers: { "content-type": manifest.mediaType }, body: JSON.stringify(manifest) });
      expect(put.status).toBe(201);
      const other = await thin(v1, `oci://${open.host}/other/chart:1.0`, "other");
      expect(other.code, other.stderr).toBe(66);
      expect(other.stderr).toContain("application/vnd.cncf.helm.config.v1+json");
    });
  });

  describe.skipIf(!OPENSSL)("a registry with token authentication", () => {
    let tokens: TokenServer;
    let secure: RunningRegistry;
    let proxy: RegistryProxy;
    const publisher = { VMSFX_REGISTRY_AUTH: "publisher:s3cret" };
    beforeAll(async () => {
      tokens = await startTokenServer(OPENSSL!, { publisher: "s3cret" });
      secure = await startRegistry(REGISTRY!, { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certFile: tokens.certFile });
      proxy = await startRegistryProxy(secure);
    });
    afterAll(async () => {
      await proxy?.stop();
      await secure?.stop();
      await tokens?.stop();
    });

    it("publishing needs the publisher's credentials: none or wrong ones are VMSFX_REGISTRY_DENIED (64)", async () => {
      const bundle = await signed(v1, "v1-auth");
      const none = await publish(bundle, `oci://${secure.host}/team/hello:1`, { DOCKER_CONFIG: work });
      expect(none.code, none.stderr).toBe(64);
      expect(none.stderr).toContain("VMSFX_REGISTRY_AUTH");
      const wrong = await publish(bundle, `oci://${secure.host}/team/hello:1`, { VMSFX_REGISTRY_AUTH: "publisher:nope" });
      expect(wrong.code, wrong.stderr).toBe(64);
      expect(wrong.stderr).toContain("the credentials from VMSFX_REGISTRY_AUTH were refused");
      const ok = await publish(bundle, `oci://${secure.host}/team/hello:1`, publisher);
      expect(ok.code, ok.stderr).toBe(0);
      expect(tokens.issued.some((t) => t.user === "publisher" && t.scopes.includes("repository:team/hello:pull,push"))).toBe(true);
    });

    it("anyone pulls with an anonymous token; blob reads follow a redirect to storage without our Authorization", async () => {
      proxy.faults.splice(0, proxy.faults.length, { kind: "redirect-blobs" });
      const t = await thin(v1, `oci://${proxy.host}/team/hello:1`, "thin-auth", [], { DOCKER_CONFIG: work });
      expect(t.code, t.stderr).toBe(0);
      const r = await vmsfx(["run", t.bundle], { input: "x\n", env: { DOCKER_CONFIG: work } });
      expect(r.stdout, r.stderr).toMatch(/hello run=0 /);
      expect(proxy.storage.length).toBeGreaterThan(0);
      expect(proxy.storage.every((s) => !s.auth)).toBe(true);
      expect(proxy.log.some((l) => l.path.includes("/blobs/") && l.auth)).toBe(true);
      expect(proxy.storage.some((s) => s.range)).toBe(true);
    });

    it("a token that expires mid-pull (401) or is refused (403) is renewed, and the pull goes on", async () => {
      proxy.faults.splice(0, proxy.faults.length, { kind: "forbidden", times: 1 });
      tokens.ttlSeconds = 2;
      try {
        const before = tokens.issued.length;
        const t = await thin(v1, `oci://${proxy.host}/team/hello:1`, "thin-expiry", [], { DOCKER_CONFIG: work });
        expect(t.code, t.stderr).toBe(0);
        rmSync(cacheOf(t.bundle), { recursive: true, force: true });
        const r = await vmsfx(["run", t.bundle], { input: "x\n", env: { DOCKER_CONFIG: work } });
        expect(r.stdout, r.stderr).toMatch(/hello run=0 /);
        expect(proxy.log.filter((l) => l.status === 403)).toHaveLength(1);
        expect(tokens.issued.length - before).toBeGreaterThanOrEqual(3);
      } finally {
        tokens.ttlSeconds = 300;
      }
    });

    it("a registry that ignores Range sends whole packs: every block of them is cached", async () => {
      proxy.faults.splice(0, proxy.faults.length, { kind: "ignore-range" });
      const t = await thin(v1, `oci://${proxy.host}/team/hello:1`, "thin-whole", [], { DOCKER_CONFIG: work });
      const r = await vmsfx(["run", t.bundle, "--timings"], { input: "x\n", env: { DOCKER_CONFIG: work } });
      expect(r.stdout, r.stderr).toMatch(/hello run=0 /);
      expect(proxy.log.some((l) => l.range && l.status === 200)).toBe(true);
      // More blocks are cached than the same launch read by ranges (thin-auth): the rest of each pack it touched.
      expect(blocksIn(cacheOf(t.bundle))).toBeGreaterThan(blocksIn(cacheOf(path.join(work, "thin-auth.vmsfx"))));
    });

    it("Retry-After: a short one is waited out; a long one fails at once with VMSFX_REGISTRY_RATE_LIMITED (65), saying when", async () => {
      proxy.faults.splice(0, proxy.faults.length, { kind: "retry-after", times: 1, seconds: 1 });
      const short = await publish(path.join(work, "v1-auth.vmsfx"), `oci://${proxy.host}/team/hello:1`, publisher);
      expect(short.code, short.stderr).toBe(0);
      expect(proxy.log.filter((l) => l.status === 429)).toHaveLength(1);
      proxy.faults.splice(0, proxy.faults.length, { kind: "retry-after", times: 1000, seconds: 600 });
      const t0 = Date.now();
      const long = await publish(path.join(work, "v1-auth.vmsfx"), `oci://${proxy.host}/team/hello:1`, publisher);
      expect(long.code, long.stderr).toBe(65);
      expect(long.stderr).toMatch(/Try again after \d\d:\d\d:\d\d UTC \(in 600 s\)/);
      expect(Date.now() - t0).toBeLessThan(60_000);
      proxy.faults.length = 0;
    });
  });
});
