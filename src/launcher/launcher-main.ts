import { traceStop } from "../engine/stop-trace";
import yargs from "yargs";
import { exitQuietlyOnClosedOutput, fail, failIfUnfinished } from "./report-error";
import { inspectCommand } from "./inspect-command";
import { verifyCommand } from "./verify-command";
import { RUN_OPTIONS, runCommand, runRequestFrom, splitGuestArgs } from "./run-command";
import { resetState } from "./reset-state";
import { fingerprintCommand } from "./fingerprint-command";
import { accessFrom } from "./access-options";
import { loadSeaAssets } from "./sea-assets";
import { desktopCommand } from "./desktop-install";

/**
 * The program inside a vmsfx executable. The file itself is the bundle (appended after the
 * runtime), so with no arguments it resumes its own guest; flags cover the rest.
 */

/** `vmsfx run`'s options, and what only the executable does (it is its own bundle). */
const EXECUTABLE_OPTIONS = {
  info: { type: "boolean", default: false, describe: "show what this file holds and exit" },
  verify: { type: "boolean", default: false, describe: "check every block against its SHA-256 and exit" },
  ...RUN_OPTIONS,
  json: { type: "boolean", default: false, describe: "with --info or --verify: JSON output; with --gui: the page's address as a JSON line on stderr" },
  install: { type: "boolean", default: false, describe: "add a menu entry and a command on your PATH for this app, and exit" },
  uninstall: { type: "boolean", default: false, describe: "remove what --install added, and exit" },
  fingerprint: { type: "boolean", default: false, describe: "print this machine's fingerprint (for a publisher's machine list) and exit" },
} as const;

async function main(all: string[]): Promise<number> {
  const self = process.execPath;
  const { argv, guestArgs } = splitGuestArgs(all);
  const a = await yargs(argv)
    .scriptName(self.split(/[\\/]/).pop() ?? "app")
    .usage("$0 [options] [-- ARGS for the guest's app]\n\nA vmsfx app: a Linux guest snapshot in one file. Run it to resume the guest on this terminal.\nOn a terminal, Ctrl-] then q suspends it; the next run continues where it stopped.")
    .options(EXECUTABLE_OPTIONS)
    .strict()
    .help()
    .alias("h", "help")
    .version(false)
    .fail((msg, err) => {
      if (err) throw err;
      throw Object.assign(new Error(msg), { usage: true });
    })
    .parseAsync();
  const stateDir = a["state-dir"];
  const access = accessFrom(a);
  if (a.fingerprint) return fingerprintCommand();
  if (a.install || a.uninstall) return desktopCommand(self, a.install ? "install" : "uninstall");
  if (a.info) return inspectCommand({ target: self, json: a.json, runtime: process.version, runtimeOptions: process.execArgv, ...access });
  if (a.verify) return verifyCommand({ target: self, json: a.json, quiet: false, stateDir, ...access });
  if (a.reset) return resetState(self, stateDir);
  return runCommand(runRequestFrom(self, a, guestArgs), loadSeaAssets);
}

exitQuietlyOnClosedOutput();
failIfUnfinished();
main(process.argv.slice(2)).then(
  (code) => {
    traceStop("exiting");
    process.exit(code);
  },
  (e) => {
    if ((e as { usage?: boolean }).usage) {
      process.stderr.write(`vmsfx: ${(e as Error).message} Run ${process.execPath} --help for usage. [VMSFX_USAGE]\n`);
      process.exit(2);
    }
    process.exit(fail(e));
  },
);
