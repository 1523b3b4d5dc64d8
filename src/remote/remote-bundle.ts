import type { BlockHash } from "../snapshot/manifest";
import { FOOTER_FROM_END, type Footer, type Toc, type TocEntry } from "../snapshot/bundle-layout";
import { openContainer } from "../snapshot/bundle-container";
import { HttpClient } from "./http-request";
import { openHttpPort } from "./http-range-port";

/**
 * A bundle file served over HTTP (layout b), read by the same container reader as a local one
 * (snapshot/bundle-container.ts) over an HTTP port: the footer from the end, the TOC it points to,
 * then single entries, each with one range request. The file may also be a one-file executable:
 * the bundle is found from its end either way.
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
  const close = () => {
    if (!o.client) http.close();
  };
  try {
    const port = await openHttpPort(url, http, Math.max(FOOTER_FROM_END, o.tailBytes ?? TAIL_PREFETCH), o.signal);
    const c = await openContainer(port, o.signal);
    return {
      url,
      fileSize: c.fileSize,
      bundleStart: c.bundleStart,
      footer: c.footer,
      toc: c.toc,
      entry: (hash) => c.toc.blocks.get(hash),
      rangeOf: c.rangeOf,
      readManifest: (s) => c.readManifestBytes(s),
      readSignature: (s) => c.readSignature(s),
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}
