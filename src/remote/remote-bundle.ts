import { VmsfxError } from "../errors";
import type { BlockHash } from "../snapshot/manifest";
import { decodeFooter, decodeToc, FOOTER_FROM_END, FOOTER_SIZE, hasFooterMagic, sha256, TAIL_SIZE, TAR_BLOCK, type Footer, type Toc, type TocEntry } from "../snapshot/bundle-layout";
import { HttpClient } from "./http-request";

/**
 * A bundle file served over HTTP (layout b), read the way bundle-reader.ts reads a local one: the
 * footer from the end, the TOC it points to, then single entries, each with one range request.
 * The file may also be a one-file executable: the bundle is found from its end either way.
 */
export interface RemoteBundle {
  readonly url: string;
  /** Size of the remote file; every later range answer must agree, or the file changed. */
  readonly fileSize: number;
  readonly bundleStart: number;
  readonly footer: Footer;
  readonly toc: Toc;
  entry(hash: BlockHash): TocEntry | undefined;
  /** Absolute, inclusive byte range of an entry in the remote file (as a Range header wants). */
  rangeOf(e: TocEntry): { start: number; end: number };
  /** The manifest entry's bytes, checked against the SHA-256 the TOC holds. */
  readManifest(signal?: AbortSignal): Promise<Buffer>;
  /** The signature entry's bytes, when the bundle is signed (checked by the policy layer). */
  readSignature(signal?: AbortSignal): Promise<Buffer | undefined>;
  /** Releases the connection pool if openRemoteBundle made its own client. */
  close(): void;
}

/**
 * One suffix request normally brings the footer AND the TOC (a few KiB for a typical app), so
 * opening costs one round trip; a larger TOC takes a second request.
 */
export const TAIL_PREFETCH = 64 << 10;

export interface OpenRemoteOptions {
  /** Share a fetcher's connections and limits; without one, the bundle makes (and closes) its own. */
  client?: HttpClient;
  signal?: AbortSignal;
  /** Bytes read from the end in the first request (at least FOOTER_FROM_END). */
  tailBytes?: number;
}

export async function openRemoteBundle(url: string, o: OpenRemoteOptions = {}): Promise<RemoteBundle> {
  const http = o.client ?? new HttpClient();
  try {
    return await open(url, http, !o.client, o.signal, Math.max(FOOTER_FROM_END, o.tailBytes ?? TAIL_PREFETCH));
  } catch (e) {
    if (!o.client) http.close();
    throw e;
  }
}

async function open(url: string, http: HttpClient, ownsClient: boolean, signal: AbortSignal | undefined, tailBytes: number): Promise<RemoteBundle> {
  const tail = await http.get(url, { range: { suffix: tailBytes }, maxBytes: tailBytes, signal });
  const fileSize = tail.total ?? tail.body.byteLength;
  const tailStart = fileSize - tail.body.byteLength;
  const notABundle = () => new VmsfxError("VMSFX_NOT_A_BUNDLE", `${url}: not a vmsfx bundle (no vmsfx footer at its end). Check the address: it must be a file made by \`vmsfx pack\`, complete.`);
  if (fileSize < TAIL_SIZE) throw notABundle();
  const footerAt = fileSize - FOOTER_FROM_END - tailStart;
  const footerBytes = tail.body.subarray(footerAt, footerAt + FOOTER_SIZE);
  if (!hasFooterMagic(footerBytes)) throw notABundle();
  const footer = decodeFooter(footerBytes, fileSize, url);
  const bundleStart = fileSize - footer.bundleLength;
  const rangeOf = (e: TocEntry) => ({ start: bundleStart + e.offset, end: bundleStart + e.offset + e.length - 1 });
  const read = async (e: TocEntry, s?: AbortSignal) =>
    e.length === 0 ? Buffer.alloc(0) : (await http.get(url, { range: rangeOf(e), maxBytes: e.length, expectedTotal: fileSize, signal: s })).body;

  const tocEntry = { offset: footer.tocOffset, length: footer.tocLength };
  const tocAt = bundleStart + footer.tocOffset - tailStart;
  const tocBytes = tocAt >= 0 ? tail.body.subarray(tocAt, tocAt + footer.tocLength) : await read(tocEntry, signal);
  if (sha256(tocBytes) !== footer.tocSha256) {
    throw new VmsfxError("VMSFX_BUNDLE_CORRUPT", `${url}: table of contents does not match its checksum. The file on the server is damaged or was replaced while reading; try again, or ask its publisher to upload it again.`);
  }
  const toc = decodeToc(Buffer.from(tocBytes), footer.tocOffset - TAR_BLOCK, url);
  return {
    url,
    fileSize,
    bundleStart,
    footer,
    toc,
    entry: (hash) => toc.blocks.get(hash),
    rangeOf,
    async readManifest(s) {
      const bytes = await read(toc.manifest, s);
      if (sha256(bytes) !== toc.manifest.sha256) {
        throw new VmsfxError("VMSFX_BUNDLE_CORRUPT", `${url}: manifest does not match its checksum. The file on the server is damaged; ask its publisher to upload it again.`);
      }
      return bytes;
    },
    readSignature: async (s) => (toc.signature ? read(toc.signature, s) : undefined),
    close: () => {
      if (ownsClient) http.close();
    },
  };
}
