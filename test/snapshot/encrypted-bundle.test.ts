import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { openSnapshotDir } from "../../src/snapshot/snapshot-dir";
import { writeBundle } from "../../src/snapshot/bundle-writer";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { verifySnapshot } from "../../src/snapshot/snapshot-report";
import { BlockReader } from "../../src/snapshot/snapshot-source";
import { BlockCipher, parseEncryptionHeader, unlock, type Secret } from "../../src/policy/encryption";
import { VmsfxError } from "../../src/errors";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";

async function encryptedBundle(secret: Secret) {
  const snap = await makeSyntheticSnapshot();
  const { cipher, kdf } = await BlockCipher.derive(secret);
  const out = path.join(tempDir(), "secret.vmsfx");
  await writeBundle(await openSnapshotDir(snap.dir), out, {
    encrypt: {
      cipher,
      header: (sealed) => Buffer.from(JSON.stringify({ format: "vmsfx-encrypted", version: 1, public: { guest: "synthetic" }, kdf, check: cipher.check, manifest: Buffer.from(sealed).toString("base64") })),
    },
  });
  return { ...snap, out };
}

const unlocker = (secret: Secret) => async (header: Uint8Array, where: string) => unlock(parseEncryptionHeader(header, where), secret, where);

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    expect(e).toBeInstanceOf(VmsfxError);
    return (e as VmsfxError).code;
  }
}

describe("encrypted bundles", () => {
  it("round-trip with the passphrase; every block verifies and decodes to the original memory", async () => {
    const secret = { passphrase: "correct horse" };
    const { out, memory } = await encryptedBundle(secret);
    const b = await openBundle(out, { unlock: unlocker(secret) });
    expect((await verifySnapshot(b)).failures).toEqual([]);
    const reader = await BlockReader.open(b);
    const i = b.manifest.memory.blocks.findIndex((h) => h);
    expect(Buffer.from(await reader.read(b.manifest.memory.blocks[i]!, 4096)).equals(Buffer.from(memory.subarray(i * 4096, (i + 1) * 4096)))).toBe(true);
    await b.close();
  });

  it("show nothing but the public header without the key, and no plaintext anywhere in the file", async () => {
    const { out } = await encryptedBundle({ passphrase: "pw" });
    expect(await code(openBundle(out))).toBe("VMSFX_PASSPHRASE_NEEDED");
    const bytes = readFileSync(out).toString("latin1");
    expect(bytes).not.toContain("device state"); // the synthetic state block's text
    expect(bytes).not.toContain('"vmsfx-snapshot"');
  });

  it("a wrong passphrase is its own error, found before any block is touched", async () => {
    const { out } = await encryptedBundle({ passphrase: "right" });
    expect(await code(openBundle(out, { unlock: unlocker({ passphrase: "wrong" }) }))).toBe("VMSFX_WRONG_PASSPHRASE");
  });

  it("works with a key file too", async () => {
    const keyFile = path.join(tempDir(), "key");
    require("node:fs").writeFileSync(keyFile, require("node:crypto").randomBytes(32));
    const { out } = await encryptedBundle({ keyFile });
    const b = await openBundle(out, { unlock: unlocker({ keyFile }) });
    expect((await verifySnapshot(b)).failures).toEqual([]);
    await b.close();
  });
});
