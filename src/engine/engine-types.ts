/**
 * Types the engine owns and the layers above use. The engine is the bottom layer: it imports
 * nothing from snapshot/, launcher/ or cli/, so what it needs from them is declared here and
 * they import it from here.
 */

/** Which engine build saved a state; a state restores only on the same one. */
export interface EngineIdentity {
  name: "v86";
  version: string;
  wasmSha256: string;
}

/** A guest disk as the engine sees it; the snapshot layer's overlays implement it. */
export interface BlockDevice {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array): Promise<void>;
}
