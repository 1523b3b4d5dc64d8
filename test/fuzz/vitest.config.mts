import { defineConfig } from "vitest/config";

/**
 * `npm run fuzz`: the fuzz and hostile-corpus tests alone, with a long budget (VMSFX_FUZZ=long),
 * and without the sample guest's global setup (they only need dist/, which the script builds).
 */
export default defineConfig({
  test: {
    include: ["test/fuzz/**/*.test.ts"],
    testTimeout: 3_600_000,
    env: { VMSFX_FUZZ: process.env.VMSFX_FUZZ ?? "long" },
  },
});
