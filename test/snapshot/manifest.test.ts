import { describe, expect, it } from "vitest";
import { parseManifest, serializeManifest, validateManifest, type Manifest } from "../../src/snapshot/manifest";
import { VmsfxError } from "../../src/errors";
import { makeSyntheticSnapshot } from "../helpers/synthetic-snapshot";

async function base(): Promise<Manifest> {
  return (await makeSyntheticSnapshot()).manifest;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VmsfxError);
    return (e as VmsfxError).code;
  }
  return undefined;
}

describe("manifest", () => {
  it("an app's outbound rules need a network card and are checked rule by rule", async () => {
    const m = await base();
    const withApp = (machine: object, app: object) =>
      JSON.parse(JSON.stringify({ ...m, machine: { ...m.machine, ...machine }, disks: [...m.disks, { ...m.disks[0], slot: "hdb" }], app: { protocol: 2, dataDisk: "hdb", data: ["/data"], ...app } }));
    expect(validateManifest(withApp({ nic: "virtio" }, { outbound: ["*:443"] })).app?.outbound).toEqual(["*:443"]);
    expect(codeOf(() => validateManifest(withApp({}, { outbound: ["*:443"] })))).toBe("VMSFX_MANIFEST_INVALID");
    expect(codeOf(() => validateManifest(withApp({ nic: "virtio" }, { outbound: ["*:99999"] })))).toBe("VMSFX_MANIFEST_INVALID");
    expect(codeOf(() => validateManifest(withApp({ nic: "virtio" }, { outbound: "*" })))).toBe("VMSFX_MANIFEST_INVALID");
  });

  it("round-trips through serialize and parse", async () => {
    const m = await base();
    expect(parseManifest(serializeManifest(m))).toEqual(JSON.parse(JSON.stringify(m)));
  });

  it("keeps a guest icon, and refuses one that is not what it says or too large", async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>').toString("base64");
    const withIcon = (icon: unknown) => async () => validateManifest(JSON.parse(JSON.stringify({ ...(await base()), guest: { name: "x", icon } })));
    expect((await withIcon({ type: "svg", data: svg })()).guest.icon).toEqual({ type: "svg", data: svg });
    for (const bad of [{ type: "gif", data: svg }, { type: "png", data: svg }, { type: "svg", data: "not base64!" }, { type: "svg", data: Buffer.alloc(65 << 10, 0x3c).toString("base64") }, "icon.svg"]) {
      await expect(withIcon(bad)()).rejects.toMatchObject({ code: "VMSFX_MANIFEST_INVALID" });
    }
  });

  it("rejects bytes that are not JSON", () => {
    expect(codeOf(() => parseManifest(new TextEncoder().encode("{not json")))).toBe("VMSFX_MANIFEST_INVALID");
  });

  it("rejects an unknown format version with its own code", async () => {
    const m = { ...(await base()), version: 99 };
    expect(codeOf(() => validateManifest(m))).toBe("VMSFX_UNSUPPORTED_VERSION");
  });

  it.each([
    ["a block count that does not match the size", (m: any) => m.memory.blocks.pop()],
    ["a malformed hash", (m: any) => (m.memory.blocks[0] = "abc")],
    ["an uppercase hash", (m: any) => (m.state.blocks[0] = m.state.blocks[0].toUpperCase())],
    ["a negative size", (m: any) => (m.disks[0].map.size = -1)],
    ["a huge size", (m: any) => (m.memory.size = 2 ** 60)],
    ["a block size that is not a power of two", (m: any) => (m.memory.blockSize = 5000)],
    ["memory size that disagrees with the machine", (m: any) => (m.machine.memoryBytes *= 2)],
    ["a repeated disk slot", (m: any) => m.disks.push(m.disks[0])],
    ["a missing engine", (m: any) => delete m.engine],
    ["a non-object root", () => "x"],
  ])("rejects %s", async (_name, mutate) => {
    const m: any = JSON.parse(JSON.stringify(await base()));
    const r = mutate(m);
    expect(codeOf(() => validateManifest(typeof r === "string" ? r : m))).toBe("VMSFX_MANIFEST_INVALID");
  });
});
