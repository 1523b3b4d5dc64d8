import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { parseOutboundRule } from "../engine/outbound-rules";

/**
 * An app spec (`app.json`): what a publisher writes to turn a Linux program into one file
 * (issue 12). It is validated field by field before anything is downloaded or booted, and every
 * error names the field and says what it must be. This module only reads and checks the spec;
 * the build that follows it (the guest base, Debian or OCI inputs, capture) is separate.
 */

/** Where the app's files come from: a `docker save` archive, an OCI image layout folder, or its tar. */
export interface ImageSource {
  /** Absolute host path, resolved against the spec's folder. */
  path: string;
}

/** A host file or folder copied into the app's file system. */
export interface FileCopy {
  /** Absolute host path, resolved against the spec's folder. */
  from: string;
  /** Absolute, normalised guest path (never `..`, never the root itself). */
  to: string;
}

/**
 * When the app is ready (the build's trial run): a console pattern, the console falling quiet
 * after output, or the guest accepting TCP connections on a port (a server that listens).
 */
export type ReadyWhen = { serial: RegExp; timeoutSeconds: number } | { quietMs: number; timeoutSeconds: number } | { port: number; timeoutSeconds: number };

/** A guest TCP port the launcher serves on the user's machine (127.0.0.1:`host`); `host` 0: any free port. */
export interface AppPort {
  guest: number;
  host: number;
}

export interface AppSpec {
  /** The spec file, for messages. */
  file: string;
  /** Lower-case letters, digits, `.`, `_`, `-`: it names files and desktop entries. */
  name: string;
  description?: string;
  /** An .svg or .png file (absolute host path). */
  icon?: string;
  memoryMiB: number;
  /** Size of the app's own file system disk. */
  diskMiB: number;
  /** Size of the data disk (the user's work under `data`); fixed once the app is built. */
  dataMiB: number;
  /** Debian i386 package names, resolved with their dependencies by Debian's tooling. */
  packages: string[];
  image?: ImageSource;
  files: FileCopy[];
  /** The app's command line (exec form); a string in the spec is run by `/bin/sh -c`. Absent: the image's Entrypoint/Cmd. */
  run?: string[];
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  ready: ReadyWhen;
  /** Guest paths that hold the user's work, kept across launches. */
  data: string[];
  /** Guest TCP ports served on the host; any port gives the guest a network card. */
  ports: AppPort[];
  /** The app's web page: opened in the user's browser once its port answers. */
  open?: AppOpen;
  /** Where the guest may connect out (engine/outbound-rules.ts); `true` in the spec is `["*"]`. Empty: nowhere. */
  outbound: string[];
}

/** A web app's page: `path` on the forwarded `guestPort` (the host port is known only at launch). */
export interface AppOpen {
  guestPort: number;
  /** Path, query and fragment, starting with `/`. */
  path: string;
}

const FIELDS = ["name", "description", "icon", "memoryMiB", "diskMiB", "dataMiB", "packages", "image", "files", "run", "env", "workdir", "user", "ready", "data", "ports", "open", "outbound"];
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
// Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters, starting alphanumeric.
const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER = /^([a-z_][a-z0-9_-]{0,31}|[0-9]{1,10})(:([a-z_][a-z0-9_-]{0,31}|[0-9]{1,10}))?$/;

class SpecReader {
  constructor(
    readonly file: string,
    private readonly raw: Record<string, unknown>,
  ) {}

  fail(field: string, what: string): never {
    throw new VmsfxError("VMSFX_RECIPE_INVALID", `${this.file}: "${field}" ${what}. The app spec's fields are listed in README.md ("Package your own app").`);
  }

  get(field: string): unknown {
    return this.raw[field];
  }

  string(field: string, value: unknown = this.raw[field]): string {
    if (typeof value !== "string" || value.length === 0) this.fail(field, "must be a non-empty string");
    if (/[\0\n]/.test(value)) this.fail(field, "must not contain NUL or newline characters");
    return value;
  }

  optionalString(field: string): string | undefined {
    return this.raw[field] === undefined ? undefined : this.string(field);
  }

  integer(field: string, min: number, max: number, dflt: number): number {
    const v = this.raw[field] ?? dflt;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) this.fail(field, `must be an integer from ${min} to ${max}`);
    return v;
  }

  /** A host path, resolved against the spec's folder. */
  hostPath(field: string, value: unknown = this.raw[field]): string {
    return path.resolve(path.dirname(path.resolve(this.file)), this.string(field, value));
  }

  /** An absolute guest path, normalised; `..` and the root itself are refused. */
  guestPath(field: string, value: unknown = this.raw[field], allowRoot = false): string {
    const v = this.string(field, value);
    if (!v.startsWith("/")) this.fail(field, `must be an absolute guest path (starting with /), got ${JSON.stringify(v)}`);
    if (v.split("/").includes("..")) this.fail(field, `must not contain "..", got ${JSON.stringify(v)}`);
    const norm = path.posix.normalize(v).replace(/(.)\/$/, "$1");
    if (norm === "/" && !allowRoot) this.fail(field, "must name a path below /, not / itself");
    return norm;
  }

  array(field: string): unknown[] {
    const v = this.raw[field] ?? [];
    if (!Array.isArray(v)) this.fail(field, "must be an array");
    return v;
  }
}

