import { isUtf8 } from "node:buffer";
import { VmsfxError } from "../errors";
import { jsonShape } from "./json-shape";
import { blockCount, blockRefs, namedMaps, uniqueBlocks } from "./block-maps";

export { blockCount, blockLength } from "./block-maps";
import { validatePolicy, type Policy } from "./policy-schema";
import { parseOutboundRule } from "../engine/outbound-rules";
import { ociReferenceProblem } from "./oci-reference";

/**
 * The manifest is the one trusted description of a snapshot: it names every block by SHA-256,
 * so verifying (and later signing) it covers all the bytes. It is validated field by field on
 * read because it comes from a file the user may have been handed by anyone.
 */

export const MANIFEST_FORMAT = "vmsfx-snapshot";
export const MANIFEST_VERSION = 1;

/** Hex SHA-256 of the block's stored (compressed) bytes: see block-codec.ts for why. */
export type BlockHash = string;

/**
 * A byte range (memory, a disk, a boot file) cut into fixed-size blocks. `blocks[i]` covers
 * bytes [i*blockSize, min(size, (i+1)*blockSize)); `null` means all zeros and is not stored.
 */
export interface BlockMap {
  size: number;
  blockSize: number;
  blocks: (BlockHash | null)[];
}

// The engine owns its identity's shape; re-exported so the format's users keep one import.
import type { EngineIdentity } from "../engine/engine-types";
export type { EngineIdentity };

export interface DiskEntry {
  slot: "hda" | "hdb";
  map: BlockMap;
}

export interface BootFiles {
  bios: BlockMap;
  vgaBios: BlockMap;
  kernel: BlockMap;
  initrd?: BlockMap;
  cmdline: string;
  /** The recipe's ready pattern (regex source): a cold boot holds piped input until it appears. */
  ready?: string;
}

/** The app's icon for desktop menus (`./app --install`), from the recipe's `icon`. */
export interface GuestIcon {
  type: "svg" | "png";
  /** base64 of the file */
  data: string;
}

export const MAX_ICON_BYTES = 64 << 10;
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Why these bytes are not a usable icon of this type, or undefined when they are. */
export function iconProblem(bytes: Uint8Array, type: GuestIcon["type"]): string | undefined {
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_ICON_BYTES) return `must be 1 byte to ${MAX_ICON_BYTES / 1024} KiB`;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === "png") return b.subarray(0, 8).equals(PNG_MAGIC) ? undefined : "is not a PNG file";
  return /^(\ufeff)?\s*</.test(b.subarray(0, 256).toString("utf8")) ? undefined : "is not an SVG file";
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  createdAt: string;
  guest: { name: string; description?: string; icon?: GuestIcon };
  engine: EngineIdentity;
  /** `nic`: a virtio network card (apps with ports); absent in bundles made before it existed. */
  machine: { memoryBytes: number; vgaMemoryBytes: number; nic?: "virtio" };
  /** v86's saved state with RAM and VGA memory taken out (well under 1 MB), cut into blocks. */
  state: BlockMap;
  memory: BlockMap;
  vgaMemory: BlockMap;
  disks: DiskEntry[];
  /** What a cold boot (`--fresh`) needs; absent when the publisher left it out. */
  boot?: BootFiles;
  /** The tail of the serial console at capture, redrawn on resume so the user sees the prompt. */
  console: { tail: string };
  /**
   * An app built with `vmsfx build` (guest agent protocol 2): captured before its app starts,
   * with its data disk unmounted, so the launcher starts the app on every launch and a quit keeps
   * only the data disk (the next launch resumes this manifest's memory with it).
   */
  app?: AppInfo;
  /** The publisher's usage restrictions (a signed bundle's manifest is what the signature covers). */
  policy?: Policy;
  /**
   * Where blocks missing from a thin bundle are fetched: published folders (`vmsfx publish`) or
   * bundle files served over HTTP, tried in order. Part of the signed manifest, so a tampered
   * file cannot point the launcher at another server.
   */
  remotes?: string[];
  /**
   * The disk blocks a guest read first after resume, in that order (`vmsfx record`): packed right
   * after RAM, kept by `pack --thin --include hot`, and fetched along with RAM by a thin launch.
   */
  hot?: { slot: "hda" | "hdb"; blocks: number[] }[];
}

export interface AppInfo {
  protocol: 2;
  /** The disk that holds the user's work; every other disk is read-only. */
  dataDisk: "hdb";
  /** The guest paths kept on it, for messages and `inspect`. */
  data: string[];
  /** Guest TCP ports served on 127.0.0.1 (`host` 0: any free port); the machine has a NIC. */
  ports?: { guest: number; host: number }[];
  /** A web app: its page, opened in the user's browser once `guestPort` answers. */
  open?: { guestPort: number; path: string };
  /** Where the guest may connect out (engine/outbound-rules.ts); absent: nowhere. Needs machine.nic. */
  outbound?: string[];
}

