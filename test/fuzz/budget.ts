import type { Parameters } from "fast-check";

/**
 * How long each property runs. In `npm test` every property gets a few seconds (all of them
 * together about 30 s); `npm run fuzz` (VMSFX_FUZZ=long) gives each minutes. The time limit,
 * not the run count, ends a property; VMSFX_FUZZ_SECONDS overrides it, VMSFX_FUZZ_SEED replays
 * a failure fast-check reported.
 */
export const LONG = process.env.VMSFX_FUZZ === "long";
const SECONDS = Number(process.env.VMSFX_FUZZ_SECONDS) || (LONG ? 90 : 2.5);

export function budget<T>(share = 1): Parameters<T> {
  const seed = process.env.VMSFX_FUZZ_SEED;
  return {
    numRuns: 10_000_000,
    interruptAfterTimeLimit: SECONDS * 1000 * share,
    // An async run that takes this long is a hang (a correct read of these small inputs is milliseconds).
    timeout: 20_000,
    endOnFailure: false,
    ...(seed ? { seed: Number(seed) } : {}),
  };
}

/** Vitest's own limit for a property test: its budget plus room to shrink a failure. */
export const testTimeout = (share = 1) => SECONDS * 1000 * share + 120_000;
