import { identityOf, type EngineAssets } from "../engine/engine-assets";
import { VmsfxError } from "../errors";

/**
 * Inside the executable, the engine's files are single-executable-application assets baked into
 * the runtime: nothing is read from node_modules, the network or the folder the file sits in.
 */
export const SEA_ASSET_WASM = "v86.wasm";
export const SEA_ASSET_WORKER = "engine-worker.cjs";

let loaded: EngineAssets | undefined;

/** The same object on every call: the entry's early engine start is matched to it (engine-start). */
export async function loadSeaAssets(): Promise<EngineAssets> {
  return seaAssets();
}

export function seaAssets(): EngineAssets {
  if (loaded) return loaded;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sea = require("node:sea") as { isSea(): boolean; getRawAsset(k: string): ArrayBuffer; getAsset(k: string, enc: string): string };
  if (!sea.isSea()) throw new VmsfxError("VMSFX_USAGE", "this launcher only runs as part of a vmsfx executable. Use `vmsfx run <bundle>` instead.");
  // getRawAsset is a view of the executable's own mapped bytes; copy it once so v86 owns it.
  const wasm = new Uint8Array(sea.getRawAsset(SEA_ASSET_WASM).slice(0));
  loaded = { wasm, identity: identityOf(wasm), worker: { code: sea.getAsset(SEA_ASSET_WORKER, "utf8") } };
  return loaded;
}
