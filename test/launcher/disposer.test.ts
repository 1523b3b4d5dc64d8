import { describe, expect, it } from "vitest";
import { Disposer } from "../../src/launcher/disposer";

describe("Disposer", () => {
  it("undoes everything last first, each once, also what was already undone early", async () => {
    const owner = new Disposer();
    const done: string[] = [];
    owner.own(() => void done.push("first"));
    const early = owner.own(async () => void done.push("console"));
    owner.ownSync(() => void done.push("signals"));
    await early();
    await early();
    await owner.dispose();
    await owner.dispose();
    expect(done).toEqual(["console", "signals", "first"]);
  });

  it("runs every step when one fails, then throws the first failure", async () => {
    const owner = new Disposer();
    const done: string[] = [];
    owner.own(() => void done.push("plan"));
    owner.own(() => Promise.reject(new Error("gui")));
    owner.ownSync(() => {
      throw new Error("hook");
    });
    await expect(owner.dispose()).rejects.toThrow("hook");
    expect(done).toEqual(["plan"]);
  });

  it("undoes at once what is registered after disposal (a late attach cannot leak)", async () => {
    const owner = new Disposer();
    await owner.dispose();
    let undone = false;
    owner.ownSync(() => (undone = true));
    expect(undone).toBe(true);
  });
});
