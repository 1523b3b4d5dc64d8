import { EXIT, isVmsfxError } from "../errors";

/**
 * Where every failure ends: a VmsfxError prints one line and yields its documented exit code;
 * anything else is a bug and says so, with the stack only under VMSFX_DEBUG.
 */
export function fail(e: unknown): number {
  if (isVmsfxError(e)) {
    process.stderr.write(`vmsfx: ${e.message} [${e.code}]\n`);
    return e.exitCode;
  }
  process.stderr.write(`vmsfx: internal error: ${e instanceof Error ? e.message : String(e)}. This is a bug; please report it (set VMSFX_DEBUG=1 for details).\n`);
  if (process.env.VMSFX_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  return EXIT.internal;
}

/** `vmsfx inspect app.vmsfx | head` must end quietly when the reader goes away. */
export function exitQuietlyOnClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(0);
      throw e;
    });
  }
}