function parseReady(r: SpecReader): ReadyWhen {
  const v = r.get("ready");
  if (typeof v !== "object" || v === null || Array.isArray(v)) return r.fail("ready", 'must be {"serial": "<regular expression>"}, {"quietMs": <milliseconds>} or {"port": <guest TCP port>}');
  const o = v as Record<string, unknown>;
  const timeoutSeconds = o.timeoutSeconds ?? 120;
  if (typeof timeoutSeconds !== "number" || !(timeoutSeconds > 0) || timeoutSeconds > 3600) r.fail("ready.timeoutSeconds", "must be a number of seconds from 1 to 3600");
  const unknown = Object.keys(o).filter((k) => !["serial", "quietMs", "port", "timeoutSeconds"].includes(k));
  if (unknown.length) r.fail(`ready.${unknown[0]}`, "is not a field of ready (serial, quietMs, port, timeoutSeconds)");
  if ([o.serial, o.quietMs, o.port].filter((x) => x !== undefined).length !== 1) r.fail("ready", 'must have exactly one of "serial", "quietMs" and "port"');
  if (o.port !== undefined) return { port: tcpPort(r, "ready.port", o.port), timeoutSeconds };
  if (o.quietMs !== undefined) {
    if (typeof o.quietMs !== "number" || !Number.isInteger(o.quietMs) || o.quietMs < 100 || o.quietMs > 60_000) r.fail("ready.quietMs", "must be an integer from 100 to 60000");
    return { quietMs: o.quietMs, timeoutSeconds };
  }
  const source = r.string("ready.serial", o.serial);
  try {
    return { serial: new RegExp(source), timeoutSeconds };
  } catch (e) {
    return r.fail("ready.serial", `is not a valid regular expression (${(e as Error).message})`);
  }
}

function tcpPort(r: SpecReader, field: string, v: unknown, min = 1): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > 65535) r.fail(field, `must be a TCP port number from ${min} to 65535`);
  return v;
}

/** `"ports": [80, {"guest": 80, "host": 8080}]`: a number serves the guest port on the same host port. */
function parsePorts(r: SpecReader): AppPort[] {
  const ports = r.array("ports").map((p, i): AppPort => {
    if (typeof p === "number") return { guest: tcpPort(r, `ports[${i}]`, p), host: p };
    if (typeof p !== "object" || p === null || Array.isArray(p)) return r.fail(`ports[${i}]`, 'must be a guest port number or {"guest": <port>, "host": <port, 0 for any free one>}');
    const o = p as Record<string, unknown>;
    const extra = Object.keys(o).find((k) => k !== "guest" && k !== "host");
    if (extra) r.fail(`ports[${i}].${extra}`, "is not a field of a port (guest, host)");
    const guest = tcpPort(r, `ports[${i}].guest`, o.guest);
    return { guest, host: o.host === undefined ? guest : tcpPort(r, `ports[${i}].host`, o.host, 0) };
  });
  const guests = new Set<number>();
  ports.forEach((p, i) => {
    if (guests.has(p.guest)) r.fail(`ports[${i}]`, `names guest port ${p.guest} twice`);
    guests.add(p.guest);
    if (p.host !== 0 && ports.findIndex((q) => q.host === p.host) !== i) r.fail(`ports[${i}]`, `names host port ${p.host} twice`);
  });
  return ports;
}

/** `"open": "http://localhost:8080/path"`: a page on one of the forwarded ports, named by its host port as in the spec. */
function parseOpen(r: SpecReader, ports: AppPort[]): AppOpen | undefined {
  const v = r.optionalString("open");
  if (v === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return r.fail("open", `must be a URL such as "http://localhost:8080/" (got ${JSON.stringify(v)})`);
  }
  if (url.protocol !== "http:" || !["localhost", "127.0.0.1"].includes(url.hostname) || url.username || url.password) r.fail("open", 'must be an http://localhost:<port>/ URL on one of "ports"');
  const port = Number(url.port || 80);
  const forward = ports.find((p) => p.host === port) ?? ports.find((p) => p.host === 0 && p.guest === port);
  if (!forward) return r.fail("open", `names port ${port}, which is not a host port in "ports" (${ports.map((p) => p.host).join(", ") || "none"})`);
  return { guestPort: forward.guest, path: `${url.pathname}${url.search}${url.hash}` };
}

function parseRun(r: SpecReader): string[] | undefined {
  const v = r.get("run");
  if (v === undefined) return undefined;
  if (typeof v === "string") return ["/bin/sh", "-c", r.string("run")];
  if (!Array.isArray(v) || v.length === 0) return r.fail("run", "must be a command line: an array of strings (exec form) or one string for /bin/sh -c");
  return v.map((a, i) => {
    if (typeof a !== "string" || /\0/.test(a)) r.fail(`run[${i}]`, "must be a string without NUL characters");
    return a;
  });
}

