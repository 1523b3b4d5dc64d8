import { TARGET_NAMES, type TargetName } from "../packaging/node-targets";
import { blockSize, command, zstdLevel } from "./cli-command";
import { captureCommand, exeCommand, packCommand, publishCommand } from "./publish-commands";
import { buildCommand } from "./build-command";
import { recordCommand } from "./record-command";

/** The publisher's commands: make a snapshot (capture, build, record), pack it, publish it. */

export const captureCli = command(
  "capture <recipe>",
  "Boot a guest recipe (vm.json), wait until it is ready, and save a snapshot directory",
  (y) =>
    y
      .positional("recipe", { type: "string", demandOption: true, describe: "guest recipe (vm.json) of a guest you built yourself; see also vmsfx build" })
      .option("out", { alias: "o", type: "string", demandOption: true, describe: "snapshot directory to create (must not exist or be empty)" })
      .option("block-size", { type: "string", default: "256K", describe: "block size for RAM, VGA memory and device state (4K-4M)" })
      .option("disk-block-size", { type: "string", default: "64K", describe: "block size for disks and boot files (4K-4M)" })
      .option("level", { type: "number", default: 19, describe: "zstd level per block (1-19); lower captures faster, resume speed barely changes" })
      .option("verbose", { alias: "v", type: "boolean", default: false, describe: "show the guest console while it boots" })
      .option("json", { type: "boolean", default: false, describe: "print the result as JSON" })
      .option("quiet", { alias: "q", type: "boolean", default: false })
      .example("$0 capture my-guest/vm.json -o snap", ""),
  (a) => captureCommand({ recipe: a.recipe, out: a.out, blockSize: blockSize(a.blockSize), diskBlockSize: blockSize(a["disk-block-size"]), level: zstdLevel(a.level), verbose: a.verbose, json: a.json, quiet: a.quiet }),
);

export const buildCli = command(
  "build <spec>",
  "Build an app from an app spec (app.json): its guest from Debian packages or an OCI image, booted, run once and captured into a snapshot directory",
  (y) =>
    y
      .positional("spec", { type: "string", demandOption: true, describe: "app spec, e.g. samples/sqlite/app.json" })
      .option("out", { alias: "o", type: "string", demandOption: true, describe: "snapshot directory to create (must not exist or be empty)" })
      .option("block-size", { type: "string", default: "256K", describe: "block size for RAM, VGA memory and device state (4K-4M)" })
      .option("disk-block-size", { type: "string", default: "64K", describe: "block size for disks and boot files (4K-4M)" })
      .option("level", { type: "number", default: 19, describe: "zstd level per block (1-19); lower builds faster" })
      .option("verbose", { alias: "v", type: "boolean", default: false, describe: "show the tools' output and the guest console" })
      .option("keep-disks", { type: "string", describe: "also keep the app's disk images and a machine.json for other emulators in this folder" })
      .option("json", { type: "boolean", default: false, describe: "print the result as JSON" })
      .option("quiet", { alias: "q", type: "boolean", default: false })
      .epilog("Needs a Linux x86-64 host that runs i386 programs (a kernel with 32-bit support, or qemu-user-static, which the build registers itself when it runs as root); Debian packages need root and mmdebstrap (sudo apt-get install mmdebstrap arch-test). The executables it makes run anywhere.")
      .example("$0 build app.json -o snap && $0 pack snap --exe -o myapp", ""),
  (a) => buildCommand({ spec: a.spec, out: a.out, blockSize: blockSize(a.blockSize), diskBlockSize: blockSize(a["disk-block-size"]), level: zstdLevel(a.level), verbose: a.verbose, keepDisks: a["keep-disks"], json: a.json, quiet: a.quiet }),
);

export const packCli = command(
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
      .option("remote", { type: "string", describe: "with --thin: URL(s) of published folders or bundles, or oci://REGISTRY/REPO:TAG, comma-separated, tried in order" })
      .option("insecure", { type: "boolean", default: false, describe: "with an oci:// remote: speak plain HTTP to the registry (one on this machine or a lab's)" })
      .option("include", { type: "string", choices: ["none", "memory", "hot"], default: "memory", describe: "with --thin: what the file keeps besides the device state" })
      .option("json", { type: "boolean", default: false })
      .option("quiet", { alias: "q", type: "boolean", default: false })
      .example("$0 pack snap -o app.vmsfx", "")
      .example("$0 pack snap --exe --sign publisher.key --policy samples/policies/trial-30-days.json -o trial", "a signed 30-day trial")
      .example("$0 pack snap --exe -o app", "an executable that resumes the guest when run")
      .example("$0 pack snap --exe --target win-x64 -o app.exe", "one for Windows (official Node, downloaded once and verified)"),
  (a) => packCommand({
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
    insecure: a.insecure,
    include: a.include as "none" | "memory" | "hot",
    json: a.json,
    quiet: a.quiet,
  }),
);

export const exeCli = command(
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
  (a) => exeCommand({ bundle: a.bundle, out: a.out, target: a.target as TargetName | undefined, json: a.json, quiet: a.quiet }),
);

export const publishCli = command(
  "publish <input>",
  "Publish a snapshot or bundle for thin bundles: as a static folder any web server, CDN or bucket can serve, or to an OCI registry",
  (y) =>
    y
      .positional("input", { type: "string", demandOption: true, describe: "snapshot directory or bundle (plain or executable)" })
      .option("out", { alias: "o", type: "string", describe: "folder to write (republishing adds only new blocks)" })
      .option("to", { type: "string", describe: "an OCI registry: oci://REGISTRY/REPO:TAG (credentials: ~/.docker/config.json or VMSFX_REGISTRY_AUTH=user:token)" })
      .option("insecure", { type: "boolean", default: false, describe: "with --to: plain HTTP (a registry on this machine or a lab's)" })
      .option("mount-from", { type: "string", array: true, describe: "with --to: another repository of the same registry whose blobs may be reused without uploading them" })
      .option("json", { type: "boolean", default: false })
      .option("quiet", { alias: "q", type: "boolean", default: false })
      .example("$0 publish app.vmsfx -o /var/www/apps/shell", "")
      .example("$0 publish app.vmsfx --to oci://ghcr.io/me/shell:1.0", "an OCI 1.1 artifact; a new version uploads only the packs that changed"),
  (a) => publishCommand({ input: a.input, out: a.out, to: a.to, insecure: a.insecure, mountFrom: a["mount-from"], json: a.json, quiet: a.quiet }),
);

export const recordCli = command(
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
  (a) => recordCommand({ snapshot: a.snapshot, input: a.input, seconds: a.seconds, verbose: a.verbose, quiet: a.quiet }),
);
