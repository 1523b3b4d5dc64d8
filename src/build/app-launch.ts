import * as path from "node:path";
import { VmsfxError } from "../errors";
import type { AppSpec } from "./app-spec";
import type { ExtraFile, TreeView } from "./flat-rootfs";
import type { ImageDefaults } from "./oci-image";

/**
 * How the guest agent starts the app, decided at build time against the merged file system, so
 * the guest does no lookups of its own: the program's path (searched in PATH), the user as
 * numbers (from the image's /etc/passwd and /etc/group), the environment and the folder. The
 * result is written into the app's root as `/.vmsfx/app.sh`, which the agent sources.
 */

export interface AppLaunch {
  /** Absolute guest path of the program. */
  program: string;
  /** argv, always given: the program's words before the user's arguments. */
  fixed: string[];
  /** Used in place of the user's arguments when there are none (an image's Cmd after its Entrypoint). */
  defaults: string[];
  /** NAME=value, in order; TERM is the agent's. */
  env: string[];
  workdir: string;
  uid: number;
  gid: number;
  data: string[];
}

export const APP_SCRIPT_PATH = "/.vmsfx/app.sh";
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function bad(spec: AppSpec, field: string, what: string): VmsfxError {
  return new VmsfxError("VMSFX_RECIPE_INVALID", `${spec.file}: "${field}" ${what}.`);
}

/** Spec first, then the image's defaults (Docker's rules: Entrypoint + Cmd, Env, WorkingDir, User). */
export async function resolveLaunch(spec: AppSpec, image: ImageDefaults | undefined, view: TreeView): Promise<AppLaunch> {
  const { fixed, defaults } = commandLine(spec, image);
  const env = new Map<string, string>();
  for (const kv of image?.env ?? []) {
    const eq = kv.indexOf("=");
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  for (const [k, v] of Object.entries(spec.env)) env.set(k, v);
  if (!env.has("PATH")) env.set("PATH", DEFAULT_PATH);
  env.delete("TERM");
  const user = await resolveUser(spec, spec.user ?? image?.user ?? "0", view);
  if (!env.has("HOME")) env.set("HOME", user.home);
  const workdir = spec.workdir ?? image?.workingDir ?? "/";
  if (!workdir.startsWith("/")) throw bad(spec, "workdir", `must be an absolute path (the image says ${JSON.stringify(workdir)})`);
  const program = resolveProgram(spec, fixed[0], env.get("PATH")!, workdir, view);
  return { program, fixed, defaults, env: [...env].map(([k, v]) => `${k}=${v}`), workdir, uid: user.uid, gid: user.gid, data: spec.data };
}

function commandLine(spec: AppSpec, image: ImageDefaults | undefined): { fixed: string[]; defaults: string[] } {
  if (spec.run) return { fixed: spec.run, defaults: [] };
  const entry = image?.entrypoint ?? [];
  const cmd = image?.cmd ?? [];
  if (entry.length) return { fixed: entry, defaults: cmd };
  if (cmd.length) return { fixed: cmd, defaults: [] };
  throw bad(spec, "run", image ? "is needed: the image has neither an Entrypoint nor a Cmd" : "is needed: say which command starts the app");
}

function isExecutableFile(view: TreeView, guestPath: string): boolean {
  let e = view.tree.get(view.tree.follow(guestPath));
  if (e?.type === "link") e = view.tree.get(e.linkname!);
  return e?.type === "file" && (e.mode & 0o111) !== 0;
}

function resolveProgram(spec: AppSpec, word: string, searchPath: string, workdir: string, view: TreeView): string {
  if (word.includes("/")) {
    const p = path.posix.resolve(workdir, word);
    if (!isExecutableFile(view, p)) throw bad(spec, "run", `names ${p}, which is not an executable file in the app's file system`);
    return p;
  }
  for (const dir of searchPath.split(":")) {
    if (!dir.startsWith("/")) continue;
    const p = path.posix.join(dir, word);
    if (isExecutableFile(view, p)) return p;
  }
  throw bad(spec, "run", `starts with ${JSON.stringify(word)}, which is in none of the app's PATH folders (${searchPath})${spec.packages.length ? "; is its Debian package in \"packages\"?" : ""}`);
}

interface Passwd {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parseTable(text: string | undefined): string[][] {
  return (text ?? "").split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(":"));
}

async function resolveUser(spec: AppSpec, user: string, view: TreeView): Promise<{ uid: number; gid: number; home: string }> {
  const passwd: Passwd[] = parseTable((await view.readFile("/etc/passwd"))?.toString("utf8")).map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || "/" }));
  const groups = parseTable((await view.readFile("/etc/group"))?.toString("utf8")).map((f) => ({ name: f[0], gid: Number(f[2]) }));
  const [u, g] = user.split(":");
  const numeric = /^\d+$/.test(u);
  const entry = numeric ? passwd.find((p) => p.uid === Number(u)) : passwd.find((p) => p.name === u);
  if (!numeric && !entry) throw bad(spec, "user", `names ${JSON.stringify(u)}, who is not in the app's /etc/passwd`);
  const uid = numeric ? Number(u) : entry!.uid;
  let gid = entry?.gid ?? (numeric ? Number(u) : 0);
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const grp = groups.find((x) => x.name === g);
      if (!grp) throw bad(spec, "user", `names the group ${JSON.stringify(g)}, which is not in the app's /etc/group`);
      gid = grp.gid;
    }
  }
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw bad(spec, "user", "has an id out of range");
  return { uid, gid, home: entry?.home ?? "/" };
}

/** Single-quoted for sh: every byte but NUL stands for itself. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `/.vmsfx/app.sh`: sourced by the agent; app_exec runs the app with the user's arguments. */
export function appScript(l: AppLaunch): ExtraFile {
  const q = (words: string[]) => words.map(shellQuote).join(" ");
  const text = [
    "# Written by vmsfx build: how the guest agent starts this app (see build-scripts/guest-base/vmsfx-agent).",
    `APP_DATA=${shellQuote(l.data.join("\n"))}`,
    "app_exec() {",
    l.defaults.length ? `\t[ $# -gt 0 ] || set -- ${q(l.defaults)}` : "",
    `\texec env -i ${q(l.env)} "TERM=$TERM" /bin/vmsfx-exec /vmsfx/root ${shellQuote(l.workdir)} ${l.uid} ${l.gid} ${shellQuote(l.program)} ${q(l.fixed)} "$@"`,
    "}",
    "",
  ].filter((line) => line !== "").join("\n");
  return { path: APP_SCRIPT_PATH, data: Buffer.from(`${text}\n`), mode: 0o644 };
}
