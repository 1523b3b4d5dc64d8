import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { VmsfxError, fromFsError } from "../errors";
import { iconProblem, type GuestIcon } from "./manifest";

/** A guest recipe (`samples/<name>/vm.json`): what to boot and when it is ready to capture. */
export interface Recipe {
  name: string;
  description?: string;
  /** An .svg or .png file for desktop menus (`./app --install`), at most 64 KiB. */
  icon?: string;
  memoryMiB: number;
  vgaMemoryMiB: number;
  /** A virtio network card (`vmsfx build` gives one to apps with ports). */
  nic?: "virtio";
  /** Absolute paths, resolved against the recipe's folder. */
  kernel: string;
  initrd?: string;
  bios: string;
  vgaBios: string;
  cmdline: string;
  disks: { slot: "hda" | "hdb"; image: string }[];
  ready: { serial: RegExp; timeoutSeconds: number };
  /** The command that builds the recipe's files, quoted in errors when they are missing. */
  build?: string;
  file: string;
}

function bad(file: string, what: string): never {
  throw new VmsfxError("VMSFX_RECIPE_INVALID", `${file}: ${what}. The README's "capture" entry lists its fields; vmsfx build makes a guest from an app spec instead.`);
}

function iconPath(file: string, icon: string | undefined): string | undefined {
  if (icon !== undefined && !/\.(svg|png)$/i.test(icon)) bad(file, '"icon" must name an .svg or .png file');
  return icon;
}

/** The recipe's icon as the manifest keeps it. */
export async function loadIcon(recipe: Recipe): Promise<GuestIcon | undefined> {
  if (!recipe.icon) return undefined;
  const bytes = await fsp.readFile(recipe.icon).catch((e) => Promise.reject(fromFsError(e, recipe.icon!, "reading the recipe's icon")));
  const type = recipe.icon.toLowerCase().endsWith(".png") ? "png" : "svg";
  const problem = iconProblem(bytes, type);
  if (problem) bad(recipe.file, `the icon ${recipe.icon} ${problem}`);
  return { type, data: bytes.toString("base64") };
}

export async function loadRecipe(file: string): Promise<Recipe> {
  const text = await fsp.readFile(file, "utf8").catch((e) => Promise.reject(fromFsError(e, file, "reading the recipe")));
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    bad(file, `is not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad(file, "must hold a JSON object");
  const dir = path.dirname(path.resolve(file));
  const s = (k: string, optional = false): string | undefined => {
    const v = raw[k];
    if (v === undefined && optional) return undefined;
    if (typeof v !== "string" || v.length === 0) bad(file, `"${k}" must be a non-empty string`);
    return v;
  };
  const n = (k: string, min: number, max: number, dflt?: number): number => {
    const v = raw[k] ?? dflt;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) bad(file, `"${k}" must be an integer from ${min} to ${max}`);
    return v;
  };
  const p = (k: string, optional = false) => {
    const v = s(k, optional);
    return v === undefined ? undefined : path.resolve(dir, v);
  };
  if (!Array.isArray(raw.disks ?? [])) bad(file, '"disks" must be an array');
  const disks = ((raw.disks ?? []) as unknown[]).map((d, i) => {
    const o = d as Record<string, unknown>;
    if (typeof o !== "object" || o === null || (o.slot !== "hda" && o.slot !== "hdb") || typeof o.image !== "string") {
      bad(file, `disks[${i}] must be {"slot": "hda"|"hdb", "image": "<path>"}`);
    }
    return { slot: o.slot as "hda" | "hdb", image: path.resolve(dir, o.image as string) };
  });
  const ready = raw.ready as Record<string, unknown> | undefined;
  if (typeof ready !== "object" || ready === null || typeof ready.serial !== "string") bad(file, '"ready.serial" must be a regular expression (as a string)');
  let serial: RegExp;
  try {
    serial = new RegExp(ready.serial as string);
  } catch (e) {
    bad(file, `"ready.serial" is not a valid regular expression (${(e as Error).message})`);
  }
  const timeoutSeconds = ready.timeoutSeconds ?? 120;
  if (typeof timeoutSeconds !== "number" || timeoutSeconds <= 0) bad(file, '"ready.timeoutSeconds" must be a positive number');
  return {
    name: s("name")!,
    description: s("description", true),
    icon: iconPath(file, p("icon", true)),
    memoryMiB: n("memoryMiB", 16, 2048),
    vgaMemoryMiB: n("vgaMemoryMiB", 1, 64, 8),
    kernel: p("kernel")!,
    initrd: p("initrd", true),
    bios: p("bios")!,
    vgaBios: p("vgaBios")!,
    cmdline: s("cmdline", true) ?? "",
    disks,
    ready: { serial, timeoutSeconds },
    build: s("build", true),
    file,
  };
}

/** Fails early, naming the build command, when the recipe's files were never built. */
export async function checkRecipeFiles(r: Recipe): Promise<void> {
  const files = [r.kernel, r.initrd, r.bios, r.vgaBios, ...r.disks.map((d) => d.image)].filter((f): f is string => !!f);
  for (const f of files) {
    const ok = await fsp.stat(f).then((st) => st.isFile(), () => false);
    if (!ok) {
      const hint = r.build ? ` Build it first: ${r.build}` : "";
      throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `${r.file}: needs ${f}, which does not exist.${hint}`);
    }
  }
}
