/**
 * How a user proves access to a bundle, the same on every command that opens one (`run`,
 * `inspect`, `verify`, and the executable itself): yargs options, and the mapping back.
 */
export const ACCESS_OPTIONS = {
  "passphrase-file": { type: "string", describe: "an encrypted bundle's passphrase, from this file's first line (else asked on the terminal)" },
  "key-file": { type: "string", describe: "an encrypted bundle's key file" },
  "require-signer": { type: "string", describe: "refuse the bundle unless signed by this publisher key (base64, or a .pub file)" },
} as const;

/** How a user proves access to a bundle: its key (encrypted) and the publisher key it must carry. */
export interface AccessOptions {
  passphraseFile?: string;
  keyFile?: string;
  requireSigner?: string;
}

export function accessFrom(a: { "passphrase-file"?: string; "key-file"?: string; "require-signer"?: string }): AccessOptions {
  return { passphraseFile: a["passphrase-file"], keyFile: a["key-file"], requireSigner: a["require-signer"] };
}
