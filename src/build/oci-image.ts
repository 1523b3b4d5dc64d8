import { VmsfxError } from "../errors";
import { imageError, imageName, openImageStore, type ImageStore } from "./image-store";

/**
 * Finds the linux/386 image in an OCI layout (following nested indexes, skipping attestation
 * manifests) or a `docker save` archive, and checks every document it uses against its digest.
 * The result names each layer by where its bytes are in the store and by the digest its
 * uncompressed tar must have (the config's diff_id), checked when the layer is read.
 */

/** The image's defaults for the app spec's `run`, `env`, `workdir` and `user`. */
export interface ImageDefaults {
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  workingDir?: string;
  user?: string;
}

export interface ImageLayer {
  /** Where the (maybe compressed) layer is in the store. */
  name: string;
  /** sha256 hex the uncompressed tar must have. */
  diffId: string;
}

export interface OciImage {
  source: string;
  store: ImageStore;
  defaults: ImageDefaults;
  layers: ImageLayer[];
  close(): Promise<void>;
}

const INDEX_TYPES = ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];
const DIGEST = /^sha256:([0-9a-f]{64})$/;
const MAX_DOCUMENT = 4 << 20; // a registry's own manifest cap; configs are far smaller

interface Descriptor {
  mediaType?: string;
  digest?: string;
  platform?: { architecture?: string; os?: string };
}

export async function openOciImage(source: string): Promise<OciImage> {
  const store = await openImageStore(source);
  try {
    const found = (await store.read("manifest.json")) ? await fromDockerManifest(source, store) : await fromOciIndex(source, store);
    return { source, store, ...found, close: () => store.close() };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/** A JSON document at a name, checked against a digest when one is given. */
async function readJson(source: string, store: ImageStore, name: string, digest?: string): Promise<Record<string, unknown>> {
  const bytes = await store.read(name);
  if (!bytes) throw imageError(source, `${name} is missing`);
  if (bytes.length > MAX_DOCUMENT) throw imageError(source, `${name} is larger than ${MAX_DOCUMENT >> 20} MiB`);
  if (digest && (await store.sha256(name)) !== digest) throw imageError(source, `${name} does not match its digest sha256:${digest}`);
  try {
    const v: unknown = JSON.parse(bytes.toString("utf8"));
    if (typeof v === "object" && v !== null) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw imageError(source, `${name} is not a JSON object`);
}

const blobName = (source: string, digest: unknown): { name: string; hex: string } => {
  const m = typeof digest === "string" ? DIGEST.exec(digest) : null;
  if (!m) throw imageError(source, `${JSON.stringify(digest)} is not a sha256 digest`);
  return { name: `blobs/sha256/${m[1]}`, hex: m[1] };
};

async function fromOciIndex(source: string, store: ImageStore): Promise<Omit<OciImage, "source" | "store" | "close">> {
  if (!(await store.read("index.json"))) throw imageError(source, "has neither index.json (an OCI layout) nor manifest.json (docker save)");
  const seen: string[] = [];
  let index = await readJson(source, store, "index.json");
  for (let depth = 0; depth < 4; depth++) {
    const manifests = (Array.isArray(index.manifests) ? index.manifests : []) as Descriptor[];
    // Attestations and signatures ride along as unknown/unknown; they are not images.
    const images = manifests.filter((d) => !(d.platform?.os === "unknown" && d.platform?.architecture === "unknown"));
    for (const d of images) if (d.platform) seen.push(`${d.platform.os}/${d.platform.architecture}`);
    const pick = images.find((d) => d.platform?.os === "linux" && d.platform?.architecture === "386") ?? (images.length === 1 && !images[0].platform ? images[0] : undefined);
    if (!pick) break;
    const { name, hex } = blobName(source, pick.digest);
    const doc = await readJson(source, store, name, hex);
    if (INDEX_TYPES.includes(String(pick.mediaType ?? doc.mediaType))) {
      index = doc;
      continue;
    }
    return fromImageManifest(source, store, doc);
  }
  throw wrongArch(source, seen);
}

async function fromImageManifest(source: string, store: ImageStore, manifest: Record<string, unknown>): Promise<Omit<OciImage, "source" | "store" | "close">> {
  const config = manifest.config as Descriptor | undefined;
  const { name, hex } = blobName(source, config?.digest);
  const layers = (Array.isArray(manifest.layers) ? manifest.layers : []) as Descriptor[];
  return fromConfig(source, await readJson(source, store, name, hex), layers.map((l) => blobName(source, l.digest).name), store);
}

async function fromDockerManifest(source: string, store: ImageStore): Promise<Omit<OciImage, "source" | "store" | "close">> {
  const list = (await readJson(source, store, "manifest.json")) as unknown;
  if (!Array.isArray(list) || list.length === 0) throw imageError(source, "manifest.json lists no image");
  if (list.length > 1) {
    const tags = list.map((m: { RepoTags?: string[] }) => m.RepoTags?.join(",") ?? "(untagged)").join("; ");
    throw imageError(source, `holds ${list.length} images (${tags}); save one image per archive`);
  }
  const m = list[0] as { Config?: unknown; Layers?: unknown };
  if (typeof m.Config !== "string" || !Array.isArray(m.Layers)) throw imageError(source, "manifest.json's entry has no Config or Layers");
  const configName = imageName(source, m.Config);
  // A config is named by its digest (`<hex>.json` or `blobs/sha256/<hex>`): check it when it is.
  const hex = /([0-9a-f]{64})(\.json)?$/.exec(configName)?.[1];
  const config = await readJson(source, store, configName, hex);
  return fromConfig(source, config, (m.Layers as unknown[]).map((l) => imageName(source, String(l))), store);
}

async function fromConfig(source: string, config: Record<string, unknown>, layerNames: string[], store: ImageStore): Promise<Omit<OciImage, "source" | "store" | "close">> {
  if (config.os !== "linux" || config.architecture !== "386") throw wrongArch(source, [`${String(config.os)}/${String(config.architecture)}`]);
  const rootfs = config.rootfs as { diff_ids?: unknown } | undefined;
  const diffIds = Array.isArray(rootfs?.diff_ids) ? rootfs.diff_ids : [];
  if (diffIds.length !== layerNames.length) throw imageError(source, `its config lists ${diffIds.length} layer digests for ${layerNames.length} layers`);
  for (const n of layerNames) if (!(await store.sha256(n))) throw imageError(source, `layer ${n} is missing`);
  const c = (config.config ?? {}) as Record<string, unknown>;
  const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : undefined);
  const text = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : undefined);
  return {
    defaults: { entrypoint: strings(c.Entrypoint), cmd: strings(c.Cmd), env: strings(c.Env) ?? [], workingDir: text(c.WorkingDir), user: text(c.User) },
    layers: layerNames.map((name, i) => ({ name, diffId: blobName(source, diffIds[i]).hex })),
  };
}

function wrongArch(source: string, platforms: string[]): VmsfxError {
  const have = platforms.length ? `it is for ${[...new Set(platforms)].join(", ")}` : "it names no platform";
  return new VmsfxError("VMSFX_IMAGE_ARCH", `${source}: ${have}, and vmsfx runs linux/386 (32-bit x86) guests. Save the image for that platform (for example \`docker pull --platform linux/386 IMAGE\` then \`docker save\`, or \`skopeo copy --override-arch 386\`), or build it FROM an i386 base such as i386/debian.`);
}
