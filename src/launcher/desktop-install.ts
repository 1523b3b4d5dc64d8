import type { GuestIcon } from "../snapshot/manifest";
import { promises as fsp } from "node:fs";
import { createHash } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { writeFileAtomic } from "../snapshot/atomic-file";
import { readPublicHeader } from "../snapshot/bundle-reader";
import { openSnapshot } from "../snapshot/open-snapshot";

/**
 * `./app --install` and `--uninstall`: a freedesktop menu entry (.desktop file and icon) and a
 * command on the user's PATH, for one vmsfx executable. What was installed is recorded, and
 * uninstall removes only files that are still exactly what it wrote for this app, so a user's own
 * file of the same name is never touched.
 */

export interface DesktopApp {
  /** Absolute path of the executable. */
  appPath: string;
  /** The guest's name (the menu entry's name; the command is made from it). */
  name: string;
  description?: string;
  /** A publisher's icon; without one a generated SVG stands in. */
  icon?: { bytes: Uint8Array; ext: "svg" | "png" };
}

export interface InstallDirs {
  applications: string;
  icons: string;
  bin: string;
  records: string;
}

interface InstallRecord {
  app: string;
  files: { path: string; sha256: string }[];
}

/** XDG base directories as the spec says: a relative or empty value is ignored. */
export function installDirs(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): InstallDirs {
  const abs = (v: string | undefined) => (v && path.isAbsolute(v) ? v : undefined);
  const data = abs(env.XDG_DATA_HOME) ?? path.join(home, ".local", "share");
  return {
    applications: path.join(data, "applications"),
    icons: path.join(data, "icons", "hicolor"),
    // Not in the XDG spec, but systemd's file-hierarchy and most distributions put ~/.local/bin on PATH.
    bin: abs(env.XDG_BIN_HOME) ?? path.join(home, ".local", "bin"),
    records: path.join(data, "vmsfx", "installed"),
  };
}

/** A name usable as a command and a desktop-file id: lower case, letters, digits and dashes. */
export function commandName(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 48);
  return slug || "vmsfx-app";
}

