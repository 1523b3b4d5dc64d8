import yargs from "yargs";
import { VmsfxError } from "../errors";
import { exitQuietlyOnClosedOutput, fail, failIfUnfinished } from "./report-error";
import { captureCommand, exeCommand, packCommand, publishCommand } from "./publish-commands";
import { fingerprintCommand, keygenCommand } from "./key-commands";
import { recordCommand } from "./record-command";
import { ACCESS_OPTIONS, accessFrom } from "./access-options";
import { inspectCommand, runCommand, verifyCommand } from "./read-commands";
import { TARGET_NAMES, type TargetName } from "../packaging/node-targets";
import { resetState } from "../launcher/reset-state";
import { GUI_OPTIONS, guiFrom } from "../gui/gui-options";
import { buildCommand } from "./build-command";

/**
 * The `vmsfx` command line. Every failure ends here: a VmsfxError prints one line and exits with
 * its documented code; anything else is a bug and says so, with the stack only under VMSFX_DEBUG.
 */

function parseSize(v: string | number): number {
  if (typeof v === "number") return v;
  const m = /^(\d+)\s*([kKmM]?)i?[bB]?$/.exec(v.trim());
  if (!m) throw new VmsfxError("VMSFX_USAGE", `"${v}" is not a size (try 65536, 64K or 1M).`);
  return Number(m[1]) * (m[2].toLowerCase() === "k" ? 1024 : m[2].toLowerCase() === "m" ? 1 << 20 : 1);
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  // `vmsfx run app.vmsfx -- ARGS`: everything after the first `--` is for the guest's app.
  const dashes = argv.indexOf("--");
  const guestArgs = dashes >= 0 ? argv.slice(dashes + 1) : undefined;
  if (dashes >= 0) argv = argv.slice(0, dashes);
  if (guestArgs && argv[0] !== "run") throw new VmsfxError("VMSFX_USAGE", "arguments after -- are only for `vmsfx run` (they go to the guest's app). Run `vmsfx --help` for usage.");
  const run = async (p: Promise<number>): Promise<void> => {
    code = await p;
  };
  const blockSizeCheck = (n: number) => {
    if (n < 4096 || n > 256 << 10 || (n & (n - 1)) !== 0) throw new VmsfxError("VMSFX_USAGE", `--block sizes must be powers of two from 4K to 256K (got ${n}).`);
    return n;
  };
  await yargs(argv)
    .scriptName("vmsfx")
    .usage("$0 <command> [options]\n\nCapture a v86 guest, pack it into one file, resume it in well under a second.")
    .command(
      "capture <recipe>",
      "Boot a guest recipe (vm.json), wait until it is ready, and save a snapshot directory",
      (y) =>
        y
          .positional("recipe", { type: "string", demandOption: true, describe: "guest recipe, e.g. samples/shell/vm.json" })
          .option("out", { alias: "o", type: "string", demandOption: true, describe: "snapshot directory to create (must not exist or be empty)" })
          .option("block-size", { type: "string", default: "256K", describe: "block size for RAM, VGA memory and device state (4K-256K)" })
          .option("disk-block-size", { type: "string", default: "64K", describe: "block size for disks and boot files (4K-256K)" })
          .option("level", { type: "number", default: 19, describe: "zstd level per block (1-19); lower captures faster, resume speed barely changes" })
          .option("verbose", { alias: "v", type: "boolean", default: false, describe: "show the guest console while it boots" })
          .option("json", { type: "boolean", default: false, describe: "print the result as JSON" })
          .option("quiet", { alias: "q", type: "boolean", default: false })
          .example("$0 capture samples/shell/vm.json -o snap", ""),
      (a) => run(captureCommand({ recipe: a.recipe, out: a.out, blockSize: blockSizeCheck(parseSize(a.blockSize)), diskBlockSize: blockSizeCheck(parseSize(a["disk-block-size"])), level: Math.min(19, Math.max(1, a.level)), verbose: a.verbose, json: a.json, quiet: a.quiet })),
    )
    .command(
      "build <spec>",
      "Build an app from an app spec (app.json): its guest from Debian packages or an OCI image, booted, run once and captured into a snapshot directory",
      (y) =>
        y
          .positional("spec", { type: "string", demandOption: true, describe: "app spec, e.g. samples/sqlite/app.json" })
          .option("out", { alias: "o", type: "string", demandOption: true, describe: "snapshot directory to create (must not exist or be empty)" })
          .option("block-size", { type: "string", default: "256K", describe: "block size for RAM, VGA memory and device state (4K-256K)" })
          .option("disk-block-size", { type: "string", default: "64K", describe: "block size for disks and boot files (4K-256K)" })
          .option("level", { type: "number", default: 19, describe: "zstd level per block (1-19); lower builds faster" })
          .option("verbose", { alias: "v", type: "boolean", default: false, describe: "show the tools' output and the guest console" })
          .option("json", { type: "boolean", default: false, describe: "print the result as JSON" })
          .option("quiet", { alias: "q", type: "boolean", default: false })
          .epilog("Needs a Linux x86-64 host; Debian packages need root and mmdebstrap (sudo apt-get install mmdebstrap arch-test). The executables it makes run anywhere.")
          .example("$0 build app.json -o snap && $0 pack snap --exe -o myapp", ""),
      (a) => run(buildCommand({ spec: a.spec, out: a.out, blockSize: blockSizeCheck(parseSize(a.blockSize)), diskBlockSize: blockSizeCheck(parseSize(a["disk-block-size"])), level: Math.min(19, Math.max(1, a.level)), verbose: a.verbose, json: a.json, quiet: a.quiet })),
    )
    .command(
      "pack <snapshot>",
      "Pack a snapshot directory into one bundle file",
      (y) =>
        y
          .positional("snapshot", { type: "string", demandOption: true, describe: "snapshot directory made by capture" })
          .option("out", { alias: "o", type: "string", demandOption: true, describe: "bundle file to write (replaced atomically)" })
          .option("exe", { type: "boolean", default: false, describe: "write one executable: a Node runtime with the launcher, bundle appended" })
          .option("target", { type: "string", choices: TARGET_NAMES, describe: "platform of the executable (default: this machine's, from the running node)" })
          .option("sign", { type: "string", describe: "sign with this private key (vmsfx keygen)" })
          .option("policy", { type: "string", describe: "usage restrictions (JSON, see samples/policies/); needs --sign" })
          .option("encrypt", { type: "boolean", default: false, describe: "encrypt every block (passphrase asked on the terminal, or --passphrase-file / --key-file)" })
          .option("passphrase-file", { type: "string", describe: "with --encrypt: read the passphrase from this file's first line" })
          .option("key-file", { type: "string", describe: "with --encrypt: use this file (32+ random bytes) as the key" })
          .option("thin", { type: "boolean", default: false, describe: "leave blocks out; the launcher fetches them from --remote" })
          .option("remote", { type: "string", describe: "with --thin: URL(s) of published folders or bundles, comma-separated, tried in order" })
          .option("include", { type: "string", choices: ["none", "memory", "hot"], default: "memory", describe: "with --thin: what the file keeps besides the device state" })
          .option("json", { type: "boolean", default: false })
          .option("quiet", { alias: "q", type: "boolean", default: false })
          .example("$0 pack snap -o app.vmsfx", "")
          .example("$0 pack snap --exe --sign publisher.key --policy samples/policies/trial-30-days.json -o trial", "a signed 30-day trial")
          .example("$0 pack snap --exe -o app", "an executable that resumes the guest when run")
          .example("$0 pack snap --exe --target win-x64 -o app.exe", "one for Windows (official Node, downloaded once and verified)"),
      (a) =>
        run(
          packCommand({
            snapshot: a.snapshot,
            out: a.out,
            exe: a.exe,
            target: a.target as TargetName | undefined,
            sign: a.sign,
            policy: a.policy,
            encrypt: a.encrypt,
            passphraseFile: a["passphrase-file"],
            keyFile: a["key-file"],
            thin: a.thin,
            remote: a.remote,
            include: a.include as "none" | "memory" | "hot",
            json: a.json,
            quiet: a.quiet,
          }),
        ),
    )
    .command(
      "exe <bundle>",
      "Turn a bundle into one executable (the launcher runtime with the bundle appended)",
      (y) =>
        y
          .positional("bundle", { type: "string", demandOption: true })
          .option("out", { alias: "o", type: "string", demandOption: true, describe: "executable to write" })
          .option("target", { type: "string", choices: TARGET_NAMES, describe: "platform of the executable (default: this machine's, from the running node)" })
          .option("json", { type: "boolean", default: false })
          .option("quiet", { alias: "q", type: "boolean", default: false })
          .example("$0 exe app.vmsfx -o app", "")
          .example("$0 exe app.vmsfx --target linux-arm64 -o app-arm64", ""),
      (a) => run(exeCommand({ bundle: a.bundle, out: a.out, target: a.target as TargetName | undefined, json: a.json, quiet: a.quiet })),
    )
    .command(
      "inspect <target>",
      "Show what a bundle or snapshot directory holds",
      (y) =>
        y
          .positional("target", { type: "string", demandOption: true })
          .option("json", { type: "boolean", default: false })
          .options(ACCESS_OPTIONS)
          .example("$0 inspect app.vmsfx --json", ""),
      (a) => run(inspectCommand({ target: a.target, json: a.json, ...accessFrom(a) })),
    )
    .command(
      "verify <target>",
      "Check every block of a bundle or snapshot directory against its SHA-256",
      (y) =>
        y
          .positional("target", { type: "string", demandOption: true })
          .option("state-dir", { type: "string", describe: "also verify the resume point kept here (default: next to the bundle, when there is one)" })
          .option("json", { type: "boolean", default: false })
          .option("quiet", { alias: "q", type: "boolean", default: false })
          .options(ACCESS_OPTIONS),
      (a) => run(verifyCommand({ target: a.target, json: a.json, quiet: a.quiet, stateDir: a["state-dir"], ...accessFrom(a) })),
    )
    .command(
      "run <bundle>",
      "Resume the guest in a bundle (or snapshot directory) on this terminal",
      (y) =>
        y
          .positional("bundle", { type: "string", demandOption: true })
          .option("fresh", { type: "boolean", default: false, describe: "cold-boot the bundle's recipe instead of resuming" })
          .option("update", { type: "boolean", default: false, describe: "first ask a thin bundle's servers for a newer version signed by the same publisher" })
          .option("state-dir", { type: "string", describe: "where your changes are kept (default: <bundle>.vmsfx-state next to it)" })
          .option("reset", { type: "boolean", default: false, describe: "discard the saved changes (asks first on a terminal) and exit" })
          .option("timings", { type: "boolean", default: false, describe: "print a JSON line of resume timings to stderr" })
          .options(GUI_OPTIONS)
          .option("json", { type: "boolean", default: false, describe: "with --gui: print the page's address as a JSON line on stderr (vmsfx-gui {\"url\": ...})" })
          .options(ACCESS_OPTIONS)
          .epilogue("On a terminal, Ctrl-] then q suspends the guest; the next run continues where it stopped (--fresh or --reset to start over). With piped input, the guest is suspended at its prompt once the input ends (or the run ends when it powers off).")
          .example("printf 'cat /mnt/hello.txt\\npoweroff\\n' | $0 run app.vmsfx", "")
          .example("$0 run app.vmsfx -- --version", "run the guest's app with these arguments (docs/guest-agent.md); exit with its status"),
      (a) => run(a.reset ? resetState(a.bundle, a["state-dir"]) : runCommand({ bundle: a.bundle, fresh: a.fresh, update: a.update, stateDir: a["state-dir"], timings: a.timings, args: guestArgs, gui: guiFrom(a), ...accessFrom(a) })),
    )
    .command(
      "publish <input>",
      "Write a snapshot or bundle as a static folder any web server, CDN or bucket can serve (for thin bundles)",
      (y) =>
        y
          .positional("input", { type: "string", demandOption: true, describe: "snapshot directory or bundle (plain or executable)" })
          .option("out", { alias: "o", type: "string", demandOption: true, describe: "folder to write (republishing adds only new blocks)" })
          .option("json", { type: "boolean", default: false })
          .option("quiet", { alias: "q", type: "boolean", default: false })
          .example("$0 publish app.vmsfx -o /var/www/apps/shell", ""),
      (a) => run(publishCommand({ input: a.input, out: a.out, json: a.json, quiet: a.quiet })),
    )
    .command(
      "record <snapshot>",
      "Resume a snapshot directory, note which disk blocks the guest reads first, and keep that hot set in its manifest",
      (y) =>
        y
          .positional("snapshot", { type: "string", demandOption: true })
          .option("input", { type: "string", describe: "a file of commands typed into the guest, line by line (as a first user would)" })
          .option("seconds", { type: "number", default: 5, describe: "how long to record" })
          .option("verbose", { alias: "v", type: "boolean", default: false, describe: "show the guest console" })
          .option("quiet", { alias: "q", type: "boolean", default: false })
          .example("$0 record snap --input first-steps.txt --seconds 5", ""),
      (a) => run(recordCommand({ snapshot: a.snapshot, input: a.input, seconds: a.seconds, verbose: a.verbose, quiet: a.quiet })),
    )
    .command(
      "keygen",
      "Make an Ed25519 key pair for signing bundles",
      (y) => y.option("out", { alias: "o", type: "string", demandOption: true, describe: "private key file (the public key goes to <file>.pub)" }).example("$0 keygen -o publisher.key", ""),
      (a) => run(keygenCommand({ out: a.out })),
    )
    .command(
      "fingerprint",
      "Print this machine's fingerprint (for a policy's \"machines\" list)",
      (y) => y,
      () => run(fingerprintCommand()),
    )
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

export function cli(): void {
  exitQuietlyOnClosedOutput();
  failIfUnfinished();
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => process.exit(fail(e)),
  );
}

if (require.main === module) cli();
