import { ACCESS_OPTIONS, accessFrom } from "../launcher/access-options";
import { inspectCommand } from "../launcher/inspect-command";
import { verifyCommand } from "../launcher/verify-command";
import { RUN_OPTIONS, runCommand, runRequestFrom } from "../launcher/run-command";
import { resetState } from "../launcher/reset-state";
import { fingerprintCommand } from "../launcher/fingerprint-command";
import { command } from "./cli-command";
import { keygenCommand } from "./key-commands";

/** The user's commands (the executable does the same with flags): look inside, check, run; and keys. */

export const inspectCli = command(
  "inspect <target>",
  "Show what a bundle or snapshot directory holds",
  (y) =>
    y
      .positional("target", { type: "string", demandOption: true })
      .option("json", { type: "boolean", default: false })
      .options(ACCESS_OPTIONS)
      .example("$0 inspect app.vmsfx --json", ""),
  (a) => inspectCommand({ target: a.target, json: a.json, ...accessFrom(a) }),
);

export const verifyCli = command(
  "verify <target>",
  "Check every block of a bundle or snapshot directory against its SHA-256",
  (y) =>
    y
      .positional("target", { type: "string", demandOption: true })
      .option("state-dir", { type: "string", describe: "also verify the resume point kept here (default: next to the bundle, when there is one)" })
      .option("json", { type: "boolean", default: false })
      .option("quiet", { alias: "q", type: "boolean", default: false })
      .options(ACCESS_OPTIONS),
  (a) => verifyCommand({ target: a.target, json: a.json, quiet: a.quiet, stateDir: a["state-dir"], ...accessFrom(a) }),
);

export const keygenCli = command(
  "keygen",
  "Make an Ed25519 key pair for signing bundles",
  (y) => y.option("out", { alias: "o", type: "string", demandOption: true, describe: "private key file (the public key goes to <file>.pub)" }).example("$0 keygen -o publisher.key", ""),
  (a) => keygenCommand({ out: a.out }),
);

export const fingerprintCli = command(
  "fingerprint",
  "Print this machine's fingerprint (for a policy's \"machines\" list)",
  (y) => y,
  () => fingerprintCommand(),
);

/** `run` takes what follows `--` on the command line (for the guest's app). */
export const runCli = (guestArgs: string[] | undefined) =>
  command(
    "run <bundle>",
    "Resume the guest in a bundle (or snapshot directory) on this terminal",
    (y) =>
      y
        .positional("bundle", { type: "string", demandOption: true })
        .options(RUN_OPTIONS)
        .epilogue("On a terminal, Ctrl-] then q suspends the guest; the next run continues where it stopped (--fresh or --reset to start over). With piped input, the guest is suspended at its prompt once the input ends (or the run ends when it powers off).")
        .example("printf 'cat /mnt/hello.txt\\npoweroff\\n' | $0 run app.vmsfx", "")
        .example("$0 run app.vmsfx -- --version", "run the guest's app with these arguments (docs/guest-agent.md); exit with its status"),
    (a) => (a.reset ? resetState(a.bundle, a["state-dir"]) : runCommand(runRequestFrom(a.bundle, a, guestArgs))),
  );