const HASH_RE = /^[0-9a-f]{64}$/;
const MAX_BYTES = 64 * 2 ** 30; // no guest image we build is near this; it bounds allocations
const MIN_BLOCK = 4096;
/** A manifest nests 4 levels; anything far deeper is hostile and slow to parse (see json-shape.ts). */
export const MAX_JSON_DEPTH = 32;
/** The largest block a manifest may name: it bounds what one block makes a reader allocate. */
/**
 * The largest block: 4 MiB. Measured on the shell sample's RAM at zstd 19 (2026-12-06): 256 KiB
 * blocks store 9.29 MiB, 1 MiB 9.00, 4 MiB 8.84, so the default stays 256 KiB: a suspend writes
 * whole changed blocks, and larger ones would cost more there than they save here.
 */
export const MAX_BLOCK = 4 << 20;

function fail(path: string, what: string): never {
  throw new VmsfxError("VMSFX_MANIFEST_INVALID", `manifest: ${path} ${what}. The snapshot is damaged or was not made by vmsfx; capture or download it again.`);
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(path, "must be an object");
  return v as Record<string, unknown>;
}

function str(v: unknown, path: string, max = 4096): string {
  if (typeof v !== "string" || v.length > max) fail(path, `must be a string of at most ${max} characters`);
  return v;
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) fail(path, `must be an integer in [${min}, ${max}]`);
  return v;
}

function hash(v: unknown, path: string): BlockHash {
  if (typeof v !== "string" || !HASH_RE.test(v)) fail(path, "must be a lowercase hex SHA-256");
  return v;
}

function regexSource(v: unknown, path: string): string {
  const s = str(v, path, 1024);
  try {
    new RegExp(s);
  } catch {
    fail(path, "must be a valid regular expression");
  }
  return s;
}

function validateHot(v: unknown, disks: DiskEntry[]): { slot: "hda" | "hdb"; blocks: number[] }[] {
  if (!Array.isArray(v) || v.length > 2) fail("hot", "must be a list of at most 2 disks");
  return v.map((h, i) => {
    const o = obj(h, `hot[${i}]`);
    const disk = disks.find((d) => d.slot === o.slot);
    if (!disk) fail(`hot[${i}].slot`, "names no disk of this machine");
    if (!Array.isArray(o.blocks) || o.blocks.length > disk.map.blocks.length) fail(`hot[${i}].blocks`, "must list block numbers of that disk");
    return { slot: disk.slot, blocks: o.blocks.map((n, j) => int(n, `hot[${i}].blocks[${j}]`, 0, disk.map.blocks.length - 1)) };
  });
}

export function validateRemotes(v: unknown): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 8) fail("remotes", "must be a list of 1 to 8 URLs");
  return v.map((u, i) => {
    const s = str(u, `remotes[${i}]`, 2000);
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      fail(`remotes[${i}]`, "is not a URL");
    }
    if (url.protocol === "oci:" || url.protocol === "oci+http:") {
      const problem = ociReferenceProblem(s);
      if (problem) fail(`remotes[${i}]`, problem);
    } else if (url.protocol !== "https:" && url.protocol !== "http:") fail(`remotes[${i}]`, "must be an http://, https:// or oci:// URL");
    return s;
  });
}

export function validateBlockMap(v: unknown, path: string): BlockMap {
  const o = obj(v, path);
  const size = int(o.size, `${path}.size`, 0, MAX_BYTES);
  const blockSize = int(o.blockSize, `${path}.blockSize`, MIN_BLOCK, MAX_BLOCK);
  if ((blockSize & (blockSize - 1)) !== 0) fail(`${path}.blockSize`, "must be a power of two");
  if (!Array.isArray(o.blocks)) fail(`${path}.blocks`, "must be an array");
  if (o.blocks.length !== blockCount(size, blockSize)) fail(`${path}.blocks`, `must have ${blockCount(size, blockSize)} entries for ${size} bytes`);
  const blocks = o.blocks.map((b, i) => (b === null ? null : hash(b, `${path}.blocks[${i}]`)));
  return { size, blockSize, blocks };
}

