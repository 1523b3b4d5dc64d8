import { promises as fsp } from "node:fs";
import { openForReading } from "./regular-file";
import { VmsfxError } from "../errors";
import { parseManifest, type BlockHash } from "./manifest";
import type { SnapshotSource } from "./snapshot-source";
import type { Footer, Toc, TocEntry } from "./bundle-layout";
import { filePort, type ByteRangePort } from "./byte-range-port";
import { readContainer, type ContainerParts } from "./bundle-container";
import { isLockedManifest, manifestOfEntry, publicHeaderOf, type PublicHeader, type Unlocker } from "./bundle-manifest";

export { isLockedManifest, type PublicHeader, type Unlocker } from "./bundle-manifest";

/**
 * Reads a bundle — a standalone `.vmsfx` file or the payload appended to the launcher executable —
 * with positioned reads only: nothing is extracted and no name from the archive touches the disk.
 */
export interface BundleSource extends SnapshotSource {
  readonly footer: Footer;
  readonly toc: Toc;
  /** Where the bundle starts inside the file (0 for a plain bundle, the runtime size for an executable). */
  readonly bundleStart: number;
  readonly fileSize: number;
  readonly manifestBytes: Buffer;
  /** The publisher's signature (JSON bytes), when the bundle is signed; checked by the policy layer. */
  readonly signature?: Buffer;
  /** Reads a span of the file in one call; the hot region is read this way at resume. */
  readSpan(offset: number, length: number): Promise<Buffer>;
  entry(hash: BlockHash): TocEntry | undefined;
}

export interface OpenBundleOptions {
  unlock?: Unlocker;
}

/** Opens a local file as a port; a folder, FIFO or device is refused (a FIFO could block forever). */
async function openFile(file: string): Promise<ByteRangePort> {
  const { handle, size, regular } = await openForReading(file, "opening the bundle");
  if (!regular) {
    await handle.close();
    throw new VmsfxError("VMSFX_NOT_A_BUNDLE", `${file}: is a folder or a special file, not a bundle.`);
  }
  return filePort(handle, size, file);
}

/** Runs `use` on the port, closing it when `use` fails (on success the caller owns it). */
async function closingOnError<T>(port: ByteRangePort, use: (port: ByteRangePort) => Promise<T>): Promise<T> {
  try {
    return await use(port);
  } catch (e) {
    await port.close();
    throw e;
  }
}

export async function openBundle(file: string, opts: OpenBundleOptions = {}): Promise<BundleSource> {
  return closingOnError(await openFile(file), (port) => bundleSource(port, opts));
}

/** A bundle over any port: the container read at once, its manifest parsed or unlocked. */
export async function bundleSource(port: ByteRangePort, opts: OpenBundleOptions = {}): Promise<BundleSource> {
  const where = port.where;
  const c = await readContainer(port);
  const { manifest, cipher } = await manifestOfEntry(c.manifestBytes, where, opts.unlock);
  const { toc } = c;
  return {
    manifest,
    manifestBytes: c.manifestBytes,
    signature: c.signature,
    cipher,
    footer: c.footer,
    toc,
    bundleStart: c.bundleStart,
    fileSize: c.fileSize,
    location: where,
    entry: (hash) => toc.blocks.get(hash),
    storedSize: (hash) => toc.blocks.get(hash)?.length,
    readSpan: (offset, length) => c.readSpan(offset, length),
    readStored: (hash, rawLength) => c.readStored(hash, rawLength),
    close: () => port.close(),
  };
}

/**
 * A bundle's container without its manifest interpreted: what a reader that holds no key
 * (publish, the public header) needs. The caller closes `port`.
 */
export async function openBundleContainer(file: string): Promise<ContainerParts> {
  return closingOnError(await openFile(file), (port) => readContainer(port));
}

/** An encrypted bundle's public header (parsed JSON), or undefined for a plain bundle or a folder. */
export async function readPublicHeader(file: string): Promise<PublicHeader | undefined> {
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  const c = await openBundleContainer(file);
  try {
    if (isLockedManifest(c.manifestBytes)) return publicHeaderOf(c.manifestBytes, file);
    // A plain bundle has no header; its manifest is still checked, as opening it would.
    parseManifest(c.manifestBytes);
    return undefined;
  } finally {
    await c.port.close();
  }
}
