import { generateKeyFiles } from "../policy/signature";

/** Publisher keys: `vmsfx keygen`. */

const out = (s: string) => process.stdout.write(s + "\n");

export async function keygenCommand(a: { out: string }): Promise<number> {
  const pub = await generateKeyFiles(a.out);
  out(`wrote ${a.out} (private: keep it secret, mode 0600) and ${a.out}.pub`);
  out(`public key: ${pub}`);
  out(`users check a bundle against it with: vmsfx run app.vmsfx --require-signer ${a.out}.pub`);
  return 0;
}
