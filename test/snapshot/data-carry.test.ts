import { describe, expect, it } from "vitest";
import { carryAppData } from "../../src/snapshot/data-carry";
import type { BlockMap, Manifest } from "../../src/snapshot/manifest";
import type { ResumePoint } from "../../src/snapshot/resume-point";

const h = (c: string) => c.repeat(64);
const map = (blocks: (string | null)[], size = blocks.length * 65536): BlockMap => ({ size, blockSize: 65536, blocks });

function manifest(o: { root: (string | null)[]; data: (string | null)[]; paths?: string[]; dataSize?: number; app?: boolean }): Manifest {
  const empty = map([]);
  return {
    format: "vmsfx-snapshot",
    version: 1,
    createdAt: "2026-12-02T00:00:00.000Z",
    guest: { name: "notes" },
    engine: { name: "v86", version: "0.5.462", wasmSha256: h("e") },
    machine: { memoryBytes: 128 << 20, vgaMemoryBytes: 8 << 20 },
    state: empty,
    memory: map([h("d")]),
    vgaMemory: empty,
    disks: [
      { slot: "hda", map: map(o.root) },
      { slot: "hdb", map: map(o.data, o.dataSize) },
    ],
    console: { tail: "" },
    ...(o.app === false ? {} : { app: { protocol: 2, dataDisk: "hdb", data: o.paths ?? ["/data"] } }),
  } as Manifest;
}

function point(m: Manifest, kind: ResumePoint["kind"], packed: string[]): ResumePoint {
  return { format: "vmsfx-resume", version: 1, bundleManifestSha256: h("1"), savedAt: "", kind, pack: { file: "pack-0000000000000000.bin", blocks: Object.fromEntries(packed.map((x, i) => [x, [i, 1]])) }, manifest: m };
}

describe("carryAppData: an app's data disk comes along to a new version of the app", () => {
  const v1 = manifest({ root: [h("a"), null], data: [h("b"), null, h("c")] });
  const v2 = manifest({ root: [h("f"), h("f")], data: [h("9"), null, null] });

  it("takes the new version's root and memory with the old data disk, named for the new version", () => {
    const r = carryAppData(point(v1, "quit", [h("b"), h("c")]), v2, h("2"));
    if (!("point" in r)) throw new Error(r.why);
    expect(r.point.bundleManifestSha256).toBe(h("2"));
    expect(r.point.kind).toBe("quit");
    expect(r.point.manifest.disks).toEqual([v2.disks[0], v1.disks[1]]);
    expect(r.point.manifest.memory).toEqual(v2.memory);
    expect(r.point.pack).toEqual(point(v1, "quit", [h("b"), h("c")]).pack);
  });

  it.each<[string, ResumePoint, Manifest, RegExp]>([
    ["a suspended session (its memory belongs to the old version)", point(v1, "suspended", [h("b"), h("c")]), v2, /suspended/],
    ["a data disk only partly in the pack (saved by an older vmsfx)", point(v1, "quit", [h("c")]), v2, /older vmsfx/],
    ["other data paths", point(v1, "quit", [h("b"), h("c")]), manifest({ root: [null], data: [null, null, null], paths: ["/data", "/etc/app"] }), /other places/],
    ["a data disk of another size", point(v1, "quit", [h("b"), h("c")]), manifest({ root: [null], data: [null, null, null, null] }), /another size/],
    ["a new version that is not an app", point(v1, "quit", [h("b"), h("c")]), manifest({ root: [null], data: [null, null, null], app: false }), /not an app/],
  ])("refuses %s, saying why", (_, previous, next, why) => {
    const r = carryAppData(previous, next, h("2"));
    expect("why" in r && r.why).toMatch(why);
  });
});
