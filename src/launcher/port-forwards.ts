import { isIP } from "node:net";
import { VmsfxError } from "../errors";
import type { ForwardFailure, PortForward } from "../engine/engine-protocol";
import type { Manifest } from "../snapshot/manifest";

/**
 * Which host ports a launch serves, and listening on them before the guest runs: the app's own
 * ports (its spec's `ports`, kept in the manifest) on 127.0.0.1, changed or added to by the
 * user's `--publish [ADDRESS:]HOST:GUEST`. Only the loopback address unless the user names another.
 */

export const LOOPBACK = "127.0.0.1";

/** One `--publish` value, parsed. */
export type PublishRequest = PortForward;

function usage(value: string, why: string): never {
  throw new VmsfxError("VMSFX_USAGE", `--publish ${value}: ${why}. Write it as HOST:GUEST (8080:80) or ADDRESS:HOST:GUEST (127.0.0.1:8080:80); HOST 0 picks a free port.`);
}

function port(value: string, text: string, min: number): number {
  if (!/^\d{1,5}$/.test(text)) usage(value, `${JSON.stringify(text)} is not a port number`);
  const n = Number(text);
  if (n < min || n > 65535) usage(value, `port ${n} is out of range (${min} to 65535)`);
  return n;
}

export function parsePublish(value: string): PublishRequest {
  const parts = value.split(":");
  if (parts.length < 2) usage(value, "it names no guest port");
  const guest = port(value, parts.pop()!, 1);
  const host = port(value, parts.pop()!, 0);
  // What is left is the address; an IPv6 one has colons of its own and comes in brackets.
  const rest = parts.join(":").replace(/^\[(.*)\]$/, "$1");
  const address = rest === "" ? LOOPBACK : rest === "localhost" ? LOOPBACK : rest;
  if (isIP(address) === 0) usage(value, `${JSON.stringify(rest)} is not an IP address`);
  return { address, host, guest };
}

/** The app's ports with the user's requests applied: one for the same guest port replaces the app's. */
export function forwardsFor(m: Manifest, publish: readonly PublishRequest[], file: string): PortForward[] {
  const own = (m.app?.ports ?? []).map((p): PortForward => ({ address: LOOPBACK, host: p.host, guest: p.guest }));
  if (own.length === 0 && publish.length === 0) return [];
  if (m.machine.nic === undefined) {
    throw new VmsfxError("VMSFX_USAGE", `${file}: this app's guest has no network card, so --publish cannot reach it. Only apps built with "ports" in their spec (vmsfx build) have one.`);
  }
  const byGuest = new Map(own.map((f) => [f.guest, f]));
  for (const p of publish) byGuest.set(p.guest, p);
  const out = [...byGuest.values()];
  const seen = new Set<string>();
  for (const f of out) {
    const key = `${f.address}:${f.host}`;
    if (f.host !== 0 && seen.has(key)) throw new VmsfxError("VMSFX_USAGE", `host port ${key} is named for two guest ports; give each its own with --publish HOST:GUEST.`);
    seen.add(key);
  }
  return out;
}

/** The error for a port that could not be listened on, naming it and what to do instead. */
export function forwardError(f: ForwardFailure): VmsfxError {
  const { address, host, guest } = f.forward;
  const what = `host port ${address}:${host} (for the app's port ${guest})`;
  const fix = `run it with --publish ${host === 0 ? 8000 : host + 1}:${guest} to use another port, or --publish 0:${guest} for any free one`;
  if (f.reason === "in-use") return new VmsfxError("VMSFX_PORT_UNAVAILABLE", `${what} is in use by another program: close that program, or ${fix}.`);
  if (f.reason === "denied") return new VmsfxError("VMSFX_PORT_UNAVAILABLE", `${what} needs privileges this user does not have (ports below 1024 do on most systems): ${fix}.`);
  return new VmsfxError("VMSFX_PORT_UNAVAILABLE", `${what} could not be listened on (${f.message}): ${fix}.`);
}

/** Listens on every forward before the guest runs; a port that cannot be had fails the launch. */
export async function listenForwards(host: { forward(f: PortForward[]): Promise<{ bound: PortForward[]; failure?: ForwardFailure }> }, forwards: PortForward[]): Promise<PortForward[]> {
  if (forwards.length === 0) return [];
  const r = await host.forward(forwards);
  if (r.failure) throw forwardError(r.failure);
  return r.bound;
}

/** The URL of a forwarded guest port, as the user's browser reaches it. */
export function urlOf(bound: readonly PortForward[], guestPort: number, path: string): string | undefined {
  const f = bound.find((b) => b.guest === guestPort);
  if (!f) return undefined;
  const host = f.address === "0.0.0.0" || f.address === "::" ? LOOPBACK : f.address.includes(":") ? `[${f.address}]` : f.address;
  return `http://${host}:${f.host}${path}`;
}
