import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";

/**
 * Small images written the way the real tools write them (OCI layout as umoci does, docker-archive
 * as skopeo does, with its `<id>/layer.tar` symlinks), for the unit tier. The end-to-end tier
 * makes its image with umoci and skopeo themselves.
 */

export interface FixtureEntry {
  name: string;
  type?: tar.Headers["type"];
  data?: string;
  linkname?: string;
  mode?: number;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

export async function tarOf(entries: FixtureEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? (e.name.endsWith("/") ? "directory" : "file");
    pack.entry({ name: e.name, type, linkname: e.linkname, mode: e.mode ?? (type === "directory" ? 0o755 : 0o644), mtime: new Date(1704067200000) }, type === "file" ? (e.data ?? "") : undefined);
  }
  return packed(pack);
}

/** The bytes of a finished tar-stream pack. */
export async function packed(pack: tar.Pack): Promise<Buffer> {
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface ImageOptions {
  architecture?: string;
  config?: Record<string, unknown>;
  /** Corrupt one layer after its digests were computed. */
  tamperLayer?: number;
}

async function parts(layers: FixtureEntry[][], opts: ImageOptions) {
  const tars = await Promise.all(layers.map(tarOf));
  const gz = tars.map((t) => gzipSync(t));
  if (opts.tamperLayer !== undefined) gz[opts.tamperLayer] = gzipSync(Buffer.concat([tars[opts.tamperLayer], Buffer.alloc(512)]));
  const config = Buffer.from(JSON.stringify({ architecture: opts.architecture ?? "386", os: "linux", config: { Cmd: ["/bin/sh"], Env: ["PATH=/usr/bin:/bin"], WorkingDir: "/srv", User: "1000:1000", ...opts.config }, rootfs: { type: "layers", diff_ids: tars.map((t) => `sha256:${sha(t)}`) } }));
  return { tars, gz, config };
}

/** An OCI image layout folder with an index that names the image's platform. */
export async function writeOciLayout(dir: string, layers: FixtureEntry[][], opts: ImageOptions = {}): Promise<string> {
  const { gz, config } = await parts(layers, opts);
  const blobs = path.join(dir, "blobs", "sha256");
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => (writeFileSync(path.join(blobs, sha(b)), b), `sha256:${sha(b)}`);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: put(config), size: config.length }, layers: gz.map((g) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: put(g), size: g.length })) }));
  const index = { schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: put(manifest), size: manifest.length, platform: { architecture: opts.architecture ?? "386", os: "linux" } }] };
  writeFileSync(path.join(dir, "index.json"), JSON.stringify(index));
  writeFileSync(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  return dir;
}

/** A docker-archive as skopeo writes it: plain `<diffid>.tar` layers, `<id>/layer.tar` symlinks to them. */
export async function writeDockerArchive(file: string, layers: FixtureEntry[][], opts: ImageOptions = {}): Promise<string> {
  const { tars, config } = await parts(layers, opts);
  const configName = `${sha(config)}.json`;
  const entries: FixtureEntry[] = [{ name: configName, data: config.toString("latin1") }];
  const names = tars.map((t, i) => {
    const id = sha(Buffer.from(`layer-${i}`));
    entries.push({ name: `${sha(t)}.tar`, data: t.toString("latin1") }, { name: `${id}/`, type: "directory" }, { name: `${id}/layer.tar`, type: "symlink", linkname: `../${sha(t)}.tar` });
    return `${id}/layer.tar`;
  });
  entries.push({ name: "manifest.json", data: JSON.stringify([{ Config: configName, RepoTags: ["vmsfx/test:1"], Layers: names }]) });
  // Latin-1 round-trips every byte of the binary layer tars through the string-typed fixture.
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? "file", linkname: e.linkname }, e.type ? undefined : Buffer.from(e.data ?? "", "latin1"));
  writeFileSync(file, await packed(pack));
  return file;
}

/** The entries of a tar file: name, type, link and data. */
export async function readTar(file: string): Promise<{ name: string; type: string; linkname?: string; data: string; uid: number }[]> {
  const out: { name: string; type: string; linkname?: string; data: string; uid: number }[] = [];
  const extract = tar.extract();
  extract.on("entry", (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      out.push({ name: h.name, type: h.type ?? "file", linkname: h.linkname ?? undefined, data: Buffer.concat(chunks).toString(), uid: h.uid ?? 0 });
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    createReadStream(file).pipe(extract).on("finish", resolve).on("error", reject);
  });
  return out;
}
