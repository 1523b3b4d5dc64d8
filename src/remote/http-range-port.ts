import type { ByteRangePort } from "../snapshot/byte-range-port";
import type { HttpClient } from "./http-request";

/**
 * A file served over HTTP as a ByteRangePort. Opening asks for the last `tailBytes` with one
 * suffix request, which also tells the file's size; the answer is kept as the port's tail (a
 * bundle's footer and, normally, its TOC). Every later read is one range request that must agree
 * with that size, or the file changed. Closing the port never closes the client: it is shared.
 */
export async function openHttpPort(url: string, http: HttpClient, tailBytes: number, signal?: AbortSignal): Promise<ByteRangePort> {
  const first = await http.get(url, { range: { suffix: tailBytes }, maxBytes: tailBytes, signal });
  const size = first.total ?? first.body.byteLength;
  return {
    where: url,
    origin: "server",
    size,
    tail: { offset: size - first.body.byteLength, bytes: first.body },
    read: async (offset, length, s) => (length === 0 ? Buffer.alloc(0) : (await http.get(url, { range: { start: offset, end: offset + length - 1 }, maxBytes: length, expectedTotal: size, signal: s })).body),
    close: async () => undefined,
  };
}
