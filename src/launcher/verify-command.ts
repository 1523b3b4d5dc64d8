import { existsSync } from "node:fs";
import { VmsfxError } from "../errors";
import { openSnapshot } from "../snapshot/open-snapshot";
import { verifySnapshot } from "../snapshot/snapshot-report";
import { readResumePoint } from "../snapshot/resume-point";
import { openLayeredSource } from "../snapshot/layered-source";
import { unlockerFor } from "../policy/unlocker";
import { checkSignature, parseSignature, resolvePublicKey } from "../policy/signature";
import type { AccessOptions } from "./access-options";
import { createProgress, formatBytes } from "./progress";
import { defaultStateDir } from "./state-dir";
import { SourceStack } from "./source-stack";
import type { SnapshotSource } from "../snapshot/snapshot-source";

/**
 * `vmsfx verify` and an executable's `--verify`: every block of the bundle, and of the user's
 * resume point over it, against its SHA-256. The same source stack as a launch, read-only: no
 * lock is taken and nothing is moved aside.
 */

const out = (s: string) => process.stdout.write(s + "\n");

export async function verifyCommand(a: { target: string; json: boolean; quiet: boolean; stateDir?: string } & AccessOptions): Promise<number> {
  const sources = new SourceStack(await openSnapshot(a.target, { unlock: unlockerFor(a) }));
  try {
    const bundle = sources.root;
    if (bundle.signature && bundle.manifestBytes) {
      checkSignature(bundle.manifestBytes, parseSignature(bundle.signature, a.target), a.target, a.requireSigner ? await resolvePublicKey(a.requireSigner) : bundle.manifest.policy?.signer);
    }
    const progress = createProgress("verify", a.quiet || a.json);
    const checked: { what: string; source: SnapshotSource }[] = [{ what: a.target, source: bundle }];
    // The user's saved work is checked too: a resume point is only as good as its blocks.
    if (bundle.kind === "bundle") {
      const stateDir = a.stateDir ?? defaultStateDir(a.target);
      const point = await readResumePoint(stateDir).catch((e) => (existsSync(stateDir) ? Promise.reject(e) : undefined));
      if (point) checked.push({ what: `${a.target} resume point in ${stateDir}`, source: sources.push(await openLayeredSource(bundle, point, stateDir)) });
    }
    const results: Verified[] = [];
    for (const { what, source } of checked) results.push({ what, ...(await verifySnapshot(source, (d, t) => progress.update(d, t))) });
    progress.done();
    report(a, results);
    return 0;
  } finally {
    await sources.close();
  }
}

type Verified = { what: string } & Awaited<ReturnType<typeof verifySnapshot>>;

/** Prints the results; the first source with a failed block fails the command. */
function report(a: { target: string; json: boolean }, results: Verified[]): void {
  if (a.json) out(JSON.stringify({ path: a.target, ok: results.every((r) => r.failures.length === 0), checked: results }));
  for (const r of results) {
    if (!a.json && r.failures.length === 0) out(`${r.what}: OK, ${r.blocks} blocks, ${formatBytes(r.rawBytes)} verified`);
    if (r.failures.length > 0) {
      if (!a.json) for (const f of r.failures.slice(0, 20)) process.stderr.write(`vmsfx: ${f.message}\n`);
      throw new VmsfxError(r.failures[0].code as never, `${r.what}: ${r.failures.length} of ${r.blocks} blocks failed verification. Copy or download it again${r === results[0] ? "" : ", or start over with --reset"}.`);
    }
  }
}
