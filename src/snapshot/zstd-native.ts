import * as zlib from "node:zlib";

/**
 * zstd through Node's own binding (`node:zlib`, Node >= 22.15): libzstd compiled natively into
 * the runtime, so there is no wasm module to instantiate on the resume path, no fixed heap that
 * caps the block size, and no copy through a foreign heap. One call per block: blocks are small
 * (at most MAX_BLOCK), so the synchronous calls never hold the event loop for long. The
 * asynchronous ones run on libuv's threadpool, so a capture compresses on every core.
 */

export interface Zstd {
  /** A frame that declares its content size, or null when zstd fails. */
  compress(raw: Uint8Array, level: number): Uint8Array | null;
  /** The same frame as compress(), made on the threadpool: identical bytes, so blocks still dedup. */
  compressAsync(raw: Uint8Array, level: number): Promise<Uint8Array | null>;
  /** `rawLength` must be the frame's declared size (checked by the caller); null when the frame is bad. */
  decompress(frame: Uint8Array, rawLength: number): Uint8Array | null;
  /** decompress() on the threadpool: the blocks of a resume decode side by side. */
  decompressAsync(frame: Uint8Array, rawLength: number): Promise<Uint8Array | null>;
}

const { ZSTD_c_compressionLevel, ZSTD_c_checksumFlag, ZSTD_c_contentSizeFlag } = zlib.constants;

/**
 * Decoding makes one output chunk the size of the block: with zlib's default 16 KiB chunks, each
 * block came out in pieces that Buffer.concat copied again (measured: 33 MiB of RAM blocks decoded
 * in 100 ms on the threadpool, 30 ms with one chunk). Compression keeps the default: a frame is
 * far smaller than its block, and a chunk sized for the block would keep it alive.
 */
const oneChunk = (bytes: number) => Math.max(zlib.constants.Z_MIN_CHUNK, bytes);

function compressOptions(raw: Uint8Array, level: number): zlib.ZstdOptions {
  return {
    // The frame names its raw size: the reader checks it against the manifest before decoding.
    pledgedSrcSize: raw.byteLength,
    params: { [ZSTD_c_compressionLevel]: level, [ZSTD_c_checksumFlag]: 0, [ZSTD_c_contentSizeFlag]: 1 },
  };
}

// maxOutputLength bounds what a frame can make us allocate, whatever it claims.
const decompressOptions = (rawLength: number): zlib.ZstdOptions => ({ maxOutputLength: Math.max(rawLength, 1), chunkSize: oneChunk(rawLength) });

const bytesOf = (out: Buffer) => new Uint8Array(out.buffer, out.byteOffset, out.byteLength);

const native: Zstd = {
  compress(raw, level) {
    try {
      return bytesOf(zlib.zstdCompressSync(raw, compressOptions(raw, level)));
    } catch {
      return null;
    }
  },
  compressAsync(raw, level) {
    return new Promise((resolve) => zlib.zstdCompress(raw, compressOptions(raw, level), (err, out) => resolve(err ? null : bytesOf(out))));
  },
  decompress(frame, rawLength) {
    try {
      const out = zlib.zstdDecompressSync(frame, decompressOptions(rawLength));
      return out.byteLength === rawLength ? bytesOf(out) : null;
    } catch {
      return null;
    }
  },
  decompressAsync(frame, rawLength) {
    return new Promise((resolve) =>
      zlib.zstdDecompress(frame, decompressOptions(rawLength), (err, out) => resolve(!err && out.byteLength === rawLength ? bytesOf(out) : null)),
    );
  },
};

/** Kept async so callers need not know: the native codec is ready at once. */
export function loadZstd(): Promise<Zstd> {
  return Promise.resolve(native);
}
