import { describe, expect, it } from "vitest";
import { ipv4Number, isPublicIpv4, OutboundPolicy, parseOutboundRule } from "../../src/engine/outbound-rules";

const ip = (s: string) => ipv4Number(s)!;

describe("outbound rules", () => {
  it("parses hosts, names, networks and ports", () => {
    expect(parseOutboundRule("*")).toEqual({ host: { kind: "any" } });
    expect(parseOutboundRule("*:443")).toEqual({ host: { kind: "any" }, port: 443 });
    expect(parseOutboundRule("Example.COM.")).toEqual({ host: { kind: "name", name: "example.com", subdomains: false } });
    expect(parseOutboundRule("*.example.org:80")).toEqual({ host: { kind: "name", name: "example.org", subdomains: true }, port: 80 });
    expect(parseOutboundRule("10.0.0.0/8:5432")).toEqual({ host: { kind: "net", base: ip("10.0.0.0"), bits: 8 }, port: 5432 });
    expect(parseOutboundRule("203.0.113.7:*")).toEqual({ host: { kind: "net", base: ip("203.0.113.7"), bits: 32 } });
  });

  it.each([["", "non-empty"], ["example.com:0", "not a port"], ["example.com:70000", "not a port"], ["10.0.0.0/33", "prefix length"], ["exa mple.com", "not a host name"], ["-bad.com", "not a host name"], ["1.2.3.4/8/9", "not a host name"], ["a..b", "not a host name"], ["http://x.com", "is a URL"]])(
    "refuses %j, saying why",
    (text, why) => {
      const r = parseOutboundRule(text);
      expect(typeof r).toBe("string");
      expect(r).toContain(why);
    },
  );

  it("`*` reaches public addresses only: never loopback, the LAN, link-local (cloud metadata), CGNAT or multicast", () => {
    for (const a of ["8.8.8.8", "93.184.216.34", "1.1.1.1"]) expect(isPublicIpv4(ip(a)), a).toBe(true);
    for (const a of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.86.1", "169.254.169.254", "100.64.0.1", "224.0.0.1", "255.255.255.255", "0.0.0.0"]) {
      expect(isPublicIpv4(ip(a)), a).toBe(false);
    }
    const p = new OutboundPolicy([["*"]]);
    expect(p.allowsConnect("93.184.216.34", 80)).toBe(true);
    expect(p.allowsConnect("169.254.169.254", 80)).toBe(false);
    expect(p.allowsConnect("192.168.1.10", 445)).toBe(false);
  });

  it("a name allows what it resolved to, for its ports, even a private address; `*` does not follow a name into the LAN", () => {
    const p = new OutboundPolicy([["db.example.com:5432", "*:443"]]);
    expect(p.allowsConnect("10.0.0.5", 5432)).toBe(false);
    expect(p.answerable("db.example.com", [ip("10.0.0.5")])).toEqual([ip("10.0.0.5")]);
    expect(p.allowsConnect("10.0.0.5", 5432)).toBe(true);
    expect(p.allowsConnect("10.0.0.5", 22)).toBe(false);
    // DNS rebinding: a public name answered with a LAN address is not told to the guest.
    expect(p.answerable("evil.example.net", [ip("192.168.1.1"), ip("93.184.216.34")])).toEqual([ip("93.184.216.34")]);
    expect(p.allowsConnect("192.168.1.1", 443)).toBe(false);
  });

  it("only names some rule could allow are looked up", () => {
    expect(new OutboundPolicy([["api.example.com:443"]]).mayResolve("API.example.com.")).toBe(true);
    expect(new OutboundPolicy([["api.example.com:443"]]).mayResolve("secret-data.attacker.net")).toBe(false);
    expect(new OutboundPolicy([["*"], ["api.example.com"]]).mayResolve("other.example.com")).toBe(false);
    expect(new OutboundPolicy([["10.0.0.0/8"]]).mayResolve("anything.lan")).toBe(true);
    expect(new OutboundPolicy([["*"], []]).mayResolve("example.com")).toBe(false);
  });

  it("subdomain rules match below the name only", () => {
    const p = new OutboundPolicy([["*.example.org"]]);
    expect(p.answerable("api.example.org", [ip("10.0.0.1")])).toHaveLength(1);
    expect(p.answerable("example.org", [ip("10.0.0.2")])).toHaveLength(0);
    expect(p.answerable("badexample.org", [ip("10.0.0.3")])).toHaveLength(0);
  });

  it("every list must allow: the app's rules narrowed by a policy's, and `[]` (--no-network) allows nothing", () => {
    const app = ["*"];
    expect(new OutboundPolicy([app, ["*:443"]]).allowsConnect("93.184.216.34", 443)).toBe(true);
    expect(new OutboundPolicy([app, ["*:443"]]).allowsConnect("93.184.216.34", 80)).toBe(false);
    const off = new OutboundPolicy([app, []]);
    expect(off.enabled).toBe(false);
    expect(off.allowsConnect("93.184.216.34", 443)).toBe(false);
    expect(off.answerable("example.com", [ip("93.184.216.34")])).toEqual([]);
    expect(new OutboundPolicy([]).enabled).toBe(false);
  });

  it("keeps a bounded memory of names, however many the guest looks up", () => {
    const p = new OutboundPolicy([["*"]]);
    for (let i = 0; i < 10_000; i++) p.answerable(`n${i}.example.com`, [ip("93.0.0.0") + i]);
    expect((p as unknown as { namesByIp: Map<number, unknown> }).namesByIp.size).toBeLessThanOrEqual(4096);
  });
});
