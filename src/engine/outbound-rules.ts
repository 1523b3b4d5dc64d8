/**
 * Which hosts a guest may reach (issue 15, part 3). A rule is `HOST[:PORT]`:
 *   `*`                   any public address (never loopback, link-local, private or multicast)
 *   `example.com`         that name (as the guest looks it up) at whatever it resolves to
 *   `*.example.com`       any name under example.com (not example.com itself)
 *   `203.0.113.7`         one address;  `10.0.0.0/8` a network: these may name private ranges
 * and PORT is a number or `*` (any, the default). A rule covers TCP and UDP alike.
 *
 * Private ranges are reachable only when a rule names them by address or by name, so `*` on a
 * trial download cannot scan the user's LAN or a cloud's metadata service, and a public name
 * whose DNS answer points inside the LAN (rebinding) is not reachable through `*` either.
 *
 * Several rule lists can apply at once (the app's spec, the signed policy, the user's
 * `--no-network`): a connection must be allowed by every list. No list at all: nothing.
 */

export type HostPattern =
  | { kind: "any" }
  | { kind: "name"; name: string; subdomains: boolean }
  | { kind: "net"; base: number; bits: number };

export interface OutboundRule {
  host: HostPattern;
  /** Undefined: any port. */
  port?: number;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The address as a 32-bit number, or undefined when `s` is not a dotted IPv4 address. */
export function ipv4Number(s: string): number | undefined {
  const m = IPV4.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

function inNet(ip: number, base: number, bits: number): boolean {
  if (bits === 0) return true;
  const mask = (~0 << (32 - bits)) >>> 0;
  return ((ip & mask) >>> 0) === ((base & mask) >>> 0);
}

/** Ranges `*` never reaches: this host, the LAN, link-local (cloud metadata), CGNAT, multicast, reserved. */
const NOT_PUBLIC: [string, number][] = [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16],
  ["172.16.0.0", 12], ["192.0.0.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["224.0.0.0", 4], ["240.0.0.0", 4],
];
const NOT_PUBLIC_NETS = NOT_PUBLIC.map(([a, bits]) => ({ base: ipv4Number(a)!, bits }));

export function isPublicIpv4(ip: number): boolean {
  return !NOT_PUBLIC_NETS.some((n) => inNet(ip, n.base, n.bits));
}

function parseHost(h: string): HostPattern | string {
  if (h === "*") return { kind: "any" };
  const [addr, bitsText, extra] = h.split("/");
  const ip = ipv4Number(addr);
  if (ip !== undefined && extra === undefined) {
    const bits = bitsText === undefined ? 32 : /^\d{1,2}$/.test(bitsText) ? Number(bitsText) : NaN;
    if (!(bits >= 0 && bits <= 32)) return `"${bitsText}" is not a prefix length from 0 to 32`;
    return { kind: "net", base: ip, bits };
  }
  const subdomains = h.startsWith("*.");
  const name = (subdomains ? h.slice(2) : h).toLowerCase().replace(/\.$/, "");
  if (name.length > 253 || !name.split(".").every((l) => LABEL.test(l))) return `"${h}" is not a host name, an IPv4 address or network, or *`;
  return { kind: "name", name, subdomains };
}

/** The rule, or why `text` is not one (a sentence fragment naming the problem). */
export function parseOutboundRule(text: string): OutboundRule | string {
  if (typeof text !== "string" || text.length === 0 || text.length > 300) return "a rule must be a non-empty string like \"example.com:443\"";
  if (text.includes("/") && text.includes("://")) return `"${text}" is a URL: write the host alone, like "example.com:443"`;
  const colon = text.lastIndexOf(":");
  const hostText = colon < 0 ? text : text.slice(0, colon);
  const portText = colon < 0 ? "*" : text.slice(colon + 1);
  const host = parseHost(hostText);
  if (typeof host === "string") return host;
  if (portText === "*") return { host };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return `"${portText}" is not a port from 1 to 65535 or *`;
  return { host, port };
}

/** Parses every rule; throws an Error naming the first bad one (callers wrap it in their own error). */
export function parseOutboundRules(texts: readonly string[]): OutboundRule[] {
  return texts.map((t) => {
    const r = parseOutboundRule(t);
    if (typeof r === "string") throw new Error(`outbound rule ${JSON.stringify(t)?.slice(0, 80)}: ${r}`);
    return r;
  });
}

function nameMatches(p: Extract<HostPattern, { kind: "name" }>, name: string): boolean {
  return p.subdomains ? name.endsWith(`.${p.name}`) : name === p.name;
}

function hostMatches(p: HostPattern, ip: number, names: Iterable<string>): boolean {
  if (p.kind === "any") return isPublicIpv4(ip);
  if (p.kind === "net") return inNet(ip, p.base, p.bits);
  for (const n of names) if (nameMatches(p, n)) return true;
  return false;
}

/**
 * The decision for one guest. Names are learnt from the DNS answers the guest was given, so a
 * rule naming a host allows the addresses that name resolved to, for as long as this runs.
 */
const MAX_LEARNT = 4096;

export class OutboundPolicy {
  private readonly lists: OutboundRule[][];
  private readonly namesByIp = new Map<number, Set<string>>();

  constructor(lists: readonly (readonly string[])[]) {
    this.lists = lists.map((l) => parseOutboundRules(l));
  }

  /** True when some connection could be allowed at all (a DNS query is worth answering). */
  get enabled(): boolean {
    return this.lists.length > 0 && this.lists.every((l) => l.length > 0);
  }

  /**
   * Whether looking `name` up could lead anywhere allowed. A name no rule could allow is never
   * sent to the host's resolver: a guest allowed one host must not tunnel data out in queries.
   */
  mayResolve(name: string): boolean {
    const n = name.toLowerCase().replace(/\.$/, "");
    return this.enabled && this.lists.every((l) => l.some((r) => r.host.kind !== "name" || nameMatches(r.host, n)));
  }

  /** Records that `name` is `ip` (a name the engine itself answers, like the host's). */
  learn(name: string, ip: number): void {
    this.answerable(name, [ip]);
  }

  /** The addresses of `name`'s answer the guest may be told: those some port of every list allows. */
  answerable(name: string, ips: readonly number[]): number[] {
    const n = name.toLowerCase().replace(/\.$/, "");
    const ok = ips.filter((ip) => this.enabled && this.lists.every((l) => l.some((r) => hostMatches(r.host, ip, [n]))));
    for (const ip of ok) {
      // Bounded: a guest looking up names forever must not grow the launcher without limit.
      if (!this.namesByIp.has(ip) && this.namesByIp.size >= MAX_LEARNT) this.namesByIp.delete(this.namesByIp.keys().next().value!);
      const names = this.namesByIp.get(ip) ?? new Set<string>();
      names.add(n);
      this.namesByIp.set(ip, names);
    }
    return ok;
  }

  allowsConnect(ipText: string, port: number): boolean {
    const ip = ipv4Number(ipText);
    if (ip === undefined || !this.enabled) return false;
    const names = this.namesByIp.get(ip) ?? [];
    return this.lists.every((l) => l.some((r) => (r.port === undefined || r.port === port) && hostMatches(r.host, ip, names)));
  }
}
