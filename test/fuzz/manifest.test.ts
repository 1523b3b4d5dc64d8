import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { VmsfxError } from "../../src/errors";
import { allMaps, blockCount, MAX_BLOCK, parseManifest, serializeManifest, validateManifest, type Manifest } from "../../src/snapshot/manifest";
import { jsonShape } from "../../src/snapshot/json-shape";
import { makeSyntheticSnapshot } from "../helpers/synthetic-snapshot";
import { budget, testTimeout } from "./budget";

/**
 * The manifest parser against damaged text and against well-formed JSON with any field replaced
 * by anything: it throws VmsfxError, or returns a manifest whose every block map is consistent.
 */

let good: Record<string, unknown>;
let goodText: string;
beforeAll(async () => {
  const snap = await makeSyntheticSnapshot();
  goodText = readFileSync(path.join(snap.dir, "manifest.json"), "utf8");
  good = JSON.parse(goodText);
  // Exercise the optional parts too: boot files, hot blocks, remotes.
  const m = good as unknown as Manifest;
  good.boot = { bios: m.state, vgaBios: m.state, kernel: m.disks[0].map, cmdline: "console=ttyS0", ready: "# $" };
  good.hot = [{ slot: "hda", blocks: [0, 1] }];
  good.remotes = ["https://example.org/app/"];
  good.policy = { notBefore: "2026-01-01T00:00:00Z", notAfter: "2026-03-31T23:59:59Z", maxLaunches: 5, maxSessionMinutes: 15, validDaysAfterFirstLaunch: 30, bindToFirstLocation: true, message: "m", url: "https://example.com/buy" };
  // The unedited manifest must pass, or every edit would fail for the same uninteresting reason.
  consistent(validateManifest(good));
});

function parsed(bytes: Uint8Array): Manifest | undefined {
  try {
    return parseManifest(bytes);
  } catch (e) {
    if (e instanceof VmsfxError) return undefined;
    throw e;
  }
}

function consistent(m: Manifest): void {
  for (const map of allMaps(m)) {
    expect(map.blocks.length).toBe(blockCount(map.size, map.blockSize));
    expect(map.blockSize).toBeLessThanOrEqual(MAX_BLOCK);
    expect(Number.isSafeInteger(map.size) && map.size >= 0).toBe(true);
  }
  expect(m.memory.size).toBe(m.machine.memoryBytes);
  // What we accepted, we would write back and accept again, unchanged.
  expect(validateManifest(JSON.parse(serializeManifest(m).toString()))).toEqual(m);
}

/** Every path to a value inside a JSON value (keys and array indexes). */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.slice(0, 8).forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function replaced(root: unknown, at: (string | number)[], value: unknown, remove: boolean): unknown {
  const copy = structuredClone(root);
  if (at.length === 0) return value;
  let o = copy as Record<string | number, unknown>;
  for (const k of at.slice(0, -1)) o = o?.[k] as Record<string | number, unknown>;
  // An earlier edit may have replaced what this path goes through.
  if (!o || typeof o !== "object") return copy;
  const last = at[at.length - 1];
  if (remove) {
    if (Array.isArray(o)) o.splice(Number(last), 1);
    else delete o[last];
  } else o[last] = value;
  return copy;
}

const edgeValue = fc.oneof(
  fc.constantFrom(-1, 0, 1, 4095, 4096, 4097, 262144, 262145, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -0, 0.5, NaN, Infinity),
  fc.constantFrom("", "hda", "hdb", "v86", "../../etc/passwd", "0".repeat(64), "A".repeat(64), "x".repeat(5000), null, true, [], {}),
  fc.jsonValue({ maxDepth: 3 }),
);

describe("manifest parser", () => {
  it(
    "any field replaced by an edge-case or arbitrary value, or removed: typed error or a consistent manifest",
    () => {
      const all = paths(good);
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(all.length - 1), edgeValue, fc.boolean()), { minLength: 1, maxLength: 3 }), (edits) => {
          let m: unknown = good;
          for (const [i, value, remove] of edits) m = replaced(m, all[i], value, remove && all[i].length > 0);
          const text = JSON.stringify(m) ?? "null";
          const r = parsed(Buffer.from(text));
          if (r) consistent(r);
        }),
        budget(),
      );
    },
    testTimeout(),
  );

  it(
    "the manifest's text damaged byte by byte, cut short, or replaced by random bytes: typed error",
    () => {
      const bytes = Buffer.from(goodText);
      fc.assert(
        fc.property(
          fc.oneof(
            fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }).map((edits) => {
              const b = Buffer.from(bytes);
              for (const [at, v] of edits) b[at] = v;
              return b;
            }),
            fc.nat(bytes.length).map((n) => bytes.subarray(0, n)),
            fc.uint8Array({ maxLength: 2000 }),
            fc.json({ maxDepth: 6 }).map((s) => Buffer.from(s)),
          ),
          (b) => {
            const r = parsed(b);
            if (r) consistent(r);
          },
        ),
        budget(),
      );
    },
    testTimeout(),
  );

  it(
    "JSON shape: depth is exact and no duplicate is reported for what JSON.stringify writes; an added duplicate is always found",
    () => {
      const depthOf = (v: unknown): number => (v && typeof v === "object" ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
      fc.assert(
        fc.property(fc.jsonValue(), fc.string(), (v, key) => {
          const text = JSON.stringify(v);
          expect(jsonShape(text, 1000)).toEqual({ depth: depthOf(v), duplicate: undefined });
          const doubled = `{${JSON.stringify(key)}:${text},"pad":[1,{"a":"}\\""}],${JSON.stringify(key)}:0}`;
          expect(jsonShape(doubled, 1000).duplicate?.key).toBe(key);
        }),
        budget(0.5),
      );
    },
    testTimeout(0.5),
  );

  it(
    "JSON shape never throws, whatever the text",
    () => {
      fc.assert(
        fc.property(fc.oneof(fc.string({ unit: fc.constantFrom("{", "}", "[", "]", '"', "\\", ",", ":", "a", "u", "0") }), fc.string()), (t) => {
          const s = jsonShape(t, 8);
          expect(s.depth).toBeLessThanOrEqual(9);
        }),
        budget(0.3),
      );
    },
    testTimeout(0.3),
  );
});
