import { createHash } from "node:crypto";
import { VmsfxError } from "../errors";

/**
 * A vmsfx app as an OCI 1.1 artifact: an image manifest whose `artifactType` is ours, and as layers (in this order) the app's manifest (the bundle's manifest entry,
 * byte for byte, so its signature still holds), its signature when signed, the pack index, and
 * the packs. Tools that know nothing of vmsfx (skopeo, crane, a registry's UI) see a well-formed
 * artifact; a registry stores and serves it like any image.
 *
 * The config is a minimal image config (the guest's platform, the app's name as a label) rather
 * than the OCI "empty" one: tools built on containers/image (skopeo, podman) refuse to inspect
 * an artifact with any other config type, while OCI 1.1 allows `artifactType` beside any config.
 */

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const ARTIFACT_TYPE = "application/vnd.vmsfx.app.v1";
export const MEDIA = {
  manifest: "application/vnd.vmsfx.manifest.v1+json",
  signature: "application/vnd.vmsfx.signature.v1+json",
  index: "application/vnd.vmsfx.pack-index.v1+json",
  pack: "application/vnd.vmsfx.pack.v1",
} as const;
export const IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json";

/** The config blob: the guest's platform and the app's name (no layers to run: `diff_ids` is empty). */
export function configBlob(guestName: string): Buffer {
  return Buffer.from(JSON.stringify({ architecture: "386", os: "linux", config: { Labels: { "dev.vmsfx.app": guestName.slice(0, 200) } }, rootfs: { type: "layers", diff_ids: [] } }));
}
/** Manifests larger than this are refused by common registries; ours is a few KiB. */
export const MAX_OCI_MANIFEST = 4 << 20;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface VmsfxArtifact {
  config: Descriptor;
  manifest: Descriptor;
  signature?: Descriptor;
  index: Descriptor;
  packs: Descriptor[];
  /** When it was published (an annotation; informative). */
  created?: string;
}

export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export function descriptor(mediaType: string, bytes: Uint8Array, title?: string): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength, ...(title ? { annotations: { "org.opencontainers.image.title": title } } : {}) };
}

/** The image manifest's bytes, exactly as pushed (its digest names this version). */
export function artifactManifest(a: VmsfxArtifact, guestName: string): Buffer {
  const layers = [a.manifest, ...(a.signature ? [a.signature] : []), a.index, ...a.packs];
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: ARTIFACT_TYPE,
      config: a.config,
      layers,
      annotations: { "org.opencontainers.image.created": a.created ?? new Date().toISOString(), "org.opencontainers.image.title": guestName.slice(0, 200) },
    }),
  );
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Reads a registry's manifest; throws VMSFX_REGISTRY_NOT_VMSFX for anything that is not a vmsfx app this version reads. */
export function parseArtifact(bytes: Uint8Array, where: string): VmsfxArtifact {
  const notOurs = (what: string): never => {
    throw new VmsfxError("VMSFX_REGISTRY_NOT_VMSFX", `${where} ${what}, not a vmsfx app. Check the tag; publish the app there with \`vmsfx publish APP --to ${where}\`.`);
  };
  let m: { mediaType?: unknown; artifactType?: unknown; layers?: unknown; annotations?: unknown; manifests?: unknown; config?: unknown };
  try {
    m = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return notOurs("holds a manifest that is not JSON");
  }
  if (Array.isArray(m?.manifests)) notOurs("holds an image index (a multi-platform image)");
  if (m?.artifactType !== ARTIFACT_TYPE) notOurs(typeof m?.artifactType === "string" ? `holds an artifact of type ${m.artifactType.slice(0, 80)}` : "holds a container image");
  if (!Array.isArray(m.layers)) notOurs("holds a manifest without layers");
  const checked = (l: unknown): Descriptor => {
    const d = l as Partial<Descriptor>;
    if (typeof d?.mediaType !== "string" || typeof d.digest !== "string" || !DIGEST.test(d.digest) || typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) notOurs("lists a malformed blob");
    return { mediaType: d.mediaType!, digest: d.digest!, size: d.size! };
  };
  const config = checked(m.config);
  const layers = (m.layers as unknown[]).map(checked);
  const one = (type: string) => layers.filter((l) => l.mediaType === type);
  const [manifest] = one(MEDIA.manifest);
  const [index] = one(MEDIA.index);
  if (!manifest || !index || one(MEDIA.manifest).length > 1 || one(MEDIA.index).length > 1) notOurs("lacks the vmsfx manifest or pack index");
  const signatures = one(MEDIA.signature);
  if (signatures.length > 1) notOurs("holds two signatures");
  const created = (m.annotations as Record<string, unknown> | undefined)?.["org.opencontainers.image.created"];
  return { config, manifest, index, packs: one(MEDIA.pack), ...(signatures[0] ? { signature: signatures[0] } : {}), ...(typeof created === "string" ? { created } : {}) };
}
