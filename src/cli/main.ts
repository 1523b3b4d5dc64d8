import { traceStop } from "../engine/stop-trace";
import * as zlib from "node:zlib";
import yargs from "yargs";
import { VmsfxError } from "../errors";
import { exitQuietlyOnClosedOutput, fail, failIfUnfinished } from "../launcher/report-error";
import { splitGuestArgs } from "../launcher/run-command";
import type { CliCommand } from "./cli-command";
import { buildCli, captureCli, exeCli, packCli, publishCli, recordCli } from "./make-commands";
import { fingerprintCli, inspectCli, keygenCli, runCli, verifyCli } from "./use-commands";

/**
 * The `vmsfx` command line. Every failure ends here: a VmsfxError prints one line and exits with
 * its documented code; anything else is a bug and says so, with the stack only under VMSFX_DEBUG.
 */

export async function main(all: string[]): Promise<number> {
  requireNativeZstd();
  // `vmsfx run app.vmsfx -- ARGS`: everything after the first `--` is for the guest's app.
  const { argv, guestArgs } = splitGuestArgs(all);
  if (guestArgs && argv[0] !== "run") throw new VmsfxError("VMSFX_USAGE", "arguments after -- are only for `vmsfx run` (they go to the guest's app). Run `vmsfx --help` for usage.");
  const commands: CliCommand[] = [captureCli, buildCli, packCli, exeCli, inspectCli, verifyCli, runCli(guestArgs), publishCli, recordCli, keygenCli, fingerprintCli];
  let code = 0;
  const y = yargs(argv).scriptName("vmsfx").usage("$0 <command> [options]\n\nCapture a v86 guest, pack it into one file, resume it in well under a second.");
  for (const c of commands) c.addTo(y, (exit) => (code = exit));
  await y
    .demandCommand(1, "Name a command; see --help.")
    .strict()
    .help()
    .alias("h", "help")
    .version(process.env.VMSFX_VERSION ?? "0.1.0")
    .fail((msg, err) => {
      if (err) throw err;
      throw new VmsfxError("VMSFX_USAGE", `${msg} Run \`vmsfx --help\` for usage.`);
    })
    .parseAsync();
  return code;
}

/**
 * Blocks are compressed with Node's own zstd (node:zlib, from Node 22.15). The executables carry
 * their own Node 24, so this only concerns the machine that runs the vmsfx command: say what to
 * do instead of failing at the first block.
 */
function requireNativeZstd(): void {
  if (typeof zlib.zstdCompressSync === "function") return;
  throw new VmsfxError("VMSFX_USAGE", `vmsfx needs Node 22.15 or newer (for its zstd); this is Node ${process.version}. Install Node 24 LTS, or run \`npm ci\` in the vmsfx checkout: bin/vmsfx then runs on the Node 24 it installs.`);
}

export function cli(): void {
  exitQuietlyOnClosedOutput();
  failIfUnfinished();
  main(process.argv.slice(2)).then(
    (code) => {
      traceStop("exiting");
      process.exit(code);
    },
    (e) => process.exit(fail(e)),
  );
}

if (require.main === module) cli();
