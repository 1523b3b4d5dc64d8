import { describe, expect, it } from "vitest";
import { validateAppSpec } from "../../src/build/app-spec";
import { VmsfxError } from "../../src/errors";

/** Issue 15: a web app's `ports`, `open` and `ready: {port}`; every refusal names its field (exit 20). */
const FILE = "/home/pub/app/app.json";
const web = { name: "notes", ready: { port: 80 } };

function refusal(spec: unknown): string {
  try {
    validateAppSpec(spec, FILE);
  } catch (e) {
    expect(e).toBeInstanceOf(VmsfxError);
    expect((e as VmsfxError).exitCode).toBe(20);
    return (e as VmsfxError).message;
  }
  throw new Error("expected the spec to be refused");
}

describe("app spec: ports, open, ready on a port", () => {
  it("a number serves the same host port; an object maps it; open names a host port and keeps the path", () => {
    const s = validateAppSpec({ ...web, ports: [80, { guest: 9000, host: 0 }, { guest: 22, host: 2222 }], open: "http://localhost:80/cgi-bin/notes?x=1#top" }, FILE);
    expect(s.ports).toEqual([
      { guest: 80, host: 80 },
      { guest: 9000, host: 0 },
      { guest: 22, host: 2222 },
    ]);
    expect(s.open).toEqual({ guestPort: 80, path: "/cgi-bin/notes?x=1#top" });
    expect(s.ready).toEqual({ port: 80, timeoutSeconds: 120 });
  });

  it("an app without ports has none (and so no network card)", () => {
    expect(validateAppSpec({ name: "cli", ready: { quietMs: 500 } }, FILE).ports).toEqual([]);
  });

  it("refuses ports out of range, repeated, or of the wrong shape", () => {
    expect(refusal({ ...web, ports: [70000] })).toContain('"ports[0]" must be a TCP port number from 1 to 65535');
    expect(refusal({ ...web, ports: [0] })).toContain('"ports[0]" must be a TCP port number');
    expect(refusal({ ...web, ports: [{ guest: 80, host: -1 }] })).toContain('"ports[0].host" must be a TCP port number from 0 to 65535');
    expect(refusal({ ...web, ports: [{ guest: 80, hots: 1 }] })).toContain('"ports[0].hots" is not a field of a port');
    expect(refusal({ ...web, ports: [80, { guest: 80, host: 81 }] })).toContain("names guest port 80 twice");
    expect(refusal({ ...web, ports: [80, { guest: 81, host: 80 }] })).toContain("names host port 80 twice");
    expect(refusal({ ...web, ports: "80" })).toContain('"ports" must be an array');
  });

  it("refuses a ready port that is not forwarded, and a ready with two rules", () => {
    expect(refusal({ ...web, ports: [8080] })).toContain('"ready.port" must be one of the guest ports in "ports" (8080)');
    expect(refusal({ ...web, ports: [80], ready: { port: 80, serial: "x" } })).toContain('"ready" must have exactly one of "serial", "quietMs" and "port"');
  });

  it("refuses an open URL that is not http://localhost on one of the ports", () => {
    expect(refusal({ ...web, ports: [80], open: "https://localhost/" })).toContain('"open" must be an http://localhost:<port>/ URL');
    expect(refusal({ ...web, ports: [80], open: "http://example.com/" })).toContain('"open" must be an http://localhost:<port>/ URL');
    expect(refusal({ ...web, ports: [80], open: "http://localhost:8080/" })).toContain('"open" names port 8080, which is not a host port in "ports" (80)');
    expect(refusal({ ...web, ports: [80], open: "not a url" })).toContain('"open" must be a URL');
  });

  it("outbound: off unless the spec says so; true is any public address; a list is checked rule by rule", () => {
    expect(validateAppSpec({ name: "cli", ready: { quietMs: 500 } }, FILE).outbound).toEqual([]);
    expect(validateAppSpec({ name: "cli", ready: { quietMs: 500 }, outbound: false }, FILE).outbound).toEqual([]);
    expect(validateAppSpec({ name: "cli", ready: { quietMs: 500 }, outbound: true }, FILE).outbound).toEqual(["*"]);
    expect(validateAppSpec({ name: "cli", ready: { quietMs: 500 }, outbound: ["host.vmsfx.internal:5432", "*:443"] }, FILE).outbound).toEqual(["host.vmsfx.internal:5432", "*:443"]);
    expect(refusal({ name: "cli", ready: { quietMs: 500 }, outbound: "all" })).toContain('"outbound" must be true, false, or a list of rules');
    expect(refusal({ name: "cli", ready: { quietMs: 500 }, outbound: ["example.com:http"] })).toContain('"outbound[0]"');
  });
});
