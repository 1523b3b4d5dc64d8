import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { mergeLayers, tarFileLayer } from "../../src/build/flat-rootfs";
import { tempDir } from "../helpers/synthetic-snapshot";
import { readTar, tarOf, type FixtureEntry } from "./image-fixture";

async function layerFile(dir: string, name: string, entries: FixtureEntry[]) {
  const file = path.join(dir, name);
  writeFileSync(file, await tarOf(entries));
  return tarFileLayer(file, name);
}

describe("mergeLayers: tar layers to the app's root and data trees", () => {
  it("regression: an empty file in a layer no longer hangs the merge forever", async () => {
    const dir = tempDir();
    const base = await layerFile(dir, "base.tar", [{ name: "etc/" }, { name: "etc/environment", data: "" }, { name: "etc/hostname", data: "app\n" }]);
    const r = await mergeLayers([base], { root: path.join(dir, "root.tar") });
    expect(r.entries).toBe(3);
    const out = await readTar(path.join(dir, "root.tar"));
    expect(out.find((e) => e.name === "etc/environment")).toMatchObject({ type: "file", data: "" });
  });

  it("the data paths' contents go to the data tar; their folders stay in the root, empty", async () => {
    const dir = tempDir();
    const base = await layerFile(dir, "base.tar", [{ name: "srv/" }, { name: "srv/app", data: "app" }, { name: "var/" }, { name: "var/lib/" }, { name: "var/lib/notes/" }, { name: "var/lib/notes/first", data: "1" }]);
    await mergeLayers([base], { root: path.join(dir, "root.tar"), data: { paths: ["/var/lib/notes"], out: path.join(dir, "data.tar") } });
    const root = (await readTar(path.join(dir, "root.tar"))).map((e) => e.name);
    const data = (await readTar(path.join(dir, "data.tar"))).map((e) => e.name);
    expect(root).toEqual(["srv/", "srv/app", "var/", "var/lib/", "var/lib/notes/"]);
    expect(data).toEqual(["var/", "var/lib/", "var/lib/notes/", "var/lib/notes/first"]);
  });

  it("the build sees the merged tree (symlinks followed inside it) and adds its own files last", async () => {
    const dir = tempDir();
    const base = await layerFile(dir, "base.tar", [{ name: "usr/" }, { name: "usr/etc/" }, { name: "usr/etc/passwd", data: "root:x:0:0::/root:/bin/sh\n" }, { name: "etc", type: "symlink", linkname: "usr/etc" }]);
    const files = await layerFile(dir, "files.tar", [{ name: "opt/" }, { name: "opt/tool", data: "#!/bin/sh\n", mode: 0o755 }]);
    let seen: string | undefined;
    await mergeLayers([base, files], {
      root: path.join(dir, "root.tar"),
      finish: async (view) => {
        seen = (await view.readFile("/etc/passwd"))?.toString();
        expect(await view.readFile("/etc/missing")).toBeUndefined();
        return [{ path: "/.vmsfx/app.sh", data: Buffer.from("APP_DATA=''\n"), mode: 0o644 }];
      },
    });
    expect(seen).toBe("root:x:0:0::/root:/bin/sh\n");
    const out = await readTar(path.join(dir, "root.tar"));
    expect(out.find((e) => e.name === ".vmsfx/app.sh")).toMatchObject({ data: "APP_DATA=''\n", uid: 0 });
    expect(out.find((e) => e.name === "opt/tool")).toBeDefined();
  });

  it("a layer that is not a tar is a typed build error naming it", async () => {
    const dir = tempDir();
    const file = path.join(dir, "junk.tar");
    writeFileSync(file, Buffer.alloc(1024, 0x41));
    await expect(mergeLayers([tarFileLayer(file, "the spec's files")], { root: path.join(dir, "root.tar") })).rejects.toMatchObject({ code: "VMSFX_BUILD_FAILED", message: expect.stringContaining("the spec's files") });
  });
});
