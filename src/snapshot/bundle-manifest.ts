import { VmsfxError } from "../errors";
import { MAX_JSON_DEPTH, parseManifest, type Manifest } from "./manifest";
import { jsonShape } from "./json-shape";
import type { StoredCipher } from "./block-codec";

/**
 * What a bundle's manifest entry means: a manifest, or (an encrypted bundle) a public header the
 * policy layer unlocks into one. The container reader hands over the bytes; this interprets them.
 */

/**
 * An encrypted bundle's manifest entry is a public header (see policy/encryption.ts). The policy
 * layer supplies this to turn it into the manifest and the block cipher; the snapshot layer
 * never handles keys itself.
 */
export type Unlocker = (header: Uint8Array, where: string) => Promise<{ manifestBytes: Uint8Array; cipher: StoredCipher }>;

/** An encrypted bundle's public header, as far as a reader without the key relies on it. */
export interface PublicHeader {
  public: { guest: string };
  kdf: { name: string };
}

/** True when a bundle's manifest entry is an encryption header rather than a manifest. */
export function isLockedManifest(bytes: Uint8Array): boolean {
  const text = Buffer.from(bytes).toString("utf8");
  // Deep nesting is slow to parse; parseManifest refuses it with a proper message.
  if (jsonShape(text, MAX_JSON_DEPTH).depth > MAX_JSON_DEPTH) return false;
  try {
    return JSON.parse(text)?.format === "vmsfx-encrypted";
  } catch {
    return false;
  }
}

/** The manifest an entry holds, unlocked first when it is encrypted (which needs `unlock`). */
export async function manifestOfEntry(bytes: Buffer, where: string, unlock?: Unlocker): Promise<{ manifest: Manifest; cipher?: StoredCipher }> {
  if (!isLockedManifest(bytes)) return { manifest: parseManifest(bytes) };
  if (!unlock) {
    throw new VmsfxError("VMSFX_PASSPHRASE_NEEDED", `${where} is encrypted. Give its passphrase (asked on a terminal, or --passphrase-file FILE) or its --key-file.`);
  }
  const unlocked = await unlock(bytes, where);
  return { manifest: parseManifest(unlocked.manifestBytes), cipher: unlocked.cipher };
}

/** The public header of a locked entry. It was only checked for its format name; a hand-made one may lack the rest. */
export function publicHeaderOf(bytes: Buffer, where: string): PublicHeader {
  const h = JSON.parse(bytes.toString("utf8"));
  if (typeof h.public?.guest !== "string" || typeof h.kdf?.name !== "string") {
    throw new VmsfxError("VMSFX_MANIFEST_INVALID", `${where}: the encryption header is malformed. The file is damaged or was not made by vmsfx.`);
  }
  return h;
}
