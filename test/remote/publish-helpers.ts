import { expect } from "vitest";
import { createServer } from "node:net";
import { readFileSync, readdirSync } from "node:fs";
import { createHash } from "node:crypto";
import * as path from "node:path";
import { openSnapshotDir } from "../../src/snapshot/snapshot-dir";
import { writeBundle, type WriteBundleOptions } from "../../src/snapshot/bundle-writer";
import { makeSyntheticSnapshot, tempDir } from "../helpers/synthetic-snapshot";

/** Shared by the publish tests: the unit tier's and the end-to-end tier's (real sample, nginx). */

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
export const blockFiles = (out: string) => readdirSync(path.join(out, "blocks"));

/** Every file in blocks/ is named by a hash and holds exactly the bytes of that hash; no temp files. */
export function expectVerifiedLayout(out: string): void {
  for (const name of blockFiles(out)) {
    expect(name).toMatch(/^[0-9a-f]{64}$/);
    expect(sha(readFileSync(path.join(out, "blocks", name)))).toBe(name);
  }
  expect(readdirSync(out).sort()).toEqual(expect.arrayContaining(["blocks", "index.json", "manifest.json"]));
  expect(readdirSync(out).filter((n) => n.endsWith(".tmp"))).toEqual([]);
}

export async function packed(opts: WriteBundleOptions = {}) {
  const snap = await makeSyntheticSnapshot();
  const bundle = path.join(tempDir(), "app.vmsfx");
  await writeBundle(await openSnapshotDir(snap.dir), bundle, opts);
  return { ...snap, bundle };
}
