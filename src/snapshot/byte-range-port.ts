import type { FileHandle } from "node:fs/promises";
import { VmsfxError, fromFsError } from "../errors";

/**
 * Where a bundle's bytes come from, seen as positioned reads of a file of known size: a local
 * file (here), an HTTP range source (remote/http-range-port.ts), a registry later. The container
 * reader (bundle-container.ts) knows the layout; a port only knows how to fetch bytes.
 */
export interface ByteRangePort {
  /** The file path or URL, for messages. */
  readonly where: string;
  /** Where the bytes are kept: chooses the advice a message about damage gives the user. */
  readonly origin: "file" | "server";
  readonly size: number;
  /**
   * Bytes at the end already in hand (an HTTP port's first answer), so opening a container costs
   * no further read when its footer and TOC lie there.
   */
  readonly tail?: { offset: number; bytes: Buffer };
  /** Exactly `length` bytes from `offset`; VMSFX_BUNDLE_TRUNCATED when the source ends first. */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer>;
  close(): Promise<void>;
}

/** A port over an open regular file; closing the port closes the handle. */
export function filePort(handle: FileHandle, size: number, file: string): ByteRangePort {
  return {
    where: file,
    origin: "file",
    size,
    read: (offset, length) => readExact(handle, offset, length, file),
    close: () => handle.close(),
  };
}

async function readExact(h: FileHandle, pos: number, length: number, where: string): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await h.read(buf, done, length - done, pos + done).catch((e) => Promise.reject(fromFsError(e, where, "reading the bundle")));
    if (bytesRead === 0) {
      throw new VmsfxError("VMSFX_BUNDLE_TRUNCATED", `${where}: the file ends early. It was cut short (an interrupted copy or download); copy or download it again.`);
    }
    done += bytesRead;
  }
  return buf;
}
