import type { Unlocker } from "../snapshot/bundle-reader";
import { parseEncryptionHeader, unlock } from "./encryption";
import { secretFrom, type SecretOptions } from "./secret-input";

/** The snapshot layer calls this only for an encrypted bundle, so a plain one never asks for a passphrase. */
export function unlockerFor(opts: SecretOptions): Unlocker {
  return async (header, where) => {
    const h = parseEncryptionHeader(header, where);
    const secret = await secretFrom(opts, `Passphrase for ${h.public.guest}: `);
    return unlock(h, secret, where);
  };
}
