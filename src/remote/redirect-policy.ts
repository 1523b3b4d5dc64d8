import type { Verdict } from "./remote-error";

/**
 * Where a redirect may lead. Ours rather than undici's redirect interceptor, which has no way to
 * refuse a hop before it is sent (a plain-http hop to another server must never be asked) and
 * reports loops and bad schemes as untyped errors.
 */

export const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** A request target: the URL without its credentials, and the Authorization they stand for. */
export interface Hop {
  url: URL;
  authorization?: string;
}

export function hopFor(url: URL, carried?: Hop): Hop {
  const bare = new URL(url.href);
  bare.username = bare.password = "";
  // Credentials in the URL become Basic auth (as Node's http did); otherwise the previous hop's
  // Authorization goes along only to the same origin, never to another server.
  const own = url.username || url.password ? basic(url) : undefined;
  const authorization = own ?? (carried && carried.url.origin === bare.origin ? carried.authorization : undefined);
  return authorization === undefined ? { url: bare } : { url: bare, authorization };
}

export function nextHop(from: Hop, status: number, location: string | undefined, hops: number, maxRedirects: number): Hop | Verdict {
  if (!location) return refuse(`answered ${status} without a Location`);
  if (hops >= maxRedirects) return refuse(`more than ${maxRedirects} redirects (a redirect loop?). Check the server address`);
  let next: URL;
  try {
    next = new URL(location, from.url);
  } catch {
    return refuse("redirects to an invalid address");
  }
  if (next.protocol !== "http:" && next.protocol !== "https:") return refuse(`redirects to ${next.protocol} which is not supported; refused`);
  // Same server, or anywhere over https: a plain-http redirect to another host could be
  // anyone on the path. (Blocks are hash-checked anyway; this keeps requests honest.)
  if (next.origin !== from.url.origin && next.protocol !== "https:" && !(isLoopback(next) && isLoopback(from.url))) return refuse(`redirects to ${next.origin}, another server over plain http; refused`);
  return hopFor(next, from);
}

/** This machine: a plain-http hop between two of its own servers crosses no network. */
function isLoopback(u: URL): boolean {
  return u.hostname === "localhost" || u.hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(u.hostname);
}

function basic(url: URL): string {
  const user = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return `Basic ${Buffer.from(user).toString("base64")}`;
}

const refuse = (reason: string): Verdict => ({ kind: "protocol", reason });
