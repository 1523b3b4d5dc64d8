import { VmsfxError } from "../../src/errors";
import { openBundle, type OpenBundleOptions } from "../../src/snapshot/bundle-reader";
import { verifySnapshot } from "../../src/snapshot/snapshot-report";
import { loadZstd } from "../../src/snapshot/block-codec";
import { MAX_BLOCK } from "../../src/snapshot/manifest";

/**
 * The fuzzing oracle (after undici's): whatever the input, a reader either succeeds or throws a
 * VmsfxError. Anything else — a TypeError, a RangeError, an errno error, an allocation sized by a
 * field nobody checked — is a bug, and is rethrown so fast-check reports and shrinks it.
 */

export class UntypedError extends Error {}

export async function typedOutcome<T>(what: string, fn: () => Promise<T> | T): Promise<{ ok: T } | { error: VmsfxError }> {
  try {
    return { ok: await fn() };
  } catch (e) {
    if (e instanceof VmsfxError) return { error: e };
    const err = e as Error;
    throw new UntypedError(`${what}: untyped ${err?.name ?? typeof e}: ${err?.message ?? String(e)}\n${err?.stack ?? ""}`, { cause: e });
  }
}

export const codeOf = (r: { ok: unknown } | { error: VmsfxError }): string => ("error" in r ? r.error.code : "ok");

/**
 * Runs `fn` while recording the largest Buffer our code asks for. A reader that only allocates
 * for ranges it has checked never asks for more than `limit` (for a bundle: the file's size).
 * Patching the public Buffer functions catches vmsfx's calls, not Node's internal ones.
 */
export async function withAllocationLimit<T>(limit: number, fn: () => Promise<T>): Promise<T> {
  const saved = { alloc: Buffer.alloc, allocUnsafe: Buffer.allocUnsafe, allocUnsafeSlow: Buffer.allocUnsafeSlow };
  let largest = 0;
  const watch =
    <F extends (size: number, ...rest: never[]) => Buffer>(f: F) =>
    (size: number, ...rest: never[]) => {
      largest = Math.max(largest, size);
      if (size > limit) throw new UntypedError(`allocation of ${size} bytes, more than the ${limit} allowed`);
      return f(size, ...rest);
    };
  Buffer.alloc = watch(saved.alloc) as typeof Buffer.alloc;
  Buffer.allocUnsafe = watch(saved.allocUnsafe) as typeof Buffer.allocUnsafe;
  Buffer.allocUnsafeSlow = watch(saved.allocUnsafeSlow) as typeof Buffer.allocUnsafeSlow;
  try {
    return await fn();
  } finally {
    Object.assign(Buffer, saved);
  }
}

/**
 * The most a reader may allocate for a bundle file of this size. zlib allocates a block's raw
 * bytes in one chunk through the public Buffer.allocUnsafe, sized by the block map's raw length,
 * which the manifest's validation bounds by MAX_BLOCK.
 */
export const bundleAllocationLimit = (fileSize: number) => Math.max(fileSize, MAX_BLOCK);

/**
 * What a user's first two steps see: open the bundle, then verify every block. Returns the first
 * failure's code, or "ok". Throws UntypedError for anything that is not a VmsfxError.
 */
export async function bundleOutcome(file: string, fileSize: number, opts: OpenBundleOptions = {}): Promise<string> {
  // zstd's wasm is read and instantiated once per process, not per input: not the reader's doing.
  await loadZstd();
  return withAllocationLimit(bundleAllocationLimit(fileSize), async () => {
    const opened = await typedOutcome(`openBundle(${file})`, () => openBundle(file, opts));
    if ("error" in opened) return opened.error.code;
    const b = opened.ok;
    try {
      const r = await typedOutcome(`verify(${file})`, () => verifySnapshot(b));
      if ("error" in r) return r.error.code;
      return r.ok.failures[0]?.code ?? "ok";
    } finally {
      await b.close();
    }
  });
}
