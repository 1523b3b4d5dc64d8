import { describe, expect, inject, it } from "vitest";
import { execFileSync } from "node:child_process";
import { cpSync, statSync } from "node:fs";
import * as path from "node:path";
import { publishSnapshot, parsePublishIndex } from "../../src/remote/publish";
import { openBundle } from "../../src/snapshot/bundle-reader";
import { tempDir } from "../helpers/synthetic-snapshot";
import { hostTool } from "../helpers/host-tools";
import { blockFiles, expectVerifiedLayout, freePort, packed, sha } from "./publish-helpers";

const NGINX_SCRIPT = path.resolve(__dirname, "../../build-scripts/nginx-test-server.sh");

describe("publish, end to end", () => {
  it("publishes the real sample (captured by the global setup) from its bundle and from its folder to the same result", async () => {
    const bundle = inject("bundlePath");
    const dir = inject("snapshotDir");
    const fromBundle = path.join(tempDir(), "site");
    const r = await publishSnapshot(bundle, fromBundle);
    expectVerifiedLayout(fromBundle);
    const b = await openBundle(bundle);
    try {
      expect(r.blocks).toBe(b.toc.blocks.size);
      expect(new Set(blockFiles(fromBundle))).toEqual(new Set(b.toc.blocks.keys()));
    } finally {
      await b.close();
    }
    // The folder's blocks are the same content-addressed files: publishing it on top adds none.
    const again = await publishSnapshot(dir, fromBundle);
    expect(again).toMatchObject({ written: 0, skipped: r.blocks, bytes: r.bytes });
  });

  it.skipIf(!hostTool("nginx"))("the published folder and a bundle are served as they are by a plain nginx (blocks, byte ranges)", async () => {
    const { bundle } = await packed();
    const root = tempDir();
    await publishSnapshot(bundle, root);
    cpSync(bundle, path.join(root, "app.vmsfx"));
    const port = await freePort();
    const env = { ...process.env, VMSFX_NGINX_DIR: tempDir() };
    execFileSync("bash", [NGINX_SCRIPT, "start", root, String(port)], { env, stdio: "pipe" });
    try {
      const base = `http://127.0.0.1:${port}`;
      const get = async (p: string, headers: Record<string, string> = {}) => {
        const res = await fetch(base + p, { headers });
        return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
      };
      const index = parsePublishIndex((await get("/index.json")).body, base);
      const manifest = await get("/manifest.json");
      expect(sha(manifest.body)).toBe(index.manifestSha256);
      const b = await openBundle(bundle);
      try {
        for (const [hash, entry] of b.toc.blocks) {
          const block = await get(`/blocks/${hash}`);
          expect(block.status).toBe(200);
          expect(sha(block.body)).toBe(hash);
          // The same block by a range request into the bundle itself.
          const ranged = await get("/app.vmsfx", { Range: `bytes=${entry.offset}-${entry.offset + entry.length - 1}` });
          expect(ranged.status).toBe(206);
          expect(ranged.headers.get("content-range")).toBe(`bytes ${entry.offset}-${entry.offset + entry.length - 1}/${statSync(bundle).size}`);
          expect(ranged.body.equals(block.body)).toBe(true);
        }
      } finally {
        await b.close();
      }
      expect((await get(`/blocks/${"0".repeat(64)}`)).status).toBe(404);
    } finally {
      execFileSync("bash", [NGINX_SCRIPT, "stop", String(port)], { env, stdio: "pipe" });
    }
    await expect(fetch(`http://127.0.0.1:${port}/index.json`)).rejects.toThrow();
  });
});
