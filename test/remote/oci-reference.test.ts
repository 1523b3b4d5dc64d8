import { describe, expect, it } from "vitest";
import { apiBase, formatOciReference, manifestRef, ociReferenceProblem, parseOciReference } from "../../src/snapshot/oci-reference";
import { VmsfxError } from "../../src/errors";

const D = `sha256:${"ab".repeat(32)}`;

describe("OCI references (oci://REGISTRY/REPO[:TAG][@DIGEST])", () => {
  it("reads registry, repository, tag and digest, and writes them back the same", () => {
    const r = parseOciReference(`oci://GHCR.io/owner/app:1.0@${D}`);
    expect(r).toEqual({ registry: "ghcr.io", repository: "owner/app", tag: "1.0", digest: D, insecure: false });
    expect(formatOciReference(r)).toBe(`oci://ghcr.io/owner/app:1.0@${D}`);
    expect(parseOciReference("oci+http://127.0.0.1:5000/a/b/c:latest")).toMatchObject({ registry: "127.0.0.1:5000", repository: "a/b/c", tag: "latest", insecure: true });
    expect(apiBase(parseOciReference("oci+http://127.0.0.1:5000/a:b"))).toBe("http://127.0.0.1:5000/v2/");
  });

  it("speaks to Docker Hub at its API host, official images under library/", () => {
    const r = parseOciReference("oci://docker.io/busybox:latest");
    expect(r.repository).toBe("library/busybox");
    expect(apiBase(r)).toBe("https://registry-1.docker.io/v2/");
  });

  it("asks for the digest when pinned, else the tag; neither is a usage error", () => {
    expect(manifestRef(parseOciReference(`oci://r.io/a:t@${D}`))).toBe(D);
    expect(manifestRef(parseOciReference("oci://r.io/a:t"))).toBe("t");
    expect(() => manifestRef(parseOciReference("oci://r.io/a"))).toThrow(/name a tag/);
  });

  it.each([
    ["https://ghcr.io/a:b", "not an oci:// reference"],
    ["oci://ghcr.io", "not an oci:// reference"],
    ["oci://ghcr.io/Owner/App:1", "not a repository name"],
    ["oci://ghcr.io/a//b:1", "not a repository name"],
    ["oci://ghcr.io/a:-bad", "is not a tag"],
    ["oci://ghcr.io/a:1@sha256:xyz", "is not a sha256"],
    ["oci://bad_host/a:1", "is not a registry"],
  ])("refuses %s (exit 2, saying why)", (text, why) => {
    try {
      parseOciReference(text);
      throw new Error("accepted");
    } catch (e) {
      expect(e).toBeInstanceOf(VmsfxError);
      expect((e as VmsfxError).exitCode).toBe(2);
      expect((e as VmsfxError).message).toContain(why);
    }
    expect(ociReferenceProblem(text)).toContain(why);
  });
});
