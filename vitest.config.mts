import { defineConfig } from "vitest/config";

/**
 * Two tiers. `unit` (npm run test:unit) needs no guest, no build and no system package: the
 * format, policy, remote and launcher modules against synthetic snapshots, fuzzing included.
 * `e2e` (*.e2e.test.ts) boots real guests: its global setup builds dist/, provides the system
 * tools and captures the shell sample once for every file. Its deadlines only catch hangs (see
 * test/helpers/deadlines.ts); speed is measured in bench/.
 */
export default defineConfig({
  test: {
    // Two files at a time on 2 cores: a guest keeps one core busy, and most tests wait on it.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/**/*.e2e.test.ts", "**/node_modules/**"],
          testTimeout: 180_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/**/*.e2e.test.ts"],
          globalSetup: ["test/global-setup.ts"],
          // A test with several cold boots on a loaded 2-core machine; the per-launch deadlines
          // are what catch a hang.
          testTimeout: 1_200_000,
          hookTimeout: 1_200_000,
        },
      },
    ],
  },
});
