import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const LAUNCHER = path.join(__dirname, "../../src/launcher");

describe("the launcher's imports", () => {
  it("never reach into the CLI (dependencies run cli → launcher)", () => {
    const against = readdirSync(LAUNCHER)
      .filter((f) => f.endsWith(".ts"))
      .flatMap((f) => [...readFileSync(path.join(LAUNCHER, f), "utf8").matchAll(/from\s+"(\.\.\/cli\/[^"]+)"|import\(\s*"(\.\.\/cli\/[^"]+)"/g)].map((m) => `${f}: ${m[1] ?? m[2]}`));
    expect(against).toEqual([]);
  });
});
