/**
 * zstd through zstd-codec's wasm build, without its JS wrapper's per-call costs. The wrapper
 * copies every frame into a fresh std::vector element by element, zero-fills a fresh output
 * vector, and copies the result out through embind; measured on the sample's RAM that was as
 * much time as zstd itself. Here two vectors are reused and bytes move with one typed-array copy
 * each way through the module's heap. The vector layout (libc++: begin, end, capacity) is
 * checked once at start-up; if it ever differs we fall back to the library's own copy helpers.
 */

interface VectorU8 {
  resize(n: number, fill: number): void;
  size(): number;
  set(i: number, v: number): void;
  $$: { ptr: number };
}

interface Binding {
  ZstdCodec: new () => { compress(dest: VectorU8, src: VectorU8, level: number): number; decompress(dest: VectorU8, src: VectorU8): number; compressBound(n: number): number };
  VectorU8: new () => VectorU8;
  HEAPU8: Uint8Array;
  HEAPU32: Uint32Array;
  cloneToVector(v: VectorU8, data: Uint8Array): void;
  cloneAsTypedArray(v: VectorU8): Uint8Array;
}

export class Zstd {
  private readonly codec;
  private readonly src: VectorU8;
  private readonly dest: VectorU8;
  private readonly direct: boolean;

  constructor(private readonly b: Binding) {
    this.codec = new b.ZstdCodec();
    this.src = new b.VectorU8();
    this.dest = new b.VectorU8();
    this.direct = this.layoutIsKnown();
  }

  private begin(v: VectorU8): number {
    return this.b.HEAPU32[v.$$.ptr >> 2];
  }

  private layoutIsKnown(): boolean {
    try {
      this.src.resize(64, 0);
      this.src.set(7, 0xa5);
      const p = this.src.$$.ptr >> 2;
      const u = this.b.HEAPU32;
      return u[p + 1] - u[p] === 64 && this.b.HEAPU8[u[p] + 7] === 0xa5;
    } catch {
      return false;
    }
  }

  private load(data: Uint8Array): void {
    if (!this.direct) return this.b.cloneToVector(this.src, data);
    this.src.resize(data.byteLength, 0);
    this.b.HEAPU8.set(data, this.begin(this.src));
  }

  private take(v: VectorU8, n: number): Uint8Array {
    if (!this.direct) return this.b.cloneAsTypedArray(v).slice(0, n);
    const at = this.begin(v);
    return this.b.HEAPU8.slice(at, at + n);
  }

  /** Returns null when zstd fails (it never should for a block of our size). */
  compress(raw: Uint8Array, level: number): Uint8Array | null {
    this.load(raw);
    this.dest.resize(this.codec.compressBound(raw.byteLength), 0);
    const rc = this.codec.compress(this.dest, this.src, level);
    return rc < 0 ? null : this.take(this.dest, rc);
  }

  /** `rawLength` must be the frame's declared size (checked by the caller). */
  decompress(frame: Uint8Array, rawLength: number): Uint8Array | null {
    this.load(frame);
    if (this.dest.size() < rawLength) this.dest.resize(rawLength, 0);
    const rc = this.codec.decompress(this.dest, this.src);
    return rc !== rawLength ? null : this.take(this.dest, rc);
  }
}

let loading: Promise<Zstd> | undefined;

/** The wasm module instantiates asynchronously (~20 ms); start it early and share it. */
export function loadZstd(): Promise<Zstd> {
  loading ??= new Promise((resolve) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require("zstd-codec/lib/module.js").run((binding: Binding) => resolve(new Zstd(binding)));
  });
  return loading;
}