function parseEnv(r: SpecReader): Record<string, string> {
  const v = r.get("env") ?? {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) return r.fail("env", 'must be an object of names to values ({"LANG": "C.UTF-8"})');
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (!ENV_KEY.test(k)) r.fail(`env.${k}`, "is not a valid variable name (letters, digits and _, not starting with a digit)");
    if (typeof val !== "string" || /\0/.test(val)) r.fail(`env.${k}`, "must be a string without NUL characters");
    out[k] = val;
  }
  return out;
}

function parseSources(r: SpecReader): Pick<AppSpec, "packages" | "image" | "files"> {
  const packages = r.array("packages").map((p, i) => {
    const name = r.string(`packages[${i}]`, p);
    if (!DEBIAN_PACKAGE.test(name)) r.fail(`packages[${i}]`, `is not a Debian package name (${JSON.stringify(name)}; lower case letters, digits, + - .)`);
    return name;
  });
  const img = r.get("image");
  const image = img === undefined ? undefined : { path: r.hostPath("image", typeof img === "object" && img !== null && !Array.isArray(img) ? (img as { path?: unknown }).path : img) };
  const files = r.array("files").map((f, i) => {
    if (typeof f !== "object" || f === null || Array.isArray(f)) r.fail(`files[${i}]`, 'must be {"from": "<host path>", "to": "<guest path>"}');
    const o = f as Record<string, unknown>;
    return { from: r.hostPath(`files[${i}].from`, o.from), to: r.guestPath(`files[${i}].to`, o.to) };
  });
  return { packages, image, files };
}

/** Checks a parsed spec object; `file` is named in every message. */
export function validateAppSpec(raw: unknown, file: string): AppSpec {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new VmsfxError("VMSFX_RECIPE_INVALID", `${file}: must hold a JSON object (an app spec). See README.md ("Package your own app").`);
  }
  const r = new SpecReader(file, raw as Record<string, unknown>);
  // A misspelt field would otherwise be ignored and the build would quietly do something else.
  const unknown = Object.keys(raw).filter((k) => !FIELDS.includes(k));
  if (unknown.length) r.fail(unknown[0], `is not a field of an app spec (fields: ${FIELDS.join(", ")})`);
  const name = r.string("name");
  if (!NAME.test(name)) r.fail("name", "must be 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit");
  const icon = r.get("icon") === undefined ? undefined : r.hostPath("icon");
  if (icon && !/\.(svg|png)$/i.test(icon)) r.fail("icon", "must name an .svg or .png file");
  const user = r.optionalString("user");
  if (user !== undefined && !USER.test(user)) r.fail("user", "must be a user name or uid, optionally with :group or :gid");
  const data = r.array("data").map((d, i) => r.guestPath(`data[${i}]`, d));
  const workdir = r.get("workdir") === undefined ? undefined : r.guestPath("workdir", undefined, true);
  const ports = parsePorts(r);
  const ready = parseReady(r);
  if ("port" in ready && !ports.some((p) => p.guest === ready.port)) r.fail("ready.port", `must be one of the guest ports in "ports" (${ports.map((p) => p.guest).join(", ") || "none"})`);
  return {
    file,
    name,
    description: r.optionalString("description"),
    icon,
    memoryMiB: r.integer("memoryMiB", 16, 2048, 128),
    diskMiB: r.integer("diskMiB", 8, 65536, 512),
    dataMiB: r.integer("dataMiB", 8, 65536, 512),
    ...parseSources(r),
    run: parseRun(r),
    env: parseEnv(r),
    workdir,
    user,
    ready,
    data,
    ports,
    open: parseOpen(r, ports),
    outbound: parseOutbound(r),
  };
}

/** `"outbound": true` (any public address) or a list of rules like "example.com:443"; absent or false: none. */
function parseOutbound(r: SpecReader): string[] {
  const v = r.get("outbound");
  if (v === undefined || v === false) return [];
  if (v === true) return ["*"];
  if (!Array.isArray(v)) return r.fail("outbound", 'must be true, false, or a list of rules like "example.com:443", "*.example.org", "203.0.113.0/24:80", "*:443"');
  return v.map((rule, i) => {
    const parsed = typeof rule === "string" ? parseOutboundRule(rule) : "must be a string";
    return typeof parsed === "string" ? r.fail(`outbound[${i}]`, parsed) : (rule as string);
  });
}

/** Reads and checks an app spec file. */
export async function loadAppSpec(file: string): Promise<AppSpec> {
  const text = await fsp.readFile(file, "utf8").catch((e) => Promise.reject(fromFsError(e, file, "reading the app spec")));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new VmsfxError("VMSFX_RECIPE_INVALID", `${file}: is not valid JSON (${(e as Error).message}).`);
  }
  return validateAppSpec(raw, file);
}
