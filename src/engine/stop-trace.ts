/**
 * VMSFX_TRACE_STOP=1: one stderr line per stage of stopping, saving and exiting, with the time
 * since the process started. A CI run twice saw a suspend's launcher never exit after the state
 * was written, and it could not be reproduced alone; the trace says where it stays.
 */
export function traceStop(stage: string): void {
  if (process.env.VMSFX_TRACE_STOP) process.stderr.write(`vmsfx-stop ${stage} ${Math.round(performance.now())}\n`);
}
