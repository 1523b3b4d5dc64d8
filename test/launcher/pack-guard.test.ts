import { describe, expect, it } from "vitest";
import type { ResumePoint } from "../../src/snapshot/resume-point";
import type { SnapshotSource } from "../../src/snapshot/snapshot-source";
import { PackGuardedSource } from "../../src/launcher/pack-guard";

const inPack = "a".repeat(64);
const inBundle = "b".repeat(64);
const point = { pack: { file: "pack-0123456789abcdef.bin", blocks: { [inPack]: [0, 10] } } } as unknown as ResumePoint;

function inner(spans: boolean): SnapshotSource & { entry?: (h: string) => undefined; readSpan?: () => Promise<Buffer> } {
  return {
    manifest: {} as SnapshotSource["manifest"],
    location: "app.vmsfx (resumed)",
    readStored: async () => new Uint8Array([1]),
    storedSize: () => 7,
    damageAdvice: (h) => `bundle advice for ${h.slice(0, 4)}`,
    close: async () => {},
    ...(spans ? { entry: () => undefined, readSpan: async () => Buffer.alloc(0) } : {}),
  };
}

describe("PackGuardedSource", () => {
  it("names the saved pack for its own blocks, and leaves other blocks' advice to the source", () => {
    const s = new PackGuardedSource(inner(false), point, "/state");
    expect(s.damageAdvice(inPack)).toContain("/state/pack-0123456789abcdef.bin: saved block aaaaaaaaaaaa… is damaged");
    expect(s.damageAdvice(inPack)).toContain("--fresh");
    expect(s.damageAdvice(inBundle)).toBe("bundle advice for bbbb");
  });

  it("keeps span reads only when the wrapped source has them", async () => {
    expect(new PackGuardedSource(inner(false), point, "/state").readSpan).toBeUndefined();
    const spanned = new PackGuardedSource(inner(true), point, "/state");
    expect(spanned.entry?.(inBundle)).toBeUndefined();
    expect(await spanned.readSpan?.(0, 0)).toEqual(Buffer.alloc(0));
    expect(spanned.storedSize(inBundle)).toBe(7);
    expect(spanned.location).toBe("app.vmsfx (resumed)");
  });
});
