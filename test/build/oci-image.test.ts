import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { openOciImage } from "../../src/build/oci-image";
import { writeFlatRootfs } from "../../src/build/flat-rootfs";
import { VmsfxError } from "../../src/errors";
import { tempDir } from "../helpers/synthetic-snapshot";
import { readTar, writeDockerArchive, writeOciLayout, type FixtureEntry } from "./image-fixture";

const BASE: FixtureEntry[] = [{ name: "bin/" }, { name: "bin/busybox", data: "BUSYBOX" }, { name: "bin/sh", type: "link", linkname: "bin/busybox" }, { name: "etc/" }, { name: "etc/gone", data: "x" }, { name: "opt/" }, { name: "opt/old", data: "old" }];
const APP: FixtureEntry[] = [{ name: "etc/.wh.gone" }, { name: "opt/.wh..wh..opq" }, { name: "opt/new", data: "new" }, { name: "srv/" }, { name: "srv/app.py", data: "print(42)" }];

async function flat(source: string) {
  const image = await openOciImage(source);
  try {
    const out = path.join(tempDir(), "rootfs.tar");
    const r = await writeFlatRootfs(image, out);
    return { image, r, entries: await readTar(out), dir: path.dirname(out) };
  } finally {
    await image.close();
  }
}

async function refusal(source: string): Promise<VmsfxError> {
  try {
    await flat(source);
  } catch (e) {
    expect(e).toBeInstanceOf(VmsfxError);
    return e as VmsfxError;
  }
  throw new Error("expected the image to be refused");
}

describe("OCI and docker images as an app's files", () => {
  for (const kind of ["OCI layout folder", "docker-archive (skopeo's, with symlinked layers)"]) {
    it(`${kind}: the image's defaults, and one sorted tree with whiteouts applied`, async () => {
      const dir = tempDir();
      const source = kind.startsWith("OCI") ? await writeOciLayout(dir, [BASE, APP]) : await writeDockerArchive(path.join(dir, "img.tar"), [BASE, APP]);
      const { image, entries, r, dir: outDir } = await flat(source);
      expect(image.defaults).toEqual({ cmd: ["/bin/sh"], entrypoint: undefined, env: ["PATH=/usr/bin:/bin"], workingDir: "/srv", user: "1000:1000" });
      expect(entries.map((e) => e.name)).toEqual(["bin/", "bin/busybox", "etc/", "opt/", "opt/new", "srv/", "srv/app.py", "bin/sh"]);
      expect(entries.find((e) => e.name === "bin/sh")).toMatchObject({ type: "link", linkname: "bin/busybox" });
      expect(entries.find((e) => e.name === "srv/app.py")!.data).toBe("print(42)");
      expect(r).toEqual({ entries: 8, bytes: "BUSYBOX".length + "new".length + "print(42)".length });
      expect(readdirSync(outDir)).toEqual(["rootfs.tar"]); // no temp files left
    });
  }

  it("an image for another platform is VMSFX_IMAGE_ARCH (exit 23), naming what it is for", async () => {
    const e = await refusal(await writeOciLayout(tempDir(), [BASE], { architecture: "amd64" }));
    expect(e.code).toBe("VMSFX_IMAGE_ARCH");
    expect(e.exitCode).toBe(23);
    expect(e.message).toMatch(/it is for linux\/amd64, and vmsfx runs linux\/386.*--platform linux\/386/);
    const d = await refusal(await writeDockerArchive(path.join(tempDir(), "a.tar"), [BASE], { architecture: "arm64" }));
    expect(d.message).toMatch(/linux\/arm64/);
  });

  it("a layer that does not match its diff_id is VMSFX_IMAGE_INVALID (exit 22)", async () => {
    const e = await refusal(await writeOciLayout(tempDir(), [BASE, APP], { tamperLayer: 1 }));
    expect(e).toMatchObject({ code: "VMSFX_IMAGE_INVALID", exitCode: 22 });
    expect(e.message).toMatch(/does not match its (diff_id|digest)/);
  });

  it("a config whose bytes are not its digest is refused", async () => {
    const dir = await writeOciLayout(tempDir(), [BASE]);
    const blob = (digest: string) => path.join(dir, "blobs", "sha256", digest.slice("sha256:".length));
    const index = JSON.parse(readFileSync(path.join(dir, "index.json"), "utf8"));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8"));
    writeFileSync(blob(manifest.config.digest), JSON.stringify({ architecture: "386", os: "linux", rootfs: { diff_ids: [] } }));
    const e = await refusal(dir);
    expect(e.code).toBe("VMSFX_IMAGE_INVALID");
    expect(e.message).toContain(`does not match its digest ${manifest.config.digest}`);
  });

  it("names with .. are refused, and a symlinked parent is resolved inside the root", async () => {
    const bad = await refusal(await writeOciLayout(tempDir(), [[{ name: "../../etc/passwd", data: "x" }]]));
    expect(bad.message).toMatch(/"\.\." in its name/);
    const { entries } = await flat(await writeOciLayout(tempDir(), [[{ name: "etc", type: "symlink", linkname: "/host-etc" }], [{ name: "etc/passwd", data: "root" }]]));
    expect(entries.map((e) => e.name)).toEqual(["etc", "host-etc/", "host-etc/passwd"]);
  });

  it("a folder that is no image, or is missing, says what to give", async () => {
    expect((await refusal(tempDir())).message).toMatch(/has neither index.json .* nor manifest.json/);
    await expect(openOciImage(path.join(tempDir(), "nope"))).rejects.toMatchObject({ code: "VMSFX_FILE_NOT_FOUND" });
    const notTar = path.join(tempDir(), "x.tar");
    writeFileSync(notTar, "hello");
    expect(existsSync(notTar)).toBe(true);
    expect((await refusal(notTar)).code).toBe("VMSFX_IMAGE_INVALID");
  });
});
