import * as path from "node:path";
import type { EngineIdentity, Manifest } from "../snapshot/manifest";
import type { Unlocker } from "../snapshot/bundle-reader";
import { openSnapshot } from "../snapshot/open-snapshot";
import { openLayeredSource } from "../snapshot/layered-source";
import { openResumePoint, type ResumePoint } from "../snapshot/resume-point";
import type { SnapshotSource } from "../snapshot/snapshot-source";
import { chooseVersion, type AppVersion } from "../remote/manifest-update";
import { openRemoteBacked, type RemoteBackedSource } from "../remote/remote-source";
import { enforceLaunch, type GateInput, type GateResult } from "../policy/launch-gate";
import { openStateDir } from "./state-dir";
import { PackGuardedSource } from "./pack-guard";
import { previousSession } from "./previous-session";
import { SourceStack } from "./source-stack";

/**
 * The first stage of a launch: open the app. Which version runs, whether the gate lets it,
 * which resume point it continues from, and the stack of sources its blocks come from. Nothing of
 * the guest runs here; the plan owns everything it opened (sources and the state folder's lock)
 * and gives it back with one `close()`, also when opening fails part way.
 */

export type OpenedSnapshot = Awaited<ReturnType<typeof openSnapshot>>;

export interface PlanOptions {
  fresh: boolean;
  stateDir?: string;
  /** Ask a thin bundle's servers for a newer signed version first (`--update`). */
  update?: boolean;
  /** Arguments after `--`: the guest agent runs the guest's app with them; its exit status is ours. */
  args?: string[];
  /** Turns an encrypted bundle's header into its manifest and cipher (asks for the passphrase). */
  unlock?: Unlocker;
  /** The publisher key the bundle must be signed with (`--require-signer`). */
  requireSigner?: string;
  stderr: { write(s: string): unknown };
}

export interface LaunchPlan {
  readonly file: string;
  /** The state folder (taken: no other launch uses it until close). */
  readonly statePath: string;
  /** The file (or folder) as opened: its cipher and the usage ledger belong to it. */
  readonly bundle: OpenedSnapshot;
  readonly version: AppVersion<OpenedSnapshot>;
  readonly gate: GateResult;
  /** The resume point this launch continues from, if any. */
  readonly previous?: ResumePoint;
  /** Set for a thin bundle: blocks the file lacks come from its remotes through the cache. */
  readonly thin?: RemoteBackedSource;
  /** Where every block is read: the outermost source. */
  readonly source: SnapshotSource;
  /** What runs: the resume point's manifest, or the version's. */
  readonly manifest: Manifest;
  readonly coldBoot: boolean;
  close(): Promise<void>;
}

/** What the plan opens things with; a test gives fakes. */
export interface PlanOpeners {
  openSnapshot: typeof openSnapshot;
  openStateDir: typeof openStateDir;
  chooseVersion: typeof chooseVersion<OpenedSnapshot>;
  enforceLaunch: typeof enforceLaunch;
  openResumePoint: typeof openResumePoint;
  openRemoteBacked: typeof openRemoteBacked;
  openLayeredSource: typeof openLayeredSource;
}

const OPENERS: PlanOpeners = { openSnapshot, openStateDir, chooseVersion, enforceLaunch, openResumePoint, openRemoteBacked, openLayeredSource };

export async function openLaunchPlan(file: string, engine: EngineIdentity, o: PlanOptions, with_: Partial<PlanOpeners> = {}): Promise<LaunchPlan> {
  const open = { ...OPENERS, ...with_ };
  const say = (line: string) => void o.stderr.write(`${line}\n`);
  const bundle = await open.openSnapshot(file, { unlock: o.unlock });
  const sources = new SourceStack(bundle);
  const state = await open.openStateDir(file, o.stateDir).catch(async (e: unknown) => {
    await sources.close();
    throw e;
  });
  const close = async () => {
    try {
      await sources.close();
    } finally {
      await state.release();
    }
  };
  try {
    if (state.notice) say(state.notice);
    // Names this exact bundle: resume points and the usage ledger belong to it.
    const appId = bundle.manifestSha256;
    // A thin bundle may run a newer signed version published since (`--update`); the usage
    // ledger stays with the file, resume points with the version.
    const version = await open.chooseVersion(bundle, appId, { stateDir: state.path, update: o.update ?? false, engine, requireSigner: o.requireSigner, say });
    sources.push(version.source);
    // Signature and restrictions come first: nothing of the guest runs before they pass.
    const gate = await open.enforceLaunch({ ...signed(version), appId, location: file, requireSigner: o.requireSigner, stateDir: state.path, appPath: file, now: new Date() });
    // A damaged resume point is moved aside (kept for inspection) and the bundle's state is used.
    const opened = o.fresh ? {} : await open.openResumePoint(state.path);
    if (opened.notice) say(opened.notice);
    const previous = await previousSession(opened.point, version, { encrypted: !!bundle.cipher, statePath: state.path, say });
    // A thin bundle reads what it lacks from its remotes, through a verified cache in the state folder.
    const remotes = version.manifest.remotes;
    const thin = bundle.kind === "bundle" && remotes ? sources.push(open.openRemoteBacked(version.source, remotes, path.join(state.path, "cache"))) : undefined;
    // A snapshot folder run with --state-dir resumes its saved point just as a bundle does.
    if (previous) sources.push(new PackGuardedSource(sources.push(await open.openLayeredSource(thin ?? version.source, previous, state.path)), previous, state.path));
    const manifest = sources.top.manifest;
    if (manifest.app && previous?.kind === "suspended" && o.args?.length) say("vmsfx: the app is still running where you left it, so the arguments after -- were not used; quit the app first to start it with them.");
    const coldBoot = o.fresh || previous?.kind === "powered-off";
    return { file, statePath: state.path, bundle, version, gate, previous, thin, source: sources.top, manifest, coldBoot, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** What the launch gate checks of a version: its manifest as stored, and the signature over it. */
function signed(v: AppVersion<OpenedSnapshot>): Pick<GateInput, "manifest" | "manifestBytes" | "signature"> {
  return { manifest: v.manifest, manifestBytes: v.manifestBytes, signature: v.signature };
}

