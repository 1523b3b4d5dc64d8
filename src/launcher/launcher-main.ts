import yargs from "yargs";
import { exitQuietlyOnClosedOutput, fail, failIfUnfinished } from "../cli/report-error";
import { inspectCommand, runCommand, verifyCommand } from "../cli/read-commands";
import { resetState } from "./reset-state";
import { fingerprintCommand } from "../cli/key-commands";
import { ACCESS_OPTIONS, accessFrom } from "../cli/access-options";
import { loadSeaAssets } from "./sea-assets";
import { desktopCommand } from "./desktop-install";
import { GUI_OPTIONS, guiFrom } from "../gui/gui-options";

/**
 * The program inside a vmsfx executable. The file itself is the bundle (appended after the
 * runtime), so with no arguments it resumes its own guest; flags cover the rest.
 */

async function main(argv: string[]): Promise<number> {
  const self = process.execPath;
  // `./app -- ARGS`: everything after the first `--` goes to the guest's app (docs/guest-agent.md).
  const dashes = argv.indexOf("--");
  const guestArgs = dashes >= 0 ? argv.slice(dashes + 1) : undefined;
  const a = await yargs(dashes >= 0 ? argv.slice(0, dashes) : argv)
    .scriptName(self.split(/[\\/]/).pop() ?? "app")
    .usage("$0 [options] [-- ARGS for the guest's app]\n\nA vmsfx app: a Linux guest snapshot in one file. Run it to resume the guest on this terminal.\nOn a terminal, Ctrl-] then q suspends it; the next run continues where it stopped.")
    .option("info", { type: "boolean", default: false, describe: "show what this file holds and exit" })
    .option("verify", { type: "boolean", default: false, describe: "check every block against its SHA-256 and exit" })
    .option("fresh", { type: "boolean", default: false, describe: "cold-boot the guest instead of resuming" })
    .option("update", { type: "boolean", default: false, describe: "first ask this app's servers for a newer version signed by the same publisher" })
    .option("reset", { type: "boolean", default: false, describe: "discard the changes kept next to this file (asks first on a terminal)" })
    .option("state-dir", { type: "string", describe: "where changes are kept (default: <this file>.vmsfx-state next to it)" })
    .option("json", { type: "boolean", default: false, describe: "with --info or --verify: JSON output; with --gui: the page's address as a JSON line on stderr" })
    .option("timings", { type: "boolean", default: false, describe: "print a JSON line of resume timings to stderr" })
    .options(GUI_OPTIONS)
    .options(ACCESS_OPTIONS)
    .option("install", { type: "boolean", default: false, describe: "add a menu entry and a command on your PATH for this app, and exit" })
    .option("uninstall", { type: "boolean", default: false, describe: "remove what --install added, and exit" })
    .option("fingerprint", { type: "boolean", default: false, describe: "print this machine's fingerprint (for a publisher's machine list) and exit" })
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
  if (a.info) return inspectCommand({ target: self, json: a.json, ...access });
  if (a.verify) return verifyCommand({ target: self, json: a.json, quiet: false, stateDir, ...access });
  if (a.reset) return resetState(self, stateDir);
  return runCommand({ bundle: self, fresh: a.fresh, update: a.update, stateDir, timings: a.timings, args: guestArgs, gui: guiFrom(a), ...access }, loadSeaAssets);
}

exitQuietlyOnClosedOutput();
failIfUnfinished();
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    if ((e as { usage?: boolean }).usage) {
      process.stderr.write(`vmsfx: ${(e as Error).message} Run ${process.execPath} --help for usage. [VMSFX_USAGE]\n`);
      process.exit(2);
    }
    process.exit(fail(e));
  },
);
