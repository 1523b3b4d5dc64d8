import { GuestHost } from "../engine/engine-host";
import type { EngineAssets } from "../engine/engine-assets";

/**
 * The engine worker and v86's compiled wasm, started as early as the process can: booting a
 * worker thread and compiling the wasm take longer than loading the launcher's own code, so the
 * executable's entry starts them before it loads anything else (launcher-entry), and the run
 * takes them over here.
 */

export interface StartedEngine {
  host: GuestHost;
  module: Promise<WebAssembly.Module>;
}

let early: { assets: EngineAssets; engine: StartedEngine } | undefined;

/** Starts the engine for these assets now; the next takeEngine(assets) gets it. */
export function startEngineEarly(assets: EngineAssets): void {
  early = { assets, engine: startEngine(assets) };
}

/** The engine started early for these assets, else one started now. */
export function takeEngine(assets: EngineAssets): StartedEngine {
  if (early?.assets === assets) {
    const { engine } = early;
    early = undefined;
    return engine;
  }
  return startEngine(assets);
}

function startEngine(assets: EngineAssets): StartedEngine {
  const module = WebAssembly.compile(assets.wasm);
  // A failure is reported by the run that awaits it; an engine nobody takes must not crash the process.
  module.catch(() => undefined);
  return { host: new GuestHost(assets.worker), module };
}

const NO_GUEST = new Set(["-h", "--help", "--version", "--info", "--verify", "--install", "--uninstall", "--fingerprint", "--reset"]);

/** Whether the executable's arguments (its own, before `--`) may run the guest. */
export function mayRunGuest(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === "--") return true;
    if (NO_GUEST.has(a.split("=")[0])) return false;
  }
  return true;
}
