import { describe, expect, it } from "vitest";
import { mkdirSync, utimesSync, writeFileSync, existsSync, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { lock } from "../../src/launcher/state-lock";
import { tempDir } from "../helpers/synthetic-snapshot";

function folder(): string {
  const dir = path.join(tempDir("vmsfx-lock-"), "app.vmsfx-state");
  mkdirSync(dir);
  return dir;
}

describe("state-folder lock", () => {
  it("regression: a lock seen empty (its launch has created it, not yet written it) is waited for, never taken over", async () => {
    const dir = folder();
    const file = path.join(dir, "lock");
    writeFileSync(file, "");
    // The other launch finishes writing a moment later: it is alive, so this one must be refused.
    setTimeout(() => writeFileSync(file, `${process.pid} ${os.hostname()} abc\n`), 150);
    await expect(lock(dir)).rejects.toMatchObject({ code: "VMSFX_STATE_LOCKED", exitCode: 31 });
    expect(readFileSync(file, "utf8")).toBe(`${process.pid} ${os.hostname()} abc\n`);
  });

  it("a lock cut short that has not changed for longer than a takeover may last is a crash: taken over", async () => {
    const dir = folder();
    const file = path.join(dir, "lock");
    writeFileSync(file, "123");
    const old = (Date.now() - 60_000) / 1000;
    utimesSync(file, old, old);
    const release = await lock(dir);
    expect(readFileSync(file, "utf8")).toMatch(new RegExp(`^${process.pid} ${os.hostname()} [0-9a-f]+\\n$`));
    await release();
    expect(existsSync(file)).toBe(false);
  });

  it("a complete lock of a process that is gone is taken over at once; one of another computer is refused", async () => {
    const dir = folder();
    const file = path.join(dir, "lock");
    writeFileSync(file, `2147483646 ${os.hostname()}\n`);
    await (await lock(dir))();
    writeFileSync(file, `1 some-other-host\n`);
    await expect(lock(dir)).rejects.toThrow(/in use on another computer \(some-other-host\)/);
  });
});
