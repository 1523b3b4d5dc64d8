/**
 * Deadlines in the end-to-end tier only turn a hang into a failure; they are never a speed
 * target (bench/ measures speed). They are sized for the worst machine the suite runs on: two
 * cores with two test files booting guests side by side, where a cold boot that takes 10–30 s on
 * a quiet machine can take minutes. VMSFX_TEST_DEADLINE_SCALE stretches them all (a slower or
 * emulated machine); nothing here may be shortened to make a run faster.
 */
const SCALE = Math.max(1, Number(process.env.VMSFX_TEST_DEADLINE_SCALE) || 1);

export const DEADLINE = {
  /** One run of the CLI or an app: any launch may cold-boot the guest, any pack builds a runtime. */
  launch: 300_000 * SCALE,
  /** Something the guest did showing up in the browser page (a cold boot's BIOS text included). */
  page: 120_000 * SCALE,
} as const;
