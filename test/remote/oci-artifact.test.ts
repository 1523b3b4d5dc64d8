import { describe, expect, it } from "vitest";
import { ARTIFACT_TYPE, artifactManifest, configBlob, descriptor, IMAGE_CONFIG, MEDIA, OCI_MANIFEST, parseArtifact } from "../../src/remote/oci-artifact";
import { runsOf } from "../../src/remote/oci-remote";
import { VmsfxError } from "../../src/errors";

const d = (mediaType: string, text: string) => descriptor(mediaType, Buffer.from(text));

describe("the app as an OCI artifact", () => {
  const artifact = { config: d(IMAGE_CONFIG, configBlob("notes").toString()), manifest: d(MEDIA.manifest, "{}"), signature: d(MEDIA.signature, "sig"), index: d(MEDIA.index, "idx"), packs: [d(MEDIA.pack, "p1"), d(MEDIA.pack, "p2")] };

  it("is an OCI 1.1 image manifest with our artifactType, read back as written", () => {
    const bytes = artifactManifest(artifact, "notes");
    const m = JSON.parse(bytes.toString());
    expect(m).toMatchObject({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: ARTIFACT_TYPE });
    expect(m.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([MEDIA.manifest, MEDIA.signature, MEDIA.index, MEDIA.pack, MEDIA.pack]);
    const back = parseArtifact(bytes, "oci://r/a:t");
    expect(back.packs.map((p) => p.digest)).toEqual(artifact.packs.map((p) => p.digest));
    expect(back.signature?.digest).toBe(artifact.signature.digest);
    expect(JSON.parse(configBlob("notes").toString())).toMatchObject({ architecture: "386", os: "linux", config: { Labels: { "dev.vmsfx.app": "notes" } } });
  });

  it.each([
    ["a container image", { schemaVersion: 2, mediaType: OCI_MANIFEST, config: artifact.config, layers: [] }, "holds a container image"],
    ["another artifact", { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.cncf.helm.config.v1+json", config: artifact.config, layers: [] }, "artifact of type application/vnd.cncf.helm"],
    ["an image index", { schemaVersion: 2, manifests: [] }, "image index"],
    ["ours without its index", { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: ARTIFACT_TYPE, config: artifact.config, layers: [artifact.manifest] }, "lacks the vmsfx manifest or pack index"],
  ])("refuses %s: VMSFX_REGISTRY_NOT_VMSFX (exit 66), naming what it is", (_what, m, said) => {
    try {
      parseArtifact(Buffer.from(JSON.stringify(m)), "oci://r/a:t");
      throw new Error("accepted");
    } catch (e) {
      expect(e).toBeInstanceOf(VmsfxError);
      expect((e as VmsfxError).exitCode).toBe(66);
      expect((e as VmsfxError).message).toContain(said);
    }
  });
});

describe("reading blocks of a pack together", () => {
  const w = (offset: number, length: number) => ({ block: { hash: `${offset}`, offset, length } });
  it("neighbours (and near neighbours) share one range; far ones and oversize runs do not", () => {
    const runs = runsOf([w(300_000, 100_000), w(0, 100_000), w(100_000, 100_000), w(250_000, 10_000), w(5_000_000, 10)]);
    expect(runs.map((r) => r.map((x) => x.block.offset))).toEqual([[0, 100_000, 250_000, 300_000], [5_000_000]]);
    const big = Array.from({ length: 40 }, (_, i) => w(i * 256 * 1024, 256 * 1024));
    expect(runsOf(big).map((r) => r.length)).toEqual([32, 8]);
  });
});
