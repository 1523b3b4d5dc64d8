/**
 * A child process for the kill -9 test: the launcher's real save path (state-folder lock, then
 * saveResumePoint chaining from the resume point on disk), looping as fast as it can over the
 * real bundle so a SIGKILL at a random moment lands somewhere inside a save. No guest runs: each
 * save puts a few random "changed RAM" blocks on top of the last resume point.
 * Usage: node save-loop.cjs <app.vmsfx>
 */
import { randomBytes } from "node:crypto";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { encodeBlock } from "../../src/snapshot/block-codec";
import { allMaps } from "../../src/snapshot/manifest";
import { readResumePoint, saveResumePoint } from "../../src/snapshot/resume-point";
import { openStateDir } from "../../src/launcher/state-dir";

async function main(app: string): Promise<void> {
  const bundle = await openBundle(app);
  const state = await openStateDir(app);
  const inBundle = new Set<string>();
  for (const map of allMaps(bundle.manifest)) for (const h of map.blocks) if (h) inBundle.add(h);
  const bs = bundle.manifest.memory.blockSize;
  // Half random, half zero: compresses to about half, like changed guest memory.
  const pool = await Promise.all(Array.from({ length: 24 }, () => encodeBlock(Buffer.concat([randomBytes(bs / 2), Buffer.alloc(bs / 2)]), 1)));
  process.stdout.write("ready\n");
  for (let n = 0; ; n++) {
    const previous = await readResumePoint(state.path);
    const base = previous?.manifest ?? bundle.manifest;
    const blocks = [...base.memory.blocks];
    const fresh = new Map<string, Uint8Array>();
    for (let i = 0; i < 8; i++) {
      const b = pool[Math.floor(Math.random() * pool.length)];
      blocks[Math.floor(Math.random() * blocks.length)] = b.hash;
      fresh.set(b.hash, b.stored);
    }
    await saveResumePoint({
      stateDir: state.path,
      bundleManifestSha256: bundle.toc.manifest.sha256,
      kind: "suspended",
      manifest: { ...base, memory: { ...base.memory, blocks } },
      inBundle: (h) => inBundle.has(h),
      fresh,
      previous,
    });
    process.stdout.write(`saved ${n}\n`);
  }
}

main(process.argv[2]).catch((e) => {
  process.stderr.write(`save-loop: ${e?.code ?? ""} ${e?.message ?? e}\n`);
  process.exit(3);
});
