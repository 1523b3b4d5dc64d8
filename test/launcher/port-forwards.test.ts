import { describe, expect, it } from "vitest";
import { forwardError, forwardsFor, parsePublish, urlOf } from "../../src/launcher/port-forwards";
import { VmsfxError } from "../../src/errors";
import type { Manifest } from "../../src/snapshot/manifest";

/** Issue 15: `--publish`, the app's own ports, and what a port that cannot be had says. */
const withPorts = (ports: { guest: number; host: number }[], nic = true) =>
  ({ machine: { memoryBytes: 1, vgaMemoryBytes: 1, ...(nic ? { nic: "virtio" } : {}) }, app: { protocol: 2, dataDisk: "hdb", data: [], ports } }) as unknown as Manifest;

describe("--publish", () => {
  it("HOST:GUEST on loopback; ADDRESS:HOST:GUEST (IPv6 in brackets); HOST 0 for any free port", () => {
    expect(parsePublish("8080:80")).toEqual({ address: "127.0.0.1", host: 8080, guest: 80 });
    expect(parsePublish("0:80")).toEqual({ address: "127.0.0.1", host: 0, guest: 80 });
    expect(parsePublish("0.0.0.0:8080:80")).toEqual({ address: "0.0.0.0", host: 8080, guest: 80 });
    expect(parsePublish("[::1]:8080:80")).toEqual({ address: "::1", host: 8080, guest: 80 });
    expect(parsePublish("localhost:1:2")).toEqual({ address: "127.0.0.1", host: 1, guest: 2 });
  });

  it("anything else is a usage error naming the value", () => {
    for (const bad of ["80", "x:80", "8080:0", "70000:80", "8080:80a", "example.com:8080:80", ":"]) {
      let e: unknown;
      try {
        parsePublish(bad);
      } catch (err) {
        e = err;
      }
      expect(e, bad).toBeInstanceOf(VmsfxError);
      expect((e as VmsfxError).code).toBe("VMSFX_USAGE");
      expect((e as VmsfxError).message).toContain(`--publish ${bad}:`);
    }
  });
});

describe("the forwards of a launch", () => {
  it("the app's ports on loopback; a --publish for the same guest port replaces it, another adds one", () => {
    const m = withPorts([{ guest: 80, host: 8086 }]);
    expect(forwardsFor(m, [], "app")).toEqual([{ address: "127.0.0.1", host: 8086, guest: 80 }]);
    expect(forwardsFor(m, [parsePublish("0:80"), parsePublish("2222:22")], "app")).toEqual([
      { address: "127.0.0.1", host: 0, guest: 80 },
      { address: "127.0.0.1", host: 2222, guest: 22 },
    ]);
  });

  it("a guest without a network card refuses --publish; two guest ports on one host port are refused", () => {
    expect(() => forwardsFor(withPorts([], false), [parsePublish("8080:80")], "app")).toThrow(/has no network card/);
    expect(forwardsFor(withPorts([], false), [], "app")).toEqual([]);
    expect(() => forwardsFor(withPorts([{ guest: 80, host: 8080 }]), [parsePublish("8080:81")], "app")).toThrow(/named for two guest ports/);
  });

  it("a port in use or denied is VMSFX_PORT_UNAVAILABLE (exit 33), naming it and how to pick another", () => {
    const inUse = forwardError({ forward: { address: "127.0.0.1", host: 8080, guest: 80 }, reason: "in-use", message: "EADDRINUSE" });
    expect(inUse.code).toBe("VMSFX_PORT_UNAVAILABLE");
    expect(inUse.exitCode).toBe(33);
    expect(inUse.message).toBe("host port 127.0.0.1:8080 (for the app's port 80) is in use by another program: close that program, or run it with --publish 8081:80 to use another port, or --publish 0:80 for any free one.");
    expect(forwardError({ forward: { address: "127.0.0.1", host: 80, guest: 80 }, reason: "denied", message: "EACCES" }).message).toContain("needs privileges");
  });

  it("the page's URL uses the port actually bound, and loopback for a wildcard address", () => {
    expect(urlOf([{ address: "127.0.0.1", host: 41234, guest: 80 }], 80, "/x?y")).toBe("http://127.0.0.1:41234/x?y");
    expect(urlOf([{ address: "0.0.0.0", host: 8080, guest: 80 }], 80, "/")).toBe("http://127.0.0.1:8080/");
    expect(urlOf([{ address: "::1", host: 8080, guest: 80 }], 80, "/")).toBe("http://[::1]:8080/");
    expect(urlOf([], 80, "/")).toBeUndefined();
  });
});
