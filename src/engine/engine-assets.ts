import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { VmsfxError } from "../errors";
import type { EngineIdentity } from "./engine-types";

/**
 * Where the engine's files come from. The build copies v86.wasm and the worker bundle next to the
 * CLI bundle (dist/), so the CLI never reaches into node_modules at run time.
 */

declare const __V86_VERSION__: string;
export const V86_VERSION: string = typeof __V86_VERSION__ === "string" ? __V86_VERSION__ : "unknown";

export interface EngineAssets {
  wasm: Uint8Array<ArrayBuffer>;
  identity: EngineIdentity;
  worker: { path: string } | { code: string };
}

export function identityOf(wasm: Uint8Array): EngineIdentity {
  return { name: "v86", version: V86_VERSION, wasmSha256: createHash("sha256").update(wasm).digest("hex") };
}

export async function loadEngineAssets(distDir: string = __dirname): Promise<EngineAssets> {
  const wasmPath = path.join(distDir, "v86.wasm");
  const wasm = await fsp.readFile(wasmPath).catch(() => {
    throw new VmsfxError("VMSFX_FILE_NOT_FOUND", `${wasmPath} is missing: the vmsfx build is incomplete. Run \`npm run build\`.`);
  });
  return { wasm: new Uint8Array(wasm.buffer as ArrayBuffer, wasm.byteOffset, wasm.byteLength), identity: identityOf(wasm), worker: { path: path.join(distDir, "engine-worker.cjs") } };
}

/** A state restores only on the engine build that saved it: v86 stores raw wasm structs in it. */
export function checkEngineIdentity(expected: EngineIdentity, actual: EngineIdentity, where: string): void {
  if (expected.version !== actual.version || expected.wasmSha256 !== actual.wasmSha256) {
    throw new VmsfxError(
      "VMSFX_ENGINE_MISMATCH",
      `${where}: captured with engine v86 ${expected.version} (wasm ${expected.wasmSha256.slice(0, 12)}…), but this vmsfx has v86 ${actual.version} (wasm ${actual.wasmSha256.slice(0, 12)}…). Run it with the vmsfx release that made it, or capture it again.`,
    );
  }
}
