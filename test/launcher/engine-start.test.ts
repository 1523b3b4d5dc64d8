import { describe, expect, it } from "vitest";
import { mayRunGuest } from "../../src/launcher/engine-start";

describe("the executable's early engine start", () => {
  it("starts the engine for a plain launch, a launch with options, and one with the app's own arguments", () => {
    expect(mayRunGuest([])).toBe(true);
    expect(mayRunGuest(["--timings", "--state-dir", "/tmp/x"])).toBe(true);
    expect(mayRunGuest(["--gui", "--no-browser"])).toBe(true);
    // After `--`, the words are the guest app's: its own --help must still run the guest.
    expect(mayRunGuest(["--", "--help"])).toBe(true);
  });

  it("never starts it for what only prints or exits", () => {
    for (const flag of ["-h", "--help", "--version", "--info", "--verify", "--install", "--uninstall", "--fingerprint", "--reset"]) {
      expect(mayRunGuest([flag]), flag).toBe(false);
      expect(mayRunGuest(["--timings", flag]), flag).toBe(false);
    }
    expect(mayRunGuest(["--info=true", "--json"])).toBe(false);
  });
});
