import type { SnapshotSource } from "../snapshot/snapshot-source";

/**
 * The sources a launch opened, the bundle first and each wrapper over the one before (an
 * accepted update, the remote-backed cache, the resume point's pack, its damage advice). Every
 * wrapper closes what it wraps, so closing the outermost closes them all; if that fails part way,
 * the layer below is closed (and so on down), so no file handle or socket outlives the launch.
 */
export class SourceStack<Root extends SnapshotSource = SnapshotSource> {
  private readonly layers: SnapshotSource[];

  constructor(readonly root: Root) {
    this.layers = [root];
  }

  /** The source reads go through: the outermost layer. */
  get top(): SnapshotSource {
    return this.layers[this.layers.length - 1];
  }

  /** Adds `layer`, which wraps the current top (pushing the top itself again is a no-op). */
  push<T extends SnapshotSource>(layer: T): T {
    if (layer !== this.top) this.layers.push(layer);
    return layer;
  }

  /** Closes everything; the first failure is reported once the rest is closed. */
  async close(): Promise<void> {
    let failure: { error: unknown } | undefined;
    for (const layer of [...this.layers].reverse()) {
      try {
        await layer.close();
        break;
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }
}
