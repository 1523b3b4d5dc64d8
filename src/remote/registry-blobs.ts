import { VmsfxError } from "../errors";
import { digestOf, MAX_OCI_MANIFEST, OCI_MANIFEST } from "./oci-artifact";
import { HttpClient, type ByteRange, type GetResult } from "./http-request";
import { headerOf } from "./registry-http";
import { registryError, type RegistryClient } from "./registry-client";
import { RemoteError } from "./remote-error";

/**
 * The distribution API's operations on one repository: manifests by tag or digest, blobs
 * checked, mounted, uploaded (in chunks, resumed after a broken connection) and read (whole or
 * by range, through redirects to object storage without our Authorization).
 */

const ACCEPT = [OCI_MANIFEST, "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"].join(", ");

export interface FetchedManifest {
  bytes: Buffer;
  /** The digest of exactly these bytes: what pins this version. */
  digest: string;
}

/** The manifest a tag or digest names; by digest, the bytes must hash to it. */
export async function getManifest(c: RegistryClient, reference: string): Promise<FetchedManifest> {
  const res = await c.call("GET", c.url(`manifests/${reference}`), { headers: { accept: ACCEPT }, maxBytes: MAX_OCI_MANIFEST, ok: [200], what: `the manifest ${reference}` });
  const digest = digestOf(res.body);
  if (reference.startsWith("sha256:") && digest !== reference) throw new RemoteError("mismatch", res.url, `sent a manifest whose digest is ${digest}, not the ${reference} asked for`);
  return { bytes: res.body, digest };
}

export async function putManifest(c: RegistryClient, reference: string, bytes: Buffer): Promise<string> {
  await c.call("PUT", c.url(`manifests/${reference}`), { headers: { "content-type": OCI_MANIFEST }, body: bytes, ok: [201], what: `the manifest ${reference}` });
  return digestOf(bytes);
}

export async function blobExists(c: RegistryClient, digest: string): Promise<boolean> {
  const res = await c.call("HEAD", c.url(`blobs/${digest}`), { ok: [200, 404], what: `blob ${digest}` });
  return res.status === 200;
}

/** Asks the registry to link a blob another repository of it holds (no bytes sent); false when it did not. */
export async function mountBlob(c: RegistryClient, digest: string, from: string): Promise<boolean> {
  const url = `${c.url("blobs/uploads/")}?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
  const res = await c.call("POST", url, { ok: [201, 202], what: `a mount of ${digest}` });
  if (res.status === 202) await cancelUpload(c, locationOf(res.url, headerOf(res, "location")));
  return res.status === 201;
}

export interface UploadSource {
  digest: string;
  size: number;
  /** The blob's bytes [offset, offset + length): read again for a resumed chunk. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/**
 * Uploads a blob: in one request when it fits in a chunk, else in chunks of `chunkBytes` (GHCR
 * takes at most 4 MiB per request). A chunk whose connection broke is not sent again blindly:
 * the registry is asked how much it has, and the upload goes on from there.
 */
export async function uploadBlob(c: RegistryClient, blob: UploadSource, chunkBytes: number, onBytes?: (n: number) => void): Promise<void> {
  const started = await c.call("POST", c.url("blobs/uploads/"), { ok: [202], what: "a new upload" });
  let location = locationOf(started.url, headerOf(started, "location"));
  if (blob.size <= chunkBytes) {
    const body = await blob.read(0, blob.size);
    await c.call("PUT", withDigest(location, blob.digest), { headers: { "content-type": "application/octet-stream" }, body, ok: [201], what: `blob ${blob.digest}` });
    onBytes?.(blob.size);
    return;
  }
  let offset = 0;
  let resumes = 0;
  while (offset < blob.size) {
    const n = Math.min(chunkBytes, blob.size - offset);
    const body = await blob.read(offset, n);
    try {
      const res = await c.call("PATCH", location, {
        headers: { "content-type": "application/octet-stream", "content-range": `${offset}-${offset + n - 1}` },
        body,
        ok: [202],
        what: `part of blob ${blob.digest}`,
        once: true,
      });
      location = locationOf(res.url, headerOf(res, "location"));
      offset += n;
      onBytes?.(n);
    } catch (e) {
      if (!(e instanceof RemoteError) || !e.retryable || ++resumes > 5) throw e;
      const status = await c.call("GET", location, { ok: [204], what: "the upload's progress" });
      location = locationOf(status.url, headerOf(status, "location") ?? location);
      const had = /^0-(\d+)$/.exec(headerOf(status, "range") ?? "");
      const next = had ? Number(had[1]) + 1 : 0;
      onBytes?.(next - offset);
      offset = next;
    }
  }
  await c.call("PUT", withDigest(location, blob.digest), { ok: [201], what: `blob ${blob.digest}` });
}

async function cancelUpload(c: RegistryClient, location: string): Promise<void> {
  await c.call("DELETE", location, { ok: [204, 404, 405], what: "an unused upload" }).catch(() => undefined);
}

function locationOf(base: string, location: string | undefined): string {
  if (!location) throw new RemoteError("protocol", base, "answered an upload without a Location");
  return new URL(location, base).href;
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set("digest", digest);
  return u.href;
}

export interface BlobRead {
  range?: ByteRange;
  maxBytes: number;
  /** The blob's size: a registry that ignores Range may send all of it (see GetResult.whole). */
  size?: number;
  signal?: AbortSignal;
}

/**
 * Reads a blob or part of it, through redirects (object storage never gets our token), renewing
 * the token once on a 401 or 403 (one expired mid-pull), with the range checks of http-request.ts.
 */
export async function readBlob(c: RegistryClient, http: HttpClient, digest: string, r: BlobRead): Promise<GetResult> {
  const url = c.url(`blobs/${digest}`);
  const get = (authorization: string | undefined) => http.get(url, { maxBytes: r.maxBytes, range: r.range, ...(r.range && r.size !== undefined ? { wholeIfIgnored: r.size } : {}), signal: r.signal, authorization });
  try {
    const first = await c.authorization();
    return await get(first).catch(async (e: unknown) => (e instanceof RemoteError && (e.status === 401 || e.status === 403) ? get(await c.authorization(first ?? "")) : Promise.reject(e)));
  } catch (e) {
    if (e instanceof RemoteError && e.status !== undefined && [401, 403, 404, 429].includes(e.status)) {
      throw registryError({ status: e.status, headers: e.retryAfterMs === undefined ? {} : { "retry-after": String(Math.ceil(e.retryAfterMs / 1000)) }, body: Buffer.alloc(0), url }, c.where, `blob ${digest}`, undefined);
    }
    throw e;
  }
}

/** A small blob (the app's manifest, signature, pack index) read whole and checked against its digest. */
export async function readSmallBlob(c: RegistryClient, http: HttpClient, digest: string, size: number, signal?: AbortSignal): Promise<Buffer> {
  const { body } = await readBlob(c, http, digest, { maxBytes: size, signal });
  if (digestOf(body) !== digest) throw new VmsfxError("VMSFX_DOWNLOAD_INTEGRITY", `${c.where}: blob ${digest} arrived with other bytes (its digest differs). Try again; if it persists, publish the app again.`);
  return body;
}
