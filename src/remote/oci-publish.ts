import { VmsfxError } from "../errors";
import type { BlockHash } from "../snapshot/manifest";
import { sha256 } from "../snapshot/bundle-layout";
import { planFor, type Plan } from "./publish-source";
import { planPacks, serializePackIndex, PACK_INDEX_FORMAT, PACK_INDEX_VERSION, type Pack } from "./pack-layout";
import { artifactManifest, configBlob, descriptor, IMAGE_CONFIG, MEDIA, type Descriptor } from "./oci-artifact";
import { blobExists, mountBlob, putManifest, uploadBlob, type UploadSource } from "./registry-blobs";
import { RegistryClient, type RegistryOptions } from "./registry-client";
import { formatOciReference, type OciReference } from "../snapshot/oci-reference";

/**
 * `vmsfx publish APP --to oci://REGISTRY/REPO:TAG`: the app as an OCI artifact (oci-artifact.ts)
 * whose blocks are grouped into packs (pack-layout.ts). A blob the repository already has (an
 * unchanged pack of the previous version) is not sent again, and one another repository of the
 * registry has is mounted (`--mount-from`). The manifest is pushed last, under the tag and under
 * `sha256-<manifest hash>`, a tag per version, so a registry that deletes untagged manifests
 * keeps every version a thin bundle may still point at.
 */

export interface OciPublishOptions extends Pick<RegistryOptions, "credentials" | "env" | "mountFrom"> {
  /** Largest request body of an upload (GHCR: 4 MiB). */
  chunkBytes?: number;
  onPhase?: (line: string) => void;
  onProgress?: (done: number, total: number) => void;
}

export interface OciPublishResult {
  /** The artifact, pinned: `oci://…:TAG@sha256:…`. */
  reference: string;
  digest: string;
  packs: number;
  blobs: number;
  /** Blobs the repository had already, or got by a mount, and the bytes not sent for them. */
  reused: number;
  reusedBytes: number;
  uploadedBytes: number;
  manifestSha256: string;
}

const DEFAULT_CHUNK = 4 << 20;

interface Blob {
  descriptor: Descriptor;
  source: UploadSource;
}

export async function publishToRegistry(input: string, ref: OciReference, o: OciPublishOptions = {}): Promise<OciPublishResult> {
  if (!ref.tag || ref.digest) throw new VmsfxError("VMSFX_USAGE", `${formatOciReference(ref)}: publish needs a tag and no digest (oci://${ref.registry}/${ref.repository}:TAG).`);
  const plan = await planFor(input);
  const client = new RegistryClient(ref, { push: true, credentials: o.credentials, env: o.env, mountFrom: o.mountFrom });
  try {
    o.onPhase?.(`reading ${plan.items.length} blocks into packs`);
    let read = 0;
    const rawLength = new Map(plan.items.map((i) => [i.hash, i.rawLength]));
    const packs = await planPacks(plan.items, (h) => readChecked(plan, h, rawLength.get(h)!), undefined, () => o.onProgress?.(++read, plan.items.length));
    const manifestSha256 = sha256(plan.manifestBytes);
    const index = serializePackIndex({ format: PACK_INDEX_FORMAT, version: PACK_INDEX_VERSION, manifestSha256, packs });
    const small = (mediaType: string, bytes: Buffer, title: string): Blob => ({ descriptor: descriptor(mediaType, bytes, title), source: bytesSource(bytes) });
    const meta = [small(MEDIA.manifest, plan.manifestBytes, "manifest.json"), ...(plan.signature ? [small(MEDIA.signature, plan.signature, "signature")] : []), small(MEDIA.index, index, "packs.json")];
    const packBlobs = packs.map((p): Blob => ({ descriptor: { mediaType: MEDIA.pack, digest: p.digest, size: p.size }, source: packSource(plan, p) }));
    const config = small(IMAGE_CONFIG, configBlob(guestName(plan)), "");
    const blobs = [config, ...meta, ...packBlobs];
    const sent = await sendBlobs(client, blobs, o);
    const artifact = artifactManifest({ config: config.descriptor, manifest: meta[0].descriptor, ...(plan.signature ? { signature: meta[1].descriptor } : {}), index: meta[meta.length - 1].descriptor, packs: packBlobs.map((b) => b.descriptor) }, guestName(plan));
    o.onPhase?.(`tagging ${ref.tag}`);
    const digest = await putManifest(client, ref.tag, artifact);
    await putManifest(client, `sha256-${manifestSha256}`, artifact);
    return { reference: formatOciReference({ ...ref, digest }), digest, packs: packs.length, blobs: blobs.length, ...sent, manifestSha256 };
  } finally {
    client.close();
    await plan.close();
  }
}

/** Sends what the repository lacks, in order; the rest is reused (already there, or mounted). */
async function sendBlobs(client: RegistryClient, blobs: Blob[], o: OciPublishOptions): Promise<{ reused: number; reusedBytes: number; uploadedBytes: number }> {
  const total = blobs.reduce((s, b) => s + b.descriptor.size, 0);
  let done = 0;
  const r = { reused: 0, reusedBytes: 0, uploadedBytes: 0 };
  o.onPhase?.("uploading what the registry does not have");
  for (const b of blobs) {
    const { digest, size } = b.descriptor;
    if ((await blobExists(client, digest)) || (await mountedFromAny(client, digest, o.mountFrom ?? []))) {
      r.reused++;
      r.reusedBytes += size;
      done += size;
    } else {
      await uploadBlob(client, b.source, o.chunkBytes ?? DEFAULT_CHUNK, (n) => {
        done += n;
        o.onProgress?.(done, total);
      });
      r.uploadedBytes += size;
    }
    o.onProgress?.(done, total);
  }
  return r;
}

async function mountedFromAny(client: RegistryClient, digest: string, from: string[]): Promise<boolean> {
  for (const repo of from) if (await mountBlob(client, digest, repo)) return true;
  return false;
}

async function readChecked(plan: Plan, hash: BlockHash, rawLength: number): Promise<Uint8Array> {
  const stored = await plan.readStored(hash, rawLength);
  if (sha256(stored) !== hash) {
    throw new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${plan.location}: block ${hash.slice(0, 12)}… does not match its SHA-256. The source is corrupted; nothing was published. Capture, pack or copy it again.`);
  }
  return stored;
}

function bytesSource(bytes: Buffer): UploadSource {
  return { digest: descriptor("", bytes).digest, size: bytes.byteLength, read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

/** A pack's bytes, assembled from its blocks again for each part an upload asks for. */
function packSource(plan: Plan, pack: Pack): UploadSource {
  const raw = new Map(plan.items.map((i) => [i.hash, i.rawLength]));
  return {
    digest: pack.digest,
    size: pack.size,
    async read(offset, length) {
      const out = Buffer.alloc(length);
      for (const b of pack.blocks) {
        const from = Math.max(offset, b.offset);
        const to = Math.min(offset + length, b.offset + b.length);
        if (from >= to) continue;
        const bytes = await plan.readStored(b.hash, raw.get(b.hash)!);
        out.set(bytes.subarray(from - b.offset, to - b.offset), from - offset);
      }
      return out;
    },
  };
}

function guestName(plan: Plan): string {
  try {
    return (JSON.parse(plan.manifestBytes.toString("utf8")) as { guest?: { name?: string } }).guest?.name ?? "vmsfx app";
  } catch {
    return "vmsfx app";
  }
}
