import { describe, expect, it } from "vitest";
import type { SnapshotSource } from "../../src/snapshot/snapshot-source";
import { SourceStack } from "../../src/launcher/source-stack";

/** A layer that closes what it wraps, as every wrapper over a bundle does. */
function layer(name: string, closed: string[], inner?: SnapshotSource, fails = false): SnapshotSource {
  return {
    manifest: {} as SnapshotSource["manifest"],
    location: name,
    readStored: () => Promise.reject(new Error("unused")),
    storedSize: () => undefined,
    async close() {
      closed.push(name);
      if (fails) throw new Error(`${name} failed to close`);
      await inner?.close();
    },
  };
}

describe("SourceStack", () => {
  it("closes through the outermost layer, each layer once", async () => {
    const closed: string[] = [];
    const bundle = layer("bundle", closed);
    const stack = new SourceStack(bundle);
    const remote = stack.push(layer("remote", closed, bundle));
    stack.push(layer("resume point", closed, remote));
    expect(stack.push(stack.top)).toBe(stack.top);
    await stack.close();
    expect(closed).toEqual(["resume point", "remote", "bundle"]);
  });

  it("closes every layer below one that fails, then reports that failure", async () => {
    const closed: string[] = [];
    const bundle = layer("bundle", closed);
    const stack = new SourceStack(bundle);
    const remote = stack.push(layer("remote", closed, bundle));
    stack.push(layer("resume point", closed, remote, true));
    await expect(stack.close()).rejects.toThrow("resume point failed to close");
    expect(closed).toEqual(["resume point", "remote", "bundle"]);
  });
});
