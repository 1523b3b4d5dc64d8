import { describe, expect, it } from "vitest";
import { blockSize, parseSize, zstdLevel } from "../../src/cli/cli-command";

describe("the CLI's size and level options", () => {
  it("reads sizes in bytes, K and M", () => {
    expect(parseSize("65536")).toBe(65536);
    expect(parseSize("64K")).toBe(65536);
    expect(parseSize("64KiB")).toBe(65536);
    expect(parseSize("1M")).toBe(1 << 20);
    expect(parseSize(4096)).toBe(4096);
    expect(() => parseSize("big")).toThrow(/"big" is not a size/);
  });

  it("takes block sizes that are powers of two from 4K to 4M, and clamps levels", () => {
    expect(blockSize("256K")).toBe(256 << 10);
    expect(blockSize("4K")).toBe(4096);
    expect(blockSize("4M")).toBe(4 << 20);
    for (const bad of ["2K", "8M", "48K"]) expect(() => blockSize(bad)).toThrow(expect.objectContaining({ code: "VMSFX_USAGE" }));
    expect([zstdLevel(0), zstdLevel(7), zstdLevel(22)]).toEqual([1, 7, 19]);
  });
});