/** Parses and validates manifest JSON. Throws VMSFX_MANIFEST_INVALID / VMSFX_UNSUPPORTED_VERSION. */
export function parseManifest(bytes: Uint8Array): Manifest {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Invalid UTF-8 or a repeated key would let two readers see two different manifests under one
  // signature; vmsfx never writes either.
  if (!isUtf8(buf)) fail("(root)", "is not valid UTF-8");
  const text = buf.toString("utf8");
  const shape = jsonShape(text, MAX_JSON_DEPTH);
  if (shape.depth > MAX_JSON_DEPTH) fail("(root)", `nests deeper than ${MAX_JSON_DEPTH} levels`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    fail("(root)", "is not valid JSON");
  }
  if (shape.duplicate) fail(shape.duplicate.path, `has the key ${JSON.stringify(shape.duplicate.key.slice(0, 64))} twice`);
  return validateManifest(raw);
}

function validateIcon(v: unknown): GuestIcon {
  const icon = obj(v, "guest.icon");
  if (icon.type !== "svg" && icon.type !== "png") fail("guest.icon.type", 'must be "svg" or "png"');
  const data = str(icon.data, "guest.icon.data", Math.ceil(MAX_ICON_BYTES / 3) * 4);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) fail("guest.icon.data", "must be base64");
  const problem = iconProblem(Buffer.from(data, "base64"), icon.type);
  if (problem) fail("guest.icon.data", problem);
  return { type: icon.type, data };
}

export function validateManifest(raw: unknown): Manifest {
  const m = obj(raw, "(root)");
  if (m.format !== MANIFEST_FORMAT) fail("format", `must be "${MANIFEST_FORMAT}"`);
  if (m.version !== MANIFEST_VERSION) {
    throw new VmsfxError(
      "VMSFX_UNSUPPORTED_VERSION",
      `manifest: format version ${JSON.stringify(m.version)} is not supported by this vmsfx (it reads version ${MANIFEST_VERSION}). Use the vmsfx release that made the snapshot, or re-capture it.`,
    );
  }
  const guest = obj(m.guest, "guest");
  const engine = obj(m.engine, "engine");
  if (engine.name !== "v86") fail("engine.name", 'must be "v86"');
  const machine = obj(m.machine, "machine");
  if (!Array.isArray(m.disks) || m.disks.length > 2) fail("disks", "must be an array of at most 2 disks");
  const slots = new Set<string>();
  const disks = m.disks.map((d, i): DiskEntry => {
    const o = obj(d, `disks[${i}]`);
    if (o.slot !== "hda" && o.slot !== "hdb") fail(`disks[${i}].slot`, 'must be "hda" or "hdb"');
    if (slots.has(o.slot)) fail(`disks[${i}].slot`, "is repeated");
    slots.add(o.slot);
    return { slot: o.slot, map: validateBlockMap(o.map, `disks[${i}].map`) };
  });
  const memory = validateBlockMap(m.memory, "memory");
  const vgaMemory = validateBlockMap(m.vgaMemory, "vgaMemory");
  const memoryBytes = int(machine.memoryBytes, "machine.memoryBytes", 1 << 20, 4 * 2 ** 30);
  const vgaMemoryBytes = int(machine.vgaMemoryBytes, "machine.vgaMemoryBytes", 0, 256 << 20);
  if (memory.size !== memoryBytes) fail("memory.size", "must equal machine.memoryBytes");
  if (vgaMemory.size !== vgaMemoryBytes) fail("vgaMemory.size", "must equal machine.vgaMemoryBytes");
  if (machine.nic !== undefined && machine.nic !== "virtio") fail("machine.nic", 'must be "virtio" when present');
  let boot: BootFiles | undefined;
  if (m.boot !== undefined) {
    const b = obj(m.boot, "boot");
    boot = {
      bios: validateBlockMap(b.bios, "boot.bios"),
      vgaBios: validateBlockMap(b.vgaBios, "boot.vgaBios"),
      kernel: validateBlockMap(b.kernel, "boot.kernel"),
      initrd: b.initrd === undefined ? undefined : validateBlockMap(b.initrd, "boot.initrd"),
      cmdline: str(b.cmdline, "boot.cmdline"),
      ready: b.ready === undefined ? undefined : regexSource(b.ready, "boot.ready"),
    };
  }
  const consoleInfo = obj(m.console, "console");
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    createdAt: str(m.createdAt, "createdAt", 64),
    guest: {
      name: str(guest.name, "guest.name", 128),
      description: guest.description === undefined ? undefined : str(guest.description, "guest.description"),
      icon: guest.icon === undefined ? undefined : validateIcon(guest.icon),
    },
    engine: { name: "v86", version: str(engine.version, "engine.version", 64), wasmSha256: hash(engine.wasmSha256, "engine.wasmSha256") },
    machine: { memoryBytes, vgaMemoryBytes, ...(machine.nic === "virtio" ? { nic: "virtio" as const } : {}) },
    state: validateBlockMap(m.state, "state"),
    memory,
    vgaMemory,
    disks,
    boot,
    console: { tail: str(consoleInfo.tail, "console.tail", 8192) },
    app: m.app === undefined ? undefined : validateApp(m.app, disks, machine.nic === "virtio"),
    policy: m.policy === undefined ? undefined : validatePolicy(m.policy, "manifest policy"),
    remotes: m.remotes === undefined ? undefined : validateRemotes(m.remotes),
    hot: m.hot === undefined ? undefined : validateHot(m.hot, disks),
  };
}

