import { traceStop } from "../engine/stop-trace";
import type { GuestHost } from "../engine/engine-host";
import type { BlockChange } from "../engine/engine-protocol";
import { encodeBlock, isAllZero, type StoredCipher } from "../snapshot/block-codec";
import { blockCount, type BlockHash, type BlockMap, type DiskEntry, type Manifest } from "../snapshot/manifest";
import { blockHashes } from "../snapshot/block-maps";
import type { OverlayDisk } from "../snapshot/overlay-disk";
import { saveResumePoint, type ResumeKind, type ResumePoint, type SaveResult } from "../snapshot/resume-point";

/**
 * Turns the end of a session into a resume point that stores only what differs from the bundle.
 * Suspended: device state, the RAM/VGA blocks the guest changed, the disk blocks it wrote.
 * Powered off: only the disks (the next launch cold-boots with them). Quit (an app whose data disk
 * the agent took off): only the disks too, and the next launch resumes the bundle's memory.
 */

/** Fast: a save happens while the user waits for the app to close. */
const SAVE_LEVEL = 3;

export interface SaveOnExitInput {
  kind: ResumeKind;
  host: GuestHost;
  /** The manifest this session started from (the bundle's, or the previous resume point's). */
  base: Manifest;
  /** The session cold-booted, so RAM changes are relative to zeros, not to `base`. */
  coldBooted: boolean;
  disks: { entry: DiskEntry; disk: OverlayDisk }[];
  stateDir: string;
  bundleManifest: Manifest;
  bundleManifestSha256: string;
  previous?: ResumePoint;
  /** An encrypted bundle's cipher: the user's saved state is sealed like the bundle's blocks. */
  cipher?: StoredCipher;
  /** The console line the user was on; shown again on resume. */
  consoleLine: string;
  /** Stored bytes of a block this session read from (the bundle, the previous pack or a remote). */
  readStored?: (hash: BlockHash, rawLength: number) => Promise<Uint8Array>;
}

export async function saveOnExit(input: SaveOnExitInput): Promise<SaveResult & { ms: number }> {
  const started = performance.now();
  const fresh = new Map<BlockHash, Uint8Array>();
  const put = async (raw: Uint8Array): Promise<BlockHash | null> => {
    if (isAllZero(raw)) return null;
    const { hash, stored } = await encodeBlock(raw, SAVE_LEVEL, input.cipher);
    fresh.set(hash, stored);
    return hash;
  };
  const applied = async (start: BlockMap, changes: BlockChange[]): Promise<BlockMap> => {
    const blocks = [...start.blocks];
    for (const c of changes) blocks[c.index] = c.data.byteLength === 0 ? null : await put(c.data);
    return { ...start, blocks };
  };
  const empty = (m: BlockMap): BlockMap => ({ ...m, blocks: new Array(m.blocks.length).fill(null) });

  // A shut-down machine (or a quit app) keeps only its disks; its memory maps go back to the
  // bundle's, so the pack holds no RAM the next launch would never read.
  let { state, memory, vgaMemory } = input.kind === "suspended" ? input.base : input.bundleManifest;
  let consoleInfo = input.bundleManifest.console;
  if (input.kind === "suspended") {
    consoleInfo = { tail: input.consoleLine };
    traceStop("suspend asked");
    const s = await input.host.suspend(memory.blockSize, vgaMemory.blockSize);
    traceStop("suspend answered");
    memory = await applied(input.coldBooted ? empty(memory) : memory, s.ram);
    vgaMemory = await applied(input.coldBooted ? empty(vgaMemory) : vgaMemory, s.vga);
    const bs = state.blockSize;
    const blocks: (BlockHash | null)[] = [];
    for (let i = 0; i < blockCount(s.state.byteLength, bs); i++) blocks.push(await put(s.state.subarray(i * bs, (i + 1) * bs)));
    state = { size: s.state.byteLength, blockSize: bs, blocks };
  }
  const disks: DiskEntry[] = [];
  for (const { entry, disk } of input.disks) {
    const blocks = [...entry.map.blocks];
    for (const [index, bytes] of [...disk.dirty].sort((a, b) => a[0] - b[0])) {
      const was = entry.map.blocks[index];
      const unchanged = was === null ? isAllZero(bytes) : Buffer.from(await disk.baseBlock(index)).equals(bytes);
      if (!unchanged) blocks[index] = await put(bytes);
    }
    disks.push({ slot: entry.slot, map: { ...entry.map, blocks } });
  }
  const inBundle = blockHashes(input.bundleManifest);
  const whole = await keepDataDiskWhole(input, disks, fresh);
  const result = await saveResumePoint({
    stateDir: input.stateDir,
    bundleManifestSha256: input.bundleManifestSha256,
    kind: input.kind,
    manifest: { ...input.base, state, memory, vgaMemory, disks, console: consoleInfo },
    inBundle: (h) => inBundle.has(h) && !whole.has(h),
    fresh,
    previous: input.previous,
  });
  traceStop("resume point written");
  return { ...result, ms: Math.round(performance.now() - started) };
}

/**
 * At a quit, every block of the app's data disk goes into the pack, not only the changed ones (a
 * fresh data disk is a handful of blocks), so a new version of the app can take the disk over
 * (snapshot/data-carry.ts). A block that cannot be read now (a thin bundle offline) only means
 * this point stays tied to this version.
 */
async function keepDataDiskWhole(input: SaveOnExitInput, disks: DiskEntry[], fresh: Map<BlockHash, Uint8Array>): Promise<Set<BlockHash>> {
  const slot = input.kind === "quit" ? input.bundleManifest.app?.dataDisk : undefined;
  const map = disks.find((d) => d.slot === slot)?.map;
  if (!map || !input.readStored) return new Set();
  const copies = new Map<BlockHash, Uint8Array>();
  try {
    for (const h of new Set(map.blocks)) {
      if (h === null || fresh.has(h) || input.previous?.pack?.blocks[h]) continue;
      copies.set(h, await input.readStored(h, map.blockSize));
    }
  } catch {
    return new Set();
  }
  for (const [h, stored] of copies) fresh.set(h, stored);
  return new Set(map.blocks.filter((h): h is BlockHash => h !== null));
}
