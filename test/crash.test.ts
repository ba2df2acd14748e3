// Crash safety in CI: 5 SIGKILL rounds during concurrent token creation,
// refresh-token rotation and key rotation (test/crash-harness.ts). The full
// run is `npm run crash -- --rounds 100`.
import { expect, test } from "bun:test";
import { runCrashRounds } from "./crash-harness.ts";

const ROUNDS = Number(process.env.GATEHOUSE_CRASH_ROUNDS ?? 5);
const SEED = Number(process.env.GATEHOUSE_CRASH_SEED ?? 15);

test(`${ROUNDS} SIGKILL rounds (seed ${SEED}): every acknowledged write survives, the database stays sound`, async () => {
  const report = await runCrashRounds({ rounds: ROUNDS, seed: SEED });
  expect(report.failures).toEqual([]);
  expect(report.lost).toBe(0);
  expect(report.rounds).toBe(ROUNDS);
  // The rounds did write: each kind of operation was acknowledged, then checked.
  expect(report.acknowledged.tokens).toBeGreaterThan(ROUNDS * 10);
  expect(report.acknowledged.refreshes).toBeGreaterThan(ROUNDS * 10);
  expect(report.acknowledged.rotations).toBeGreaterThan(ROUNDS);
}, 120_000);
