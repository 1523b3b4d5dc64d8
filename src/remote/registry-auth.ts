import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { VmsfxError } from "../errors";

/**
 * Who we are to a registry. The distribution spec's flow: a request without credentials gets a
 * 401 whose WWW-Authenticate names a token service (Bearer) or asks for Basic; the token service
 * gives a short-lived token for a scope ("repository:owner/app:pull"), with the user's
 * credentials when there are any (anonymous pulls get one too). Credentials come from
 * VMSFX_REGISTRY_AUTH ("user:password", for CI) or the Docker config file that `docker login`,
 * `podman login` and `skopeo login` write (~/.docker/config.json, or $DOCKER_CONFIG/config.json).
 */

export type Challenge = { scheme: "bearer"; realm: string; service?: string } | { scheme: "basic" };

export interface Credentials {
  username: string;
  password: string;
  /** Where they came from, for messages (never the secret itself). */
  source: string;
}

/** The first Bearer or Basic challenge of a WWW-Authenticate header, or undefined. */
export function parseChallenge(value: string | undefined): Challenge | undefined {
  if (!value) return undefined;
  const m = /^\s*(bearer|basic)\b\s*(.*)$/i.exec(value);
  if (!m) return undefined;
  if (m[1].toLowerCase() === "basic") return { scheme: "basic" };
  const params: Record<string, string> = {};
  const re = /\s*([a-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?/giy;
  re.lastIndex = 0;
  const rest = m[2];
  for (let p = re.exec(rest); p; p = re.exec(rest)) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3];
  if (!params.realm) return undefined;
  let realm: URL;
  try {
    realm = new URL(params.realm);
  } catch {
    return undefined;
  }
  if (realm.protocol !== "https:" && realm.protocol !== "http:") return undefined;
  return { scheme: "bearer", realm: realm.href, ...(params.service ? { service: params.service } : {}) };
}

function dockerConfigPath(env: NodeJS.ProcessEnv): string {
  return path.join(env.DOCKER_CONFIG || path.join(os.homedir(), ".docker"), "config.json");
}

/** The keys `docker login` may have stored a registry's credentials under. */
function configKeys(registry: string): string[] {
  const keys = [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
  if (registry === "docker.io") keys.push("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io");
  return keys;
}

/** The user's credentials for `registry`, or undefined (anonymous). A config that cannot be read is an error the user can fix. */
export async function findCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  const fromEnv = env.VMSFX_REGISTRY_AUTH;
  if (fromEnv) {
    const colon = fromEnv.indexOf(":");
    if (colon <= 0) throw new VmsfxError("VMSFX_USAGE", "VMSFX_REGISTRY_AUTH must be user:password (or user:token).");
    return { username: fromEnv.slice(0, colon), password: fromEnv.slice(colon + 1), source: "VMSFX_REGISTRY_AUTH" };
  }
  const file = dockerConfigPath(env);
  const text = await fsp.readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" || e.code === "ENOTDIR" ? undefined : Promise.reject(e)));
  if (text === undefined) return undefined;
  let config: { auths?: Record<string, { auth?: unknown; username?: unknown; password?: unknown; identitytoken?: unknown }>; credsStore?: unknown; credHelpers?: Record<string, unknown> };
  try {
    config = JSON.parse(text);
  } catch {
    throw new VmsfxError("VMSFX_USAGE", `${file} is not valid JSON; fix it, or set VMSFX_REGISTRY_AUTH=user:password.`);
  }
  for (const key of configKeys(registry)) {
    const entry = config.auths?.[key];
    if (!entry) continue;
    if (typeof entry.auth === "string" && entry.auth) {
      const plain = Buffer.from(entry.auth, "base64").toString("utf8");
      const colon = plain.indexOf(":");
      if (colon > 0) return { username: plain.slice(0, colon), password: plain.slice(colon + 1), source: file };
    }
    if (typeof entry.username === "string" && typeof entry.password === "string") return { username: entry.username, password: entry.password, source: file };
  }
  const helper = config.credHelpers?.[registry] ?? config.credsStore;
  if (typeof helper === "string") {
    // Running a credential helper means running whatever program the config names; we don't.
    throw new VmsfxError("VMSFX_REGISTRY_DENIED", `${file} keeps the credentials for ${registry} in the "${helper}" credential helper, which vmsfx does not run. Set VMSFX_REGISTRY_AUTH=user:token instead.`);
  }
  return undefined;
}

export function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}

/** The token service's URL for a scope (`repository:NAME:pull` or `…:pull,push`). */
export function tokenUrl(c: Extract<Challenge, { scheme: "bearer" }>, scopes: string[]): string {
  const u = new URL(c.realm);
  if (c.service) u.searchParams.set("service", c.service);
  for (const s of scopes) u.searchParams.append("scope", s);
  return u.href;
}

export interface Token {
  value: string;
  /** ms since the epoch after which it is asked for again (a little before it really expires). */
  expiresAt: number;
}

/** Reads a token service's answer ({token} or {access_token}, expires_in seconds, default 60). */
export function parseToken(body: Buffer, now = Date.now()): Token | undefined {
  let o: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    o = JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
  const value = typeof o.token === "string" && o.token ? o.token : typeof o.access_token === "string" && o.access_token ? o.access_token : undefined;
  if (!value || /[\r\n]/.test(value)) return undefined;
  const seconds = typeof o.expires_in === "number" && o.expires_in > 0 ? o.expires_in : 60;
  return { value, expiresAt: now + Math.max(5, seconds - 10) * 1000 };
}
