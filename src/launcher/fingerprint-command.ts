import { machineFingerprint } from "../policy/fingerprint";

/** `vmsfx fingerprint` and an executable's `--fingerprint`: this machine, for a publisher's machine list. */
export async function fingerprintCommand(): Promise<number> {
  process.stdout.write(machineFingerprint() + "\n");
  return 0;
}
