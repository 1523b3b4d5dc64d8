import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { promises as fsp } from "node:fs";
import { VmsfxError, fromFsError } from "../errors";

/**
 * Ed25519 signatures over the manifest bytes. The manifest names every block by hash and holds
 * the policy, so one signature covers the whole snapshot. Keys on disk are PEM (PKCS#8 private,
 * SPKI public); on the command line and in policies a public key is the base64 of its 32 raw bytes.
 */

export interface Signature {
  alg: "ed25519";
  /** base64 of the signer's raw 32-byte public key */
  key: string;
  /** base64 of the 64-byte signature */
  sig: string;
}

const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function rawPublicKey(key: KeyObject): string {
  const der = key.export({ type: "spki", format: "der" });
  return der.subarray(SPKI_ED25519_PREFIX.length).toString("base64");
}

function publicKeyFromRaw(raw: string, where: string): KeyObject {
  const bytes = Buffer.from(raw, "base64");
  if (bytes.length !== 32) throw new VmsfxError("VMSFX_SIGNATURE_INVALID", `${where}: "${raw.slice(0, 20)}…" is not an Ed25519 public key (base64 of 32 bytes).`);
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, bytes]), format: "der", type: "spki" });
}

/** Writes `<out>` (private, mode 0600, never overwritten) and `<out>.pub`; returns the public key. */
export async function generateKeyFiles(out: string): Promise<string> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const pub = rawPublicKey(publicKey);
  try {
    await fsp.writeFile(out, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
    await fsp.writeFile(`${out}.pub`, `${pub}\n`, { mode: 0o644, flag: "wx" });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new VmsfxError("VMSFX_IO", `${out} or ${out}.pub already exists; keygen never overwrites a key. Choose another name.`);
    throw fromFsError(e, out, "writing the key");
  }
  return pub;
}

export async function signManifest(manifestBytes: Uint8Array, keyFile: string): Promise<Signature> {
  const pem = await fsp.readFile(keyFile).catch((e) => Promise.reject(fromFsError(e, keyFile, "reading the signing key")));
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new VmsfxError("VMSFX_SIGNATURE_INVALID", `${keyFile} is not a private key. Make one with \`vmsfx keygen -o <file>\`.`);
  }
  if (key.asymmetricKeyType !== "ed25519") throw new VmsfxError("VMSFX_SIGNATURE_INVALID", `${keyFile} is a ${key.asymmetricKeyType} key; vmsfx signs with Ed25519 (\`vmsfx keygen\`).`);
  return { alg: "ed25519", key: rawPublicKey(createPublicKey(key)), sig: sign(null, manifestBytes, key).toString("base64") };
}

export function parseSignature(bytes: Uint8Array, where: string): Signature {
  let s: Signature;
  try {
    s = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw new VmsfxError("VMSFX_SIGNATURE_INVALID", `${where}: the signature is damaged. Download or copy the file again.`);
  }
  if (s?.alg !== "ed25519" || typeof s.key !== "string" || typeof s.sig !== "string") throw new VmsfxError("VMSFX_SIGNATURE_INVALID", `${where}: the signature is damaged. Download or copy the file again.`);
  return s;
}

/** Throws unless `s` is a valid signature of `manifestBytes` (and, if given, by `requiredKey`). */
export function checkSignature(manifestBytes: Uint8Array, s: Signature, where: string, requiredKey?: string): void {
  const key = publicKeyFromRaw(s.key, where);
  if (!verify(null, manifestBytes, key, Buffer.from(s.sig, "base64"))) {
    throw new VmsfxError("VMSFX_SIGNATURE_INVALID", `${where}: the signature does not match the contents. The file was modified after it was signed; get it again from its publisher.`);
  }
  if (requiredKey !== undefined && requiredKey !== s.key) {
    throw new VmsfxError("VMSFX_SIGNER_MISMATCH", `${where}: signed by key ${s.key.slice(0, 12)}…, not by the expected publisher key ${requiredKey.slice(0, 12)}…. Do not run it; get it from its publisher.`);
  }
}

/** `--require-signer` takes the key itself or a `.pub` file holding it. */
export async function resolvePublicKey(arg: string): Promise<string> {
  const text = await fsp.readFile(arg, "utf8").then((t) => t.trim(), () => arg.trim());
  publicKeyFromRaw(text, "--require-signer");
  return text;
}