/** The Desktop Entry spec's quoting for an Exec argument, then its escaping for a string value. */
export function execQuote(arg: string): string {
  const quoted = /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/(["`$\\])/g, "\\$1")}"`;
  return quoted.replace(/%/g, "%%").replace(/\\/g, "\\\\");
}

/** A string value in a .desktop file: no line breaks, backslashes escaped. */
function desktopValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const WRAPPER_MARK = "# vmsfx wrapper for ";

function desktopEntry(app: DesktopApp, iconName: string): string {
  return [
    "[Desktop Entry]",
    "Type=Application",
    `Name=${desktopValue(app.name)}`,
    ...(app.description ? [`Comment=${desktopValue(app.description)}`] : []),
    `Exec=${execQuote(app.appPath)}`,
    `Icon=${iconName}`,
    // The guest's console is a terminal.
    "Terminal=true",
    "Categories=Utility;",
    `X-Vmsfx-App=${desktopValue(app.appPath)}`,
    "",
  ].join("\n");
}

function wrapperScript(appPath: string): string {
  return `#!/bin/sh\n${WRAPPER_MARK}${appPath}\nexec ${shQuote(appPath)} "$@"\n`;
}

/** A plain stand-in icon: a terminal window with the name's first letter. */
function generatedIcon(name: string): string {
  const letter = (name.trim()[0] ?? "v").toUpperCase().replace(/[<>&"']/g, "v");
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">',
    '<rect x="8" y="16" width="112" height="96" rx="12" fill="#1e2430"/>',
    '<rect x="8" y="16" width="112" height="18" rx="9" fill="#3b4456"/>',
    '<text x="64" y="92" font-family="monospace" font-size="56" font-weight="bold" fill="#7fd1a8" text-anchor="middle">',
    letter,
    "</text></svg>",
    "",
  ].join("");
}

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

async function readIfExists(p: string): Promise<Buffer | undefined> {
  try {
    return await fsp.readFile(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fromFsError(e, p, "reading");
  }
}

async function readRecord(file: string): Promise<InstallRecord | undefined> {
  const bytes = await readIfExists(file);
  if (!bytes) return undefined;
  try {
    const r = JSON.parse(bytes.toString("utf8")) as InstallRecord;
    if (typeof r.app === "string" && Array.isArray(r.files)) return r;
  } catch {
    // A damaged record protects nothing; treat it as absent.
  }
  return undefined;
}

export interface InstallResult {
  command: string;
  files: string[];
  /** The command's folder is not on PATH: the user has to add it (or use the menu entry). */
  binNotOnPath: boolean;
}

export async function installDesktop(app: DesktopApp, dirs: InstallDirs = installDirs(), envPath = process.env.PATH ?? ""): Promise<InstallResult> {
  const command = commandName(app.name);
  const id = `vmsfx-${command}`;
  const recordFile = path.join(dirs.records, `${id}.json`);
  const previous = await readRecord(recordFile);
  if (previous && previous.app !== app.appPath) {
    throw new VmsfxError("VMSFX_IO", `another copy of "${app.name}" (${previous.app}) is installed as ${id}. Run it with --uninstall first.`);
  }
  const iconExt = app.icon?.ext ?? "svg";
  const files: [string, string | Uint8Array, number][] = [
    [path.join(dirs.applications, `${id}.desktop`), desktopEntry(app, id), 0o644],
    [path.join(dirs.icons, iconExt === "svg" ? "scalable" : "256x256", "apps", `${id}.${iconExt}`), app.icon?.bytes ?? generatedIcon(app.name), 0o644],
    [path.join(dirs.bin, command), wrapperScript(app.appPath), 0o755],
  ];
  // Never replace a file this app did not put there (a user's own command of the same name).
  const ours = new Map((previous?.files ?? []).map((f) => [f.path, f.sha256]));
  for (const [file] of files) {
    const existing = await readIfExists(file);
    if (existing && ours.get(file) !== sha256(existing)) {
      throw new VmsfxError("VMSFX_IO", `${file} already exists and was not installed by this app; remove or rename it, then run --install again.`);
    }
  }
  // The record is written first, so an interrupted install can still be undone with --uninstall.
  const record: InstallRecord = { app: app.appPath, files: files.map(([p, data]) => ({ path: p, sha256: sha256(data) })) };
  for (const dir of [dirs.records, ...files.map(([p]) => path.dirname(p))]) await fsp.mkdir(dir, { recursive: true }).catch((e) => Promise.reject(fromFsError(e, dir, "creating")));
  await writeFileAtomic(recordFile, Buffer.from(JSON.stringify(record, null, 2) + "\n"));
  for (const [file, data, mode] of files) {
    await writeFileAtomic(file, typeof data === "string" ? Buffer.from(data) : data, mode);
    await fsp.chmod(file, mode).catch(() => undefined);
  }
  const onPath = envPath.split(path.delimiter).some((p) => p && path.resolve(p) === path.resolve(dirs.bin));
  return { command: path.join(dirs.bin, command), files: files.map(([p]) => p), binNotOnPath: !onPath };
}

export interface UninstallResult {
  removed: string[];
  /** Files that changed since they were installed; left alone. */
  kept: string[];
  installed: boolean;
}

export async function uninstallDesktop(app: Pick<DesktopApp, "appPath" | "name">, dirs: InstallDirs = installDirs()): Promise<UninstallResult> {
  const id = `vmsfx-${commandName(app.name)}`;
  const recordFile = path.join(dirs.records, `${id}.json`);
  const record = await readRecord(recordFile);
  if (!record) return { removed: [], kept: [], installed: false };
  if (record.app !== app.appPath) {
    throw new VmsfxError("VMSFX_IO", `"${app.name}" was installed by another copy (${record.app}); run that one with --uninstall.`);
  }
  const removed: string[] = [];
  const kept: string[] = [];
  for (const f of record.files) {
    const existing = await readIfExists(f.path);
    if (!existing) continue;
    if (sha256(existing) !== f.sha256) {
      kept.push(f.path);
      continue;
    }
    await fsp.rm(f.path, { force: true }).catch((e) => Promise.reject(fromFsError(e, f.path, "removing")));
    removed.push(f.path);
  }
  await fsp.rm(recordFile, { force: true }).catch((e) => Promise.reject(fromFsError(e, recordFile, "removing")));
  return { removed, kept, installed: true };
}

/** The guest's name and description, from a plain bundle's manifest or an encrypted one's public header. */
async function guestOf(file: string): Promise<{ name: string; description?: string; icon?: GuestIcon }> {
  const header = await readPublicHeader(file);
  if (header) return { name: header.public.guest };
  const source = await openSnapshot(file);
  try {
    return source.manifest.guest;
  } finally {
    await source.close();
  }
}

/** `--install` / `--uninstall` for the executable at `appPath`; returns the exit code. */
export async function desktopCommand(appPath: string, action: "install" | "uninstall", out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  // Start menus on Windows and macOS have other formats; this writes only freedesktop's.
  if (process.platform === "win32" || process.platform === "darwin") {
    throw new VmsfxError("VMSFX_USAGE", `--${action} makes freedesktop menu entries (Linux and BSD desktops); it does not support ${process.platform === "win32" ? "Windows" : "macOS"} yet.`);
  }
  const guest = await guestOf(appPath);
  if (action === "install") {
    const icon = guest.icon && { bytes: Buffer.from(guest.icon.data, "base64"), ext: guest.icon.type };
    const r = await installDesktop({ appPath, name: guest.name, description: guest.description, icon });
    out(`Installed "${guest.name}": a menu entry and the command ${r.command}`);
    if (r.binNotOnPath) out(`${path.dirname(r.command)} is not on your PATH; add it to run ${path.basename(r.command)} by name.`);
    return 0;
  }
  const r = await uninstallDesktop({ appPath, name: guest.name });
  if (!r.installed) out(`"${guest.name}" is not installed; nothing to remove.`);
  else out(`Removed the menu entry and command of "${guest.name}".`);
  for (const k of r.kept) out(`Left ${k} in place: it changed since it was installed.`);
  return 0;
}
