import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync, lstatSync, readlinkSync } from "node:fs";
import * as path from "node:path";
import { openOciImage } from "../../src/build/oci-image";
import { writeFlatRootfs } from "../../src/build/flat-rootfs";
import { tempDir } from "../helpers/synthetic-snapshot";
import { hostTool } from "../helpers/host-tools";
import { readTar } from "./image-fixture";

/**
 * Images made by the real tools publishers use (Debian's umoci and skopeo), not by our fixture
 * writer: the same image as an OCI layout, an oci-archive and a docker-archive must give the
 * same tree, and that tree must be the one umoci itself unpacks (a reference implementation of
 * the whiteout rules).
 */

const UMOCI = hostTool("umoci");
const SKOPEO = hostTool("skopeo");
const run = (cmd: string, args: string[], cwd?: string) => execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] }).toString();

/** A layer made with GNU tar from a folder, as a Dockerfile's RUN step would leave one. */
function layer(work: string, name: string, files: Record<string, string | { symlink: string } | null>): string {
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [p, v] of Object.entries(files)) {
    const full = path.join(dir, p);
    mkdirSync(path.dirname(full), { recursive: true });
    if (v === null) mkdirSync(full, { recursive: true });
    else if (typeof v === "string") writeFileSync(full, v);
    else symlinkSync(v.symlink, full);
  }
  const out = path.join(work, `${name}.tar`);
  run("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", dir, "-cf", out, "."]);
  return out;
}

/** Every path below `root` with what it is: the same shape readTar's entries are mapped to. */
function treeOf(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(path.join(root, rel)).sort()) {
      const p = rel ? `${rel}/${n}` : n;
      const st = lstatSync(path.join(root, p));
      if (st.isSymbolicLink()) out.push(`${p} -> ${readlinkSync(path.join(root, p))}`);
      else if (st.isDirectory()) (out.push(`${p}/`), walk(p));
      else out.push(`${p} = ${readFileSync(path.join(root, p), "utf8")}`);
    }
  };
  walk("");
  return out.sort();
}

describe.skipIf(!UMOCI || !SKOPEO)("images made by umoci and skopeo", () => {
  it("an OCI layout, an oci-archive and a docker-archive of one image give umoci's own tree", async () => {
    const work = tempDir("vmsfx-oci-");
    const l1 = layer(work, "l1", { "bin/app": "v1", "etc/conf": "a", "etc/gone": "x", "opt/old/f": "old", "usr/lib/libx.so.1": "lib", "usr/lib/libx.so": { symlink: "libx.so.1" } });
    const l2 = layer(work, "l2", { "bin/app": "v2", "etc/.wh.gone": "", "opt/.wh..wh..opq": "", "opt/new": "new", "srv/": null });
    const oci = path.join(work, "layout");
    run(UMOCI!, ["init", "--layout", oci]);
    run(UMOCI!, ["new", "--image", `${oci}:app`]);
    run(UMOCI!, ["raw", "add-layer", "--image", `${oci}:app`, l1]);
    run(UMOCI!, ["raw", "add-layer", "--image", `${oci}:app`, l2]);
    run(UMOCI!, ["config", "--image", `${oci}:app`, "--architecture=386", "--os=linux", "--config.entrypoint=/bin/app", "--config.cmd=--serve", "--config.env=MODE=test", "--config.workingdir=/srv", "--config.user=1000:1000"]);
    run(UMOCI!, ["gc", "--layout", oci]);
    const ociArchive = path.join(work, "image-oci.tar");
    const dockerArchive = path.join(work, "image-docker.tar");
    run(SKOPEO!, ["copy", "--quiet", `oci:${oci}:app`, `oci-archive:${ociArchive}:app`]);
    run(SKOPEO!, ["copy", "--quiet", `oci:${oci}:app`, `docker-archive:${dockerArchive}:vmsfx/test:1`]);

    // umoci's own unpack is the reference (it needs root to keep owners; CI runs as root).
    const bundle = path.join(work, "bundle");
    run(UMOCI!, ["unpack", "--image", `${oci}:app`, bundle]);
    const reference = treeOf(path.join(bundle, "rootfs"));
    expect(reference).toContain("bin/app = v2");
    expect(reference).not.toContain("etc/gone = x");

    for (const source of [oci, ociArchive, dockerArchive]) {
      const image = await openOciImage(source);
      try {
        expect(image.defaults).toMatchObject({ entrypoint: ["/bin/app"], cmd: ["--serve"], workingDir: "/srv", user: "1000:1000" });
        expect(image.defaults.env).toContain("MODE=test");
        const out = path.join(tempDir(), "rootfs.tar");
        await writeFlatRootfs(image, out);
        expect(statSync(out).size).toBeGreaterThan(0);
        const ours = (await readTar(out)).map((e) => (e.type === "directory" ? e.name : e.type === "symlink" ? `${e.name} -> ${e.linkname}` : `${e.name} = ${e.data}`)).sort();
        expect(ours, source).toEqual(reference);
      } finally {
        await image.close();
      }
    }
  });

  it("an image that umoci made for amd64 is refused with exit 23", async () => {
    const work = tempDir("vmsfx-oci-");
    const oci = path.join(work, "layout");
    run(UMOCI!, ["init", "--layout", oci]);
    run(UMOCI!, ["new", "--image", `${oci}:app`]);
    run(UMOCI!, ["raw", "add-layer", "--image", `${oci}:app`, layer(work, "l1", { "bin/app": "x" })]);
    run(UMOCI!, ["config", "--image", `${oci}:app`, "--architecture=amd64", "--os=linux"]);
    await expect(openOciImage(oci)).rejects.toMatchObject({ code: "VMSFX_IMAGE_ARCH", exitCode: 23 });
  });
});