function validateApp(v: unknown, disks: DiskEntry[], nic: boolean): AppInfo {
  const o = obj(v, "app");
  if (o.protocol !== 2) fail("app.protocol", "must be 2");
  if (o.dataDisk !== "hdb" || !disks.some((d) => d.slot === "hdb")) fail("app.dataDisk", 'must be "hdb", a disk of this manifest');
  if (!Array.isArray(o.data) || o.data.length > 64) fail("app.data", "must be a list of at most 64 guest paths");
  const app: AppInfo = { protocol: 2, dataDisk: "hdb", data: (o.data as unknown[]).map((p, i) => str(p, `app.data[${i}]`, 4096)) };
  if (o.ports !== undefined) {
    if (!nic) fail("app.ports", "needs machine.nic: the guest has no network card");
    if (!Array.isArray(o.ports) || o.ports.length > 64) fail("app.ports", "must be a list of at most 64 ports");
    app.ports = (o.ports as unknown[]).map((p, i) => {
      const q = obj(p, `app.ports[${i}]`);
      return { guest: int(q.guest, `app.ports[${i}].guest`, 1, 65535), host: int(q.host, `app.ports[${i}].host`, 0, 65535) };
    });
  }
  if (o.open !== undefined) {
    const q = obj(o.open, "app.open");
    const guestPort = int(q.guestPort, "app.open.guestPort", 1, 65535);
    if (!app.ports?.some((p) => p.guest === guestPort)) fail("app.open.guestPort", "must be one of app.ports");
    const openPath = str(q.path, "app.open.path", 2048);
    if (!openPath.startsWith("/") || /[\0-\x1f\s]/.test(openPath)) fail("app.open.path", "must be a URL path starting with /, without spaces or control characters");
    app.open = { guestPort, path: openPath };
  }
  if (o.outbound !== undefined) app.outbound = outboundRules(o.outbound, "app.outbound", nic);
  return app;
}

/** A list of outbound rules (engine/outbound-rules.ts), checked here so a bad one fails reading, not the guest. */
function outboundRules(v: unknown, field: string, nic: boolean): string[] {
  if (!nic) fail(field, "needs machine.nic: the guest has no network card");
  if (!Array.isArray(v) || v.length > 256) fail(field, "must be a list of at most 256 rules");
  const rules = (v as unknown[]).map((r, i) => str(r, `${field}[${i}]`, 300));
  for (const [i, r] of rules.entries()) {
    const problem = parseOutboundRule(r);
    if (typeof problem === "string") fail(`${field}[${i}]`, problem);
  }
  return rules;
}

export function serializeManifest(m: Manifest): Buffer {
  return Buffer.from(JSON.stringify(m) + "\n", "utf8");
}

/** Every block the manifest references, with its raw size, each hash once, in a stable order. */
export function* manifestBlocks(m: Manifest): Generator<{ hash: BlockHash; size: number }> {
  yield* uniqueBlocks(blockRefs(m));
}

/** The manifest's maps without their names (see block-maps.ts for the walk itself). */
export function allMaps(m: Manifest): BlockMap[] {
  return namedMaps(m).map((n) => n.map);
}

/** The same manifest with every block renamed (e.g. to the names of their encrypted forms). */
export function renameBlocks(m: Manifest, rename: (h: BlockHash) => BlockHash): Manifest {
  const map = (b: BlockMap): BlockMap => ({ ...b, blocks: b.blocks.map((h) => (h ? rename(h) : null)) });
  return {
    ...m,
    state: map(m.state),
    memory: map(m.memory),
    vgaMemory: map(m.vgaMemory),
    disks: m.disks.map((d) => ({ ...d, map: map(d.map) })),
    boot: m.boot && { ...m.boot, bios: map(m.boot.bios), vgaBios: map(m.boot.vgaBios), kernel: map(m.boot.kernel), initrd: m.boot.initrd && map(m.boot.initrd) },
  };
}
