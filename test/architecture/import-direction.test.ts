import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";

/**
 * Dependencies run one way (issue 13): cli → launcher → policy / remote → snapshot (the format)
 * → engine. A module may import its own folder and any folder ranked lower, never one ranked
 * higher. Type-only imports count too: a type is owned by the layer that defines it.
 *
 * Where the folders the issue does not name sit, and why:
 * - build/ and packaging/ are tools the CLI runs (`vmsfx build`, making the executable); they use
 *   the launcher's guest agent and sea assets, and nothing below them imports them.
 * - gui/ is a front-end the launcher attaches; it only knows the engine's screen and input.
 * - remote/ sits just above policy/: an update's signature is checked with policy's code.
 * - errors.ts is beneath everything: every layer throws VmsfxError, and it imports nothing.
 */
const RANK: Record<string, number> = {
  cli: 7,
  build: 6,
  packaging: 6,
  launcher: 5,
  gui: 4,
  remote: 3.5,
  policy: 3,
  snapshot: 2,
  engine: 1,
  errors: 0,
};


const ROOT = path.resolve(__dirname, "../..");
const SRC = path.join(ROOT, "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

/** Every module specifier of static imports, re-exports, side-effect imports and import(). */
function specifiers(text: string): string[] {
  const out: string[] = [];
  const patterns = [/\b(?:import|export)\s[^"';]*?\bfrom\s*["']([^"']+)["']/g, /\bimport\s*["']([^"']+)["']/g, /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]);
  return out;
}

/** The layer of a file under src/: its top folder, or the file's own name for a top-level module. */
function layerOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length === 1 ? rel[0].replace(/\.ts$/, "") : rel[0];
}

function resolveTs(from: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined; // a package or node: builtin, not ours
  const base = path.resolve(path.dirname(from), spec);
  return [base, `${base}.ts`, path.join(base, "index.ts")].find((p) => p.endsWith(".ts") && p.startsWith(SRC + path.sep));
}

function edges(): { from: string; to: string }[] {
  const out: { from: string; to: string }[] = [];
  for (const file of sourceFiles(SRC)) {
    for (const spec of specifiers(readFileSync(file, "utf8"))) {
      const to = resolveTs(file, spec);
      if (to) out.push({ from: file, to });
    }
  }
  return out;
}

const show = (f: string) => path.relative(ROOT, f).split(path.sep).join("/");

describe("architecture: imports run one way", () => {
  it("finds the imports it checks (the parser sees every kind of import)", () => {
    expect(specifiers(`import { a } from "./x";\nimport type { B } from "../y/z";\nexport { c } from "./w";\nimport "./side";\nconst m = await import("../gui/g");`)).toEqual([
      "./x",
      "../y/z",
      "./w",
      "./side",
      "../gui/g",
    ]);
    expect(edges().length).toBeGreaterThan(100);
  });

  it("every folder under src/ has a rank", () => {
    const layers = new Set(sourceFiles(SRC).map(layerOf));
    expect([...layers].filter((l) => RANK[l] === undefined)).toEqual([]);
  });

  it("no module imports a folder ranked above its own", () => {
    const against = edges()
      .filter(({ from, to }) => layerOf(from) !== layerOf(to) && RANK[layerOf(from)] < RANK[layerOf(to)])
      .map(({ from, to }) => `${show(from)} -> ${show(to)}`);
    expect([...new Set(against)].sort()).toEqual([]);
  });
});
