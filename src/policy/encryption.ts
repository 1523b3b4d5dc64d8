import { createCipheriv, createDecipheriv, createHmac, randomBytes, scrypt } from "node:crypto";
import { promises as fsp } from "node:fs";
import { VmsfxError, fromFsError } from "../errors";

/**
 * Encrypted bundles: every stored block (and the manifest) is sealed with AES-256-GCM under a key
 * from a passphrase (scrypt) or a key file. The nonce of a block is derived from its content's
 * name (HMAC), so identical blocks still encrypt identically (deduplication and reproducible
 * packs survive) while no two different blocks share a nonce. A block is still named by the
 * SHA-256 of what is stored — here the ciphertext — so integrity is checked before decryption,
 * and GCM's tag then proves the key. A short key check in the public header tells a wrong
 * passphrase from a damaged file before anything is decrypted.
 */

export type Kdf = { name: "scrypt"; salt: string; N: number; r: number; p: number } | { name: "key-file" };

export interface EncryptionHeader {
  format: "vmsfx-encrypted";
  version: 1;
  /** What anyone may see without the key. */
  public: { guest: string };
  kdf: Kdf;
  check: string;
  /** base64 of the sealed manifest */
  manifest: string;
}

const NONCE = 12;
const TAG = 16;
const SCRYPT = { N: 1 << 15, r: 8, p: 1 };
const SCRYPT_MAXMEM = 256 << 20;

export type Secret = { passphrase: string } | { keyFile: string };

function hmac(key: Uint8Array, label: string, data?: Uint8Array): Buffer {
  const h = createHmac("sha256", key).update(label);
  if (data) h.update(data);
  return h.digest();
}

export class BlockCipher {
  private readonly key: Buffer;
  private readonly nonceKey: Buffer;
  readonly check: string;

  private constructor(master: Buffer) {
    this.key = hmac(master, "vmsfx/v1/block-key");
    this.nonceKey = hmac(master, "vmsfx/v1/nonce-key");
    this.check = hmac(master, "vmsfx/v1/key-check").subarray(0, 16).toString("base64");
  }

  /**
   * `saltSeed` names the snapshot being sealed: the salt is derived from it, so every pack of one
   * snapshot under one passphrase gets the same key and so the same block names. That is what
   * lets a thin encrypted bundle fetch its blocks from a published encrypted pack, and keeps
   * packs reproducible; different snapshots still get different salts.
   */
  static async derive(secret: Secret, kdf?: Kdf, saltSeed?: string): Promise<{ cipher: BlockCipher; kdf: Kdf }> {
    if ("keyFile" in secret) {
      const bytes = await fsp.readFile(secret.keyFile).catch((e) => Promise.reject(fromFsError(e, secret.keyFile, "reading the key file")));
      if (bytes.length < 32) throw new VmsfxError("VMSFX_WRONG_PASSPHRASE", `${secret.keyFile}: a key file must hold at least 32 random bytes (e.g. \`head -c 32 /dev/urandom > key\`).`);
      return { cipher: new BlockCipher(hmac(bytes, "vmsfx/v1/key-file")), kdf: { name: "key-file" } };
    }
    const params = kdf?.name === "scrypt" ? kdf : { name: "scrypt" as const, salt: (saltSeed === undefined ? randomBytes(16) : hmac(Buffer.from("vmsfx/v1/salt"), saltSeed).subarray(0, 16)).toString("base64"), ...SCRYPT };
    // scrypt's own checks throw raw errors: a header from a bundle is checked here first.
    const powerOfTwo = params.N >= 2 && (params.N & (params.N - 1)) === 0;
    if (!powerOfTwo || params.N > 1 << 20 || params.r > 32 || params.p > 16 || 128 * params.N * params.r > SCRYPT_MAXMEM) {
      throw new VmsfxError("VMSFX_MANIFEST_INVALID", "the bundle asks for key-derivation parameters vmsfx never writes; it is damaged or was not made by vmsfx.");
    }
    const master = await new Promise<Buffer>((resolve, reject) =>
      scrypt(secret.passphrase.normalize("NFC"), Buffer.from(params.salt, "base64"), 32, { N: params.N, r: params.r, p: params.p, maxmem: SCRYPT_MAXMEM }, (e, k) =>
        e ? reject(new VmsfxError("VMSFX_MANIFEST_INVALID", `the bundle's key-derivation parameters are unusable (${e.message}); it is damaged or was not made by vmsfx.`)) : resolve(k),
      ),
    );
    return { cipher: new BlockCipher(master), kdf: params };
  }

  seal(plain: Uint8Array, context: string): Uint8Array {
    const nonce = hmac(this.nonceKey, context, plain).subarray(0, NONCE);
    const c = createCipheriv("aes-256-gcm", this.key, nonce);
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([nonce, body, c.getAuthTag()]);
  }

  open(sealed: Uint8Array, where: string): Uint8Array {
    if (sealed.byteLength < NONCE + TAG) throw new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${where}: an encrypted block is too short. The file is damaged.`);
    const b = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    const d = createDecipheriv("aes-256-gcm", this.key, b.subarray(0, NONCE));
    d.setAuthTag(b.subarray(b.length - TAG));
    try {
      return Buffer.concat([d.update(b.subarray(NONCE, b.length - TAG)), d.final()]);
    } catch {
      throw new VmsfxError("VMSFX_BLOCK_HASH_MISMATCH", `${where}: an encrypted block does not authenticate. The file is damaged.`);
    }
  }
}


export function parseEncryptionHeader(bytes: Uint8Array, where: string): EncryptionHeader {
  let h: EncryptionHeader;
  try {
    h = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw new VmsfxError("VMSFX_MANIFEST_INVALID", `${where}: the encryption header is not valid JSON. The file is damaged.`);
  }
  const kdfOk = h?.kdf?.name === "key-file" || (h?.kdf?.name === "scrypt" && typeof h.kdf.salt === "string" && [h.kdf.N, h.kdf.r, h.kdf.p].every((n) => Number.isSafeInteger(n) && n > 0));
  if (h?.format !== "vmsfx-encrypted" || h.version !== 1 || !kdfOk || typeof h.check !== "string" || typeof h.manifest !== "string" || typeof h.public?.guest !== "string") {
    throw new VmsfxError("VMSFX_MANIFEST_INVALID", `${where}: the encryption header is malformed. The file is damaged or was not made by vmsfx.`);
  }
  return h;
}

/** Derives the key for an encrypted bundle and proves it is the right one before any block is touched. */
export async function unlock(header: EncryptionHeader, secret: Secret, where: string): Promise<{ cipher: BlockCipher; manifestBytes: Uint8Array }> {
  const { cipher } = await BlockCipher.derive(secret, header.kdf);
  if (cipher.check !== header.check) {
    const what = "keyFile" in secret ? "key file" : "passphrase";
    throw new VmsfxError("VMSFX_WRONG_PASSPHRASE", `${where}: wrong ${what}. Check it and try again.`);
  }
  return { cipher, manifestBytes: cipher.open(Buffer.from(header.manifest, "base64"), where) };
}
