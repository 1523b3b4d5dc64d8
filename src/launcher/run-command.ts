import * as path from "node:path";
import { loadEngineAssets, type EngineAssets } from "../engine/engine-assets";
import { unlockerFor } from "../policy/unlocker";
import { resolvePublicKey } from "../policy/signature";
import type { GuiOptions } from "../gui/gui-session";
import { GUI_OPTIONS, guiFrom } from "../gui/gui-options";
import { ACCESS_OPTIONS, accessFrom, type AccessOptions } from "./access-options";
import { runBundle } from "./run-bundle";
import { parsePublish, type PublishRequest } from "./port-forwards";

/**
 * `vmsfx run` and the executable itself: one option table for both (yargs options), the request
 * it maps to, and the command: run the guest, then say what became of the session.
 */

export const RUN_OPTIONS = {
  fresh: { type: "boolean", default: false, describe: "cold-boot the guest instead of resuming" },
  update: { type: "boolean", default: false, describe: "first ask a thin app's servers for a newer version signed by the same publisher" },
  "state-dir": { type: "string", describe: "where your changes are kept (default: <the app's file>.vmsfx-state next to it)" },
  reset: { type: "boolean", default: false, describe: "discard the saved changes (asks first on a terminal) and exit" },
  timings: { type: "boolean", default: false, describe: "print a JSON line of resume timings to stderr" },
  publish: { type: "string", array: true, describe: "serve guest port GUEST on this machine's port HOST: HOST:GUEST, or ADDRESS:HOST:GUEST to listen on another address than 127.0.0.1 (HOST 0: any free port); repeatable" },
  network: { type: "boolean", default: true, describe: "--no-network: the guest connects nowhere, whatever the app allows (its forwarded ports still serve this machine)" },
  ...GUI_OPTIONS,
  json: { type: "boolean", default: false, describe: "with --gui, or a web app: print the page's address as a JSON line on stderr (vmsfx-gui {\"url\": ...}, vmsfx-open {\"url\": ...})" },
  ...ACCESS_OPTIONS,
} as const;

/** What RUN_OPTIONS parse into (yargs' result, by option name). */
export interface RunFlags {
  fresh: boolean;
  update: boolean;
  "state-dir"?: string;
  timings: boolean;
  publish?: string[];
  network?: boolean;
  gui?: boolean;
  browser?: boolean;
  json?: boolean;
  "passphrase-file"?: string;
  "key-file"?: string;
  "require-signer"?: string;
}

export type RunRequest = { bundle: string; fresh: boolean; update?: boolean; stateDir?: string; timings: boolean; args?: string[]; publish?: PublishRequest[]; network?: boolean; web?: { browser: boolean; json: boolean } } & AccessOptions & { gui?: GuiOptions };

export function runRequestFrom(bundle: string, a: RunFlags, args: string[] | undefined): RunRequest {
  const publish = (a.publish ?? []).map(parsePublish);
  return { bundle, fresh: a.fresh, update: a.update, stateDir: a["state-dir"], timings: a.timings, args, publish, network: a.network !== false, web: { browser: a.browser !== false, json: a.json === true }, gui: guiFrom(a), ...accessFrom(a) };
}

/** `… -- ARGS`: everything after the first `--` goes to the guest's app (docs/guest-agent.md). */
export function splitGuestArgs(argv: string[]): { argv: string[]; guestArgs?: string[] } {
  const dashes = argv.indexOf("--");
  return dashes >= 0 ? { argv: argv.slice(0, dashes), guestArgs: argv.slice(dashes + 1) } : { argv };
}

export async function runCommand(
  a: RunRequest,
  loadAssets: () => Promise<EngineAssets> = loadEngineAssets,
): Promise<number> {
  const timings: Record<string, number> | undefined = a.timings ? { command: Math.round(performance.now() * 10) / 10 } : undefined;
  const assets = await loadAssets();
  const r = await runBundle(a.bundle, assets, {
    fresh: a.fresh,
    update: a.update,
    args: a.args,
    stateDir: a.stateDir && path.resolve(a.stateDir),
    unlock: unlockerFor(a),
    requireSigner: a.requireSigner ? await resolvePublicKey(a.requireSigner) : undefined,
    timings,
    gui: a.gui,
    publish: a.publish,
    network: a.network,
    web: a.web,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  if (r.notice) process.stderr.write(`\r\n${r.notice}\r\n`);
  // Said after the state folder is released: the terminal may already be gone.
  if (r.reason === "reboot") process.stderr.write("\r\nvmsfx: the guest asked to reboot; it was shut down instead (v86 cannot reboot a resumed guest). Its disks are kept.\r\n");
  if (r.saved?.kind === "suspended" && r.reason !== "app-exit") process.stderr.write(`\r\nvmsfx: suspended; run it again to continue where you left off (saved in ${(r.saved.ms / 1000).toFixed(2)} s).\r\n`);
  if (timings) process.stderr.write(`vmsfx-timings ${JSON.stringify({ ...timings, maxRssKb: process.resourceUsage().maxRSS, ...(r.saved ? { saveMs: r.saved.ms, savedNewBytes: r.saved.newBytes, savedPackBytes: r.saved.packBytes } : {}) })}\n`);
  return r.exitCode;
}
