import { describe, expect, it } from "vitest";
import { RUN_OPTIONS, runRequestFrom, splitGuestArgs } from "../../src/launcher/run-command";

describe("the run options", () => {
  it("everything after the first -- is for the guest's app", () => {
    expect(splitGuestArgs(["app", "--fresh"])).toEqual({ argv: ["app", "--fresh"] });
    expect(splitGuestArgs(["app", "--", "-x", "--", "y"])).toEqual({ argv: ["app"], guestArgs: ["-x", "--", "y"] });
    expect(splitGuestArgs(["--"])).toEqual({ argv: [], guestArgs: [] });
  });

  it("one table serves `vmsfx run` and the executable, and maps to one request", () => {
    expect(Object.keys(RUN_OPTIONS)).toEqual(["fresh", "update", "state-dir", "reset", "timings", "publish", "network", "gui", "browser", "json", "passphrase-file", "key-file", "require-signer"]);
    const flags = { fresh: true, update: false, "state-dir": "s", timings: true, publish: ["0:80"], network: false, gui: true, browser: false, json: true, "key-file": "k", "require-signer": "p.pub" };
    expect(runRequestFrom("app", flags, ["-v"])).toEqual({
      bundle: "app",
      fresh: true,
      update: false,
      stateDir: "s",
      timings: true,
      args: ["-v"],
      publish: [{ address: "127.0.0.1", host: 0, guest: 80 }],
      network: false,
      web: { browser: false, json: true },
      gui: { open: false, json: true },
      passphraseFile: undefined,
      keyFile: "k",
      requireSigner: "p.pub",
    });
    expect(runRequestFrom("app", { fresh: false, update: false, timings: false }, undefined).gui).toBeUndefined();
    // --no-network is the only way to turn it off: an absent flag leaves the app's own rules.
    expect(runRequestFrom("app", { fresh: false, update: false, timings: false }, undefined).network).toBe(true);
  });
});
