import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { VmsfxError } from "../../src/errors";
import { validatePolicy } from "../../src/policy/policy";

const DIR = path.resolve(__dirname, "../../samples/policies");
const files = readdirSync(DIR).filter((f) => f.endsWith(".json"));

describe("samples/policies", () => {
  it("has the documented examples", () => {
    expect(files.sort()).toEqual(["expires.json", "five-launches.json", "session-15-minutes.json", "this-machine-only.json", "trial-30-days.json"]);
    const readme = readFileSync(path.join(DIR, "README.md"), "utf8");
    for (const f of files) expect(readme).toContain(f);
  });

  it.each(files.filter((f) => f !== "this-machine-only.json"))("%s is a valid policy", (f) => {
    const raw = JSON.parse(readFileSync(path.join(DIR, f), "utf8"));
    expect(validatePolicy(raw, f)).toEqual(raw);
  });

  it("this-machine-only.json is refused until its placeholder is replaced by a fingerprint", () => {
    const raw = JSON.parse(readFileSync(path.join(DIR, "this-machine-only.json"), "utf8"));
    expect(() => validatePolicy(raw, "this-machine-only.json")).toThrow(VmsfxError);
    const filled = { ...raw, machines: ["0123456789abcdef0123456789abcdef"] };
    expect(validatePolicy(filled, "this-machine-only.json")).toEqual(filled);
  });

  it("documents every field of the schema", () => {
    const readme = readFileSync(path.join(DIR, "README.md"), "utf8");
    for (const k of ["notBefore", "notAfter", "validDaysAfterFirstLaunch", "maxLaunches", "maxSessionMinutes", "machines", "bindToFirstLocation", "clockToleranceMinutes", "message", "url", "signer"]) {
      expect(readme).toContain(`\`${k}\``);
    }
  });
});
