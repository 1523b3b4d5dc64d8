import { VmsfxError } from "../errors";

/**
 * Where an app lives in an OCI registry: `oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]`, or
 * `oci+http://…` for a registry spoken to over plain HTTP (`--insecure`: a registry on this
 * machine or a lab's). A thin bundle's manifest holds this string (so it is signed): the digest
 * pins the artifact its blocks come from, the tag is what `--update` asks for a newer version.
 * The grammar is the distribution spec's, so a reference that parses is one every registry takes.
 */

export interface OciReference {
  /** host[:port], lower-case, as written (docker.io is spoken to at registry-1.docker.io). */
  registry: string;
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>`: the artifact's image manifest. */
  digest?: string;
  insecure: boolean;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

export function isOciUrl(s: string): boolean {
  return /^oci(\+http)?:\/\//i.test(s);
}

/** Parses a reference, or throws VMSFX_USAGE naming what is wrong and how a good one looks. */
export function parseOciReference(text: string): OciReference {
  const bad = (what: string): never => {
    throw new VmsfxError("VMSFX_USAGE", `${JSON.stringify(text.slice(0, 200))}: ${what}. A registry reference looks like oci://ghcr.io/owner/app:1.0 (oci+http:// for plain HTTP).`);
  };
  const m = /^(oci|oci\+http):\/\/([^/]+)\/(.+)$/i.exec(text);
  if (!m) return bad("is not an oci:// reference with a registry and a repository");
  const registry = m[2].toLowerCase();
  if (!HOST.test(registry)) bad(`"${m[2]}" is not a registry host[:port]`);
  let rest = m[3];
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) bad(`"${digest}" is not a sha256:<64 lowercase hex> digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(`"${tag}" is not a tag (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  if (rest.length > 255 || !rest.split("/").every((c) => COMPONENT.test(c))) bad(`"${rest}" is not a repository name (lower-case components like owner/app)`);
  const repository = registry === "docker.io" && !rest.includes("/") ? `library/${rest}` : rest;
  return { registry, repository, tag, digest, insecure: m[1].toLowerCase() === "oci+http" };
}

/** Why `text` is not a registry reference (VMSFX_USAGE's reason), or undefined when it is one. */
export function ociReferenceProblem(text: string): string | undefined {
  try {
    parseOciReference(text);
    return undefined;
  } catch (e) {
    if (e instanceof VmsfxError) return e.reason;
    throw e;
  }
}

export function formatOciReference(r: OciReference): string {
  return `${r.insecure ? "oci+http" : "oci"}://${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
}

/** The registry's API base: https (http when insecure), Docker Hub's API host for docker.io. */
export function apiBase(r: OciReference): string {
  const host = r.registry === "docker.io" ? "registry-1.docker.io" : r.registry;
  return `${r.insecure ? "http" : "https"}://${host}/v2/`;
}

/** What to ask the registry for: the pinned digest when there is one, else the tag. */
export function manifestRef(r: OciReference): string {
  const ref = r.digest ?? r.tag;
  if (!ref) throw new VmsfxError("VMSFX_USAGE", `${formatOciReference(r)}: name a tag (oci://${r.registry}/${r.repository}:TAG).`);
  return ref;
}
