import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { errorCodes, EXIT, exitCodeOf, hasTrait, traitsOf, VmsfxError, type ErrorCode } from "../src/errors";
import { RemoteError } from "../src/remote/remote-error";

/** The README's table of codes and exit codes is the public contract errors.ts implements. */
function readmeTable(): Map<string, number> {
  const text = readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  return new Map([...text.matchAll(/^\| (\d+) \| `(VMSFX_[A-Z_]+)` \|/gm)].map((m) => [m[2], Number(m[1])]));
}

describe("errors: a closed table of codes, traits declared once", () => {
  it("every code in the README has its documented exit code, and the README lists every code", () => {
    const table = readmeTable();
    expect(table.size).toBeGreaterThan(30);
    for (const [code, exit] of table) expect(exitCodeOf(code as ErrorCode), code).toBe(exit);
    expect([...table.keys()].sort()).toEqual(errorCodes().sort());
    // Several codes may share an exit code (VMSFX_NETWORK keeps VMSFX_IO's 4); every exit code is documented.
    const codes = new Set(Object.values(EXIT).filter((n) => n > 1));
    expect([...new Set(table.values())].sort((a, b) => a - b)).toEqual([...codes].sort((a, b) => a - b));
  });

  it("traits are per code: damage, retryable and recoverable, storage", () => {
    expect(traitsOf("VMSFX_BLOCK_HASH_MISMATCH")).toEqual(["damage"]);
    expect(hasTrait(new VmsfxError("VMSFX_OFFLINE", "x"), "recoverable")).toBe(true);
    expect(hasTrait(new VmsfxError("VMSFX_OFFLINE", "x"), "damage")).toBe(false);
    expect(hasTrait(new VmsfxError("VMSFX_DISK_FULL", "x"), "storage")).toBe(true);
    expect(hasTrait(new Error("VMSFX_DISK_FULL"), "storage")).toBe(false);
    expect(traitsOf("VMSFX_USAGE")).toEqual([]);
  });

  it("a network failure is its own code, not a storage error, and retryable by how it failed", () => {
    const reset = new RemoteError("interrupted", "https://x/b", "the answer broke off");
    expect([reset.code, reset.exitCode, reset.failure, reset.reason, reset.details]).toEqual(["VMSFX_NETWORK", EXIT.io, "interrupted", "the answer broke off", { url: "https://x/b" }]);
    expect(hasTrait(reset, "storage")).toBe(false);
    expect(hasTrait(reset, "recoverable")).toBe(false);
    expect([hasTrait(reset, "retryable"), reset.retryable]).toEqual([true, true]);
    for (const kind of ["unreachable", "server"] as const) expect(new RemoteError(kind, "https://x/", "r").retryable).toBe(true);
    for (const kind of ["not-found", "refused", "protocol", "too-large", "mismatch", "aborted"] as const) {
      expect(traitsOf("VMSFX_NETWORK", kind), kind).toEqual([]);
      expect(new RemoteError(kind, "https://x/", "r").retryable, kind).toBe(false);
    }
    expect(hasTrait(reset.withContext("fetching"), "retryable")).toBe(true);
    expect(hasTrait(new VmsfxError("VMSFX_IO", "x"), "storage")).toBe(true);
  });

  it("structured fields: a reason to quote, details, and context added without editing strings", () => {
    const e = new VmsfxError("VMSFX_REMOTE_FAILED", "https://x/: no block here.", { details: { url: "https://x/" } });
    expect(e.reason).toBe("https://x/: no block here");
    expect(new VmsfxError("VMSFX_IO", "long message.", { reason: "short" }).reason).toBe("short");
    const outer = e.withContext("checking for an update");
    expect(outer).toBeInstanceOf(VmsfxError);
    expect([outer.code, outer.exitCode, outer.message, outer.cause, outer.details]).toEqual([
      "VMSFX_REMOTE_FAILED",
      EXIT.remoteFailed,
      "checking for an update: https://x/: no block here.",
      e,
      { url: "https://x/" },
    ]);
  });
});
