import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main";
import { makeSyntheticSnapshot } from "../helpers/synthetic-snapshot";

afterEach(() => vi.restoreAllMocks());

describe("vmsfx main", () => {
  it("runs a command from its table and returns its exit code", async () => {
    const { dir } = await makeSyntheticSnapshot();
    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
    expect(await main(["inspect", dir, "--json"])).toBe(0);
    expect(JSON.parse(out.join(""))).toMatchObject({ kind: "directory", path: dir });
  });

  it("refuses what is not a command line, as a usage error", async () => {
    await expect(main([])).rejects.toMatchObject({ code: "VMSFX_USAGE", message: "Name a command; see --help. Run `vmsfx --help` for usage." });
    await expect(main(["inspect", "x", "--nope"])).rejects.toMatchObject({ code: "VMSFX_USAGE", message: expect.stringContaining("Unknown argument") });
    await expect(main(["inspect", "x", "--", "y"])).rejects.toMatchObject({ code: "VMSFX_USAGE", message: expect.stringContaining("only for `vmsfx run`") });
    await expect(main(["pack", "s", "-o", "b", "--block-size", "3K"])).rejects.toMatchObject({ code: "VMSFX_USAGE" });
  });
});
