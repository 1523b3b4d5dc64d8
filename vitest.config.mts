import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The end-to-end tests boot a real guest (about 15-25 s on 2 cores); unit tests are fast.
    testTimeout: 180_000,
    hookTimeout: 300_000,
    globalSetup: ["test/global-setup.ts"],
  },
});
