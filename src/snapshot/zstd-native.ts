import * as zlib from "node:zlib";

/**
 * zstd through Node's own binding (`node:zlib`, Node >= 22.15): libzstd compiled natively into
 * the runtime, so there is no wasm module to instantiate on the resume path, no fixed heap that
 * caps the block size, and no copy through a foreign heap. One call per block: blocks are small
 * (at most MAX_BLOCK), so the synchronous calls never hold the event loop for long.
 */

export interface Zstd {
  /** A frame that declares its content size, or null when zstd fails. */
  compress(raw: Uint8Array, level: number): Uint8Array | null;
  /** `rawLength` must be the frame's declared size (checked by the caller); null when the frame is bad. */
  decompress(frame: Uint8Array, rawLength: number): Uint8Array | null;
}

const { ZSTD_c_compressionLevel, ZSTD_c_checksumFlag, ZSTD_c_contentSizeFlag } = zlib.constants;

const native: Zstd = {
  compress(raw, level) {
    try {
      const out = zlib.zstdCompressSync(raw, {
        // The frame names its raw size: the reader checks it against the manifest before decoding.
        pledgedSrcSize: raw.byteLength,
        params: { [ZSTD_c_compressionLevel]: level, [ZSTD_c_checksumFlag]: 0, [ZSTD_c_contentSizeFlag]: 1 },
      });
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch {
      return null;
    }
  },
  decompress(frame, rawLength) {
    try {
      // maxOutputLength bounds what a frame can make us allocate, whatever it claims.
      const out = zlib.zstdDecompressSync(frame, { maxOutputLength: Math.max(rawLength, 1) });
      return out.byteLength === rawLength ? new Uint8Array(out.buffer, out.byteOffset, out.byteLength) : null;
    } catch {
      return null;
    }
  },
};

/** Kept async so callers need not know: the native codec is ready at once. */
export function loadZstd(): Promise<Zstd> {
  return Promise.resolve(native);
}
