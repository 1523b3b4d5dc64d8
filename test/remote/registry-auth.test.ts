import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { findCredentials, parseChallenge, parseToken, tokenUrl } from "../../src/remote/registry-auth";
import { registryError } from "../../src/remote/registry-client";
import { VmsfxError } from "../../src/errors";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function dockerConfig(config: object): NodeJS.ProcessEnv {
  const dir = mkdtempSync(path.join(os.tmpdir(), "vmsfx-docker-"));
  dirs.push(dir);
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  return { DOCKER_CONFIG: dir };
}

describe("registry authentication", () => {
  it("reads Bearer challenges as registries write them, and Basic", () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual({ scheme: "bearer", realm: "https://auth.docker.io/token", service: "registry.docker.io" });
    expect(parseChallenge('bearer realm="http://127.0.0.1:1/t", service=reg')).toEqual({ scheme: "bearer", realm: "http://127.0.0.1:1/t", service: "reg" });
    expect(parseChallenge('Basic realm="Registry"')).toEqual({ scheme: "basic" });
    expect(parseChallenge('Bearer service="x"')).toBeUndefined();
    expect(parseChallenge('Bearer realm="file:///etc/passwd"')).toBeUndefined();
    expect(parseChallenge("Negotiate")).toBeUndefined();
  });

  it("asks the token service for every scope, with the service named", () => {
    const u = new URL(tokenUrl({ scheme: "bearer", realm: "https://auth.example/token?x=1", service: "reg" }, ["repository:a:pull,push", "repository:b:pull"]));
    expect(u.searchParams.get("service")).toBe("reg");
    expect(u.searchParams.getAll("scope")).toEqual(["repository:a:pull,push", "repository:b:pull"]);
    expect(u.searchParams.get("x")).toBe("1");
  });

  it("takes token or access_token, expiring a little early; refuses junk", () => {
    expect(parseToken(Buffer.from(JSON.stringify({ token: "t", expires_in: 300 })), 0)).toEqual({ value: "t", expiresAt: 290_000 });
    expect(parseToken(Buffer.from(JSON.stringify({ access_token: "a" })), 0)?.value).toBe("a");
    expect(parseToken(Buffer.from("{}"))).toBeUndefined();
    expect(parseToken(Buffer.from(JSON.stringify({ token: "a\r\nInjected: x" })))).toBeUndefined();
  });

  it("finds credentials in VMSFX_REGISTRY_AUTH first, then the Docker config under the registry's name", async () => {
    expect(await findCredentials("r.io", { VMSFX_REGISTRY_AUTH: "u:p:w" })).toMatchObject({ username: "u", password: "p:w", source: "VMSFX_REGISTRY_AUTH" });
    const env = dockerConfig({ auths: { "https://r.io": { auth: Buffer.from("me:secret").toString("base64") }, "other.io": { username: "x", password: "y" } } });
    expect(await findCredentials("r.io", env)).toMatchObject({ username: "me", password: "secret" });
    expect(await findCredentials("other.io", env)).toMatchObject({ username: "x", password: "y" });
    expect(await findCredentials("none.io", env)).toBeUndefined();
    expect(await findCredentials("r.io", { DOCKER_CONFIG: "/nonexistent" })).toBeUndefined();
  });

  it("says what to do when the credentials live in a helper it will not run, or the config is broken", async () => {
    await expect(findCredentials("r.io", dockerConfig({ credsStore: "desktop" }))).rejects.toThrow(/VMSFX_REGISTRY_AUTH/);
    const dir = mkdtempSync(path.join(os.tmpdir(), "vmsfx-docker-"));
    dirs.push(dir);
    writeFileSync(path.join(dir, "config.json"), "{");
    await expect(findCredentials("r.io", { DOCKER_CONFIG: dir })).rejects.toThrow(/not valid JSON/);
    await expect(findCredentials("r.io", { VMSFX_REGISTRY_AUTH: "nocolon" })).rejects.toThrow(/user:password/);
  });
});

describe("a registry's refusals, as typed errors", () => {
  const res = (status: number, errors: object[] = [], headers: Record<string, string> = {}) => ({ status, headers, body: Buffer.from(JSON.stringify({ errors })), url: "http://r/v2/a/manifests/t" });
  const codeOf = (e: unknown) => (e as VmsfxError).code;
  it("unknown repository or tag: 63; denied: 64; rate-limited, saying when: 65", () => {
    expect(codeOf(registryError(res(404, [{ code: "NAME_UNKNOWN", message: "repository name not known to registry" }]), "oci://r/a", "the manifest t", undefined))).toBe("VMSFX_REGISTRY_NOT_FOUND");
    expect(codeOf(registryError(res(404, [{ code: "MANIFEST_UNKNOWN" }]), "oci://r/a", "the manifest t", undefined))).toBe("VMSFX_REGISTRY_NOT_FOUND");
    const denied = registryError(res(403, [{ code: "DENIED", message: "requested access to the resource is denied" }]), "oci://r/a", "the manifest t", "~/.docker/config.json");
    expect(codeOf(denied)).toBe("VMSFX_REGISTRY_DENIED");
    expect(denied.message).toContain("the credentials from ~/.docker/config.json were refused");
    const limited = registryError(res(429, [{ code: "TOOMANYREQUESTS" }], { "retry-after": "120" }), "oci://r/a", "the manifest t", undefined);
    expect(codeOf(limited)).toBe("VMSFX_REGISTRY_RATE_LIMITED");
    expect(limited.message).toMatch(/Try again after \d\d:\d\d:\d\d UTC \(in 120 s\)/);
    expect(limited.exitCode).toBe(65);
  });

  it("a registry's message cannot write control characters to the terminal", () => {
    const e = registryError(res(404, [{ code: "NAME_UNKNOWN", message: "\u001b[2Jgone" }]), "oci://r/a", "x", undefined);
    expect(e.message).not.toContain("\u001b");
  });
});
