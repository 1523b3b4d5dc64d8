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

/**
 * What happens when whoever reads our output goes away (`vmsfx inspect app | head`, a closed
 * terminal): by default end quietly; a running guest replaces this to suspend and save first.
 */
export const outputClosed = { handle: (): void => process.exit(0) };

export function exitQuietlyOnClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE" || e.code === "EIO") return outputClosed.handle();
      throw e;
    });
  }
}

/**
 * Node exits 0 once nothing is left to wait for, even when the command never finished (a promise
 * that never settles, as when a stream stalls): that must never look like success. Commands end
 * with process.exit, so this fires only for such a bug.
 */
export function failIfUnfinished(): void {
  process.once("beforeExit", () => {
    process.stderr.write("vmsfx: internal error: the command stopped before it finished. This is a bug in vmsfx; please report it.\n");
    process.exit(1);
  });
}
