import { promises as fsp } from "node:fs";
import { VmsfxError, fromFsError } from "../errors";
import type { Secret } from "./encryption";

/**
 * Where the key of an encrypted bundle comes from: a key file, a passphrase file (its first
 * line), or — on a terminal only — a prompt that does not echo. Never an environment variable
 * or an argument: those end up in shell history and process listings.
 */
export interface SecretOptions {
  keyFile?: string;
  passphraseFile?: string;
}

export async function secretFrom(opts: SecretOptions, prompt: string, confirm = false): Promise<Secret> {
  if (opts.keyFile) return { keyFile: opts.keyFile };
  if (opts.passphraseFile) {
    const text = await fsp.readFile(opts.passphraseFile, "utf8").catch((e) => Promise.reject(fromFsError(e, opts.passphraseFile!, "reading the passphrase file")));
    const passphrase = text.split(/\r?\n/)[0];
    if (!passphrase) throw new VmsfxError("VMSFX_WRONG_PASSPHRASE", `${opts.passphraseFile}: the first line (the passphrase) is empty.`);
    return { passphrase };
  }
  if (!process.stdin.isTTY) {
    throw new VmsfxError("VMSFX_PASSPHRASE_NEEDED", "a passphrase is needed and there is no terminal to ask on. Use --passphrase-file FILE or --key-file FILE.");
  }
  const passphrase = await ask(prompt);
  if (confirm && (await ask("Again: ")) !== passphrase) throw new VmsfxError("VMSFX_WRONG_PASSPHRASE", "the two passphrases differ. Try again.");
  if (!passphrase) throw new VmsfxError("VMSFX_WRONG_PASSPHRASE", "an empty passphrase is not allowed.");
  return { passphrase };
}

function ask(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let text = "";
    const done = (fn: () => void) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      fn();
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done(() => resolve(text));
        if (ch === "\u0003") return done(() => reject(new VmsfxError("VMSFX_INTERRUPTED", "cancelled.")));
        if (ch === "\u007f" || ch === "\b") text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on("data", onData);
  });
}
