import { VmsfxError } from "../errors";
import type { BlockHash } from "../snapshot/manifest";
import { HttpClient } from "./http-request";
import { parseArtifact } from "./oci-artifact";
import { locateBlocks, parsePackIndex } from "./pack-layout";
import { getManifest, readSmallBlob } from "./registry-blobs";
import { RegistryClient } from "./registry-client";
import { formatOciReference, manifestRef, parseOciReference } from "../snapshot/oci-reference";

/**
 * `pack --thin --remote oci://…:TAG`: the reference a thin bundle keeps is pinned to the artifact
 * the tag names now (`…:TAG@sha256:…`), so its blocks come from that version even after the tag
 * moves on, and only after checking that the artifact holds every block the bundle leaves out.
 */
export async function pinRegistryRemote(url: string, leftOut: Iterable<BlockHash>): Promise<string> {
  const ref = parseOciReference(url);
  const client = new RegistryClient(ref);
  const http = new HttpClient();
  try {
    const where = formatOciReference(ref);
    const { bytes, digest } = await getManifest(client, manifestRef(ref));
    const artifact = parseArtifact(bytes, where);
    const at = locateBlocks(parsePackIndex(await readSmallBlob(client, http, artifact.index.digest, artifact.index.size), where));
    const missing = [...leftOut].filter((h) => !at.has(h)).length;
    if (missing > 0) {
      throw new VmsfxError("VMSFX_REGISTRY_NOT_FOUND", `${where} holds another version of this app: ${missing} of the blocks this thin bundle leaves out are not there. Publish this snapshot there first (vmsfx publish SNAPSHOT --to ${formatOciReference({ ...ref, digest: undefined })}).`);
    }
    return formatOciReference({ ...ref, digest });
  } finally {
    client.close();
    http.close();
  }
}
