import { defineConfig } from "vitest/config";

/**
 * `npm run fuzz`: the fuzz and hostile-corpus tests alone, with a long budget (VMSFX_FUZZ=long).
 * The global setup builds dist/ and the sample bundle (cached) that hostile-resume.test.ts rewrites.
 */
export default defineConfig({
  test: {
    include: ["test/fuzz/**/*.test.ts"],
    testTimeout: 3_600_000,
    hookTimeout: 300_000,
    globalSetup: ["test/global-setup.ts"],
    env: { VMSFX_FUZZ: process.env.VMSFX_FUZZ ?? "long" },
  },
});
