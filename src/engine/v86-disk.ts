import type { DiskSlot, WorkerToHost } from "./engine-protocol";
import type { IdeDrive } from "./v86-internals";

/**
 * The object v86 sees as a hard disk. v86 accepts any object with its buffer interface (checked
 * against v86 0.5.462: byteLength, load/onload, get, set, get_from_cache, get_and_cache,
 * get_state, set_state, get_buffer). Reads and writes are forwarded to the host, which owns the
 * copy-on-write overlay, so v86's saved state carries no disk data at all.
 */
export interface DiskProxy {
  buffer: unknown;
  pending(): number;
  /** Resolves once no read is waiting for the host (at once if none is). */
  settled(): Promise<void>;
  owns(id: number): boolean;
  reply(id: number, data: Uint8Array, failed?: boolean): void;
}

export type DiskProxies = Partial<Record<DiskSlot, DiskProxy>>;

let nextId = 1;

const ATA_ERR = 0x01;
const ATA_DSC = 0x10;
const ATA_DRDY = 0x40;
const ATA_ERROR_UNC = 0x40;

/**
 * `drives` lists the emulator's IDE drives once it exists: a failed read is reported to the guest
 * through the drive that issued it.
 */
export function createDiskProxy(slot: DiskSlot, size: number, head: Uint8Array | undefined, post: (m: WorkerToHost, t?: Transferable[]) => void, drives: () => IdeDrive[]): DiskProxy {
  const waiting = new Map<number, (data: Uint8Array) => void>();
  const onSettled: (() => void)[] = [];
  const buffer = {
    byteLength: size,
    onload: undefined as undefined | ((e: object) => void),
    onprogress: undefined,
    load() {
      this.onload?.({});
    },
    get(start: number, len: number, fn: (data: Uint8Array) => void) {
      const id = nextId++;
      waiting.set(id, fn);
      post({ type: "disk-read", id, slot, offset: start, length: len });
    },
    set(start: number, data: Uint8Array, fn: () => void) {
      // Write-behind: the host applies messages in order, so a later read sees this write.
      post({ type: "disk-write", slot, offset: start, data: data.slice() });
      fn();
    },
    get_from_cache(start: number, len: number) {
      return head && start + len <= head.byteLength ? head.slice(start, start + len) : undefined;
    },
    get_and_cache(start: number, len: number, fn: (data: Uint8Array) => void) {
      const cached = this.get_from_cache(start, len);
      if (cached) fn(cached);
      else this.get(start, len, fn);
    },
    get_state() {
      return [];
    },
    set_state() {},
    get_buffer(fn: (b?: ArrayBuffer) => void) {
      fn();
    },
  };
  return {
    buffer,
    pending: () => waiting.size,
    settled: () => (waiting.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => onSettled.push(resolve))),
    owns: (id) => waiting.has(id),
    reply(id, data, failed) {
      // A block that fails verification never gets here: the host stops the guest instead.
      const fn = waiting.get(id);
      waiting.delete(id);
      fn?.(data);
      if (waiting.size === 0) for (const resolve of onSettled.splice(0)) resolve();
      if (failed) {
        // v86's disk buffer interface has no error path: the completion above has just set a
        // good status and raised the IRQ. The guest's handler runs only after we return, so
        // turning that status into ERR with UNC ("uncorrectable data") here is what it reads:
        // Linux's libata then retries, gives up and hands the reader an EIO, as for a bad sector.
        const drive = drives().find((d) => d.buffer === buffer);
        if (drive) {
          drive.status_reg = ATA_DRDY | ATA_DSC | ATA_ERR;
          drive.error_reg = ATA_ERROR_UNC;
        }
      }
    },
  };
}
