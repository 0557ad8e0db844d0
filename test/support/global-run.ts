import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One directory per test run (AIONIS_TEST_RUN_DIR; scripts/run-tests.mjs makes it, or the first
 * global setup when jest runs directly), holding:
 * - `tmp/`: the temp folder of the run. TMPDIR points there, so everything a test makes under
 *   os.tmpdir() stays in the run; at the end whatever a test left is named (a test that does not
 *   clean up after itself) and removed, so a run leaves nothing in the system temp folder.
 * - `skipped-<pid>.jsonl`: the skipped tests and why (test/support/skips.ts), for the summary.
 * AIONIS_REAL_TMPDIR keeps the system temp folder for caches meant to outlive a run (the PGlite
 * template).
 */
export function setupRun(): void {
  if (process.env.AIONIS_TEST_TMPDIR) return; // another project of this run already did
  const real = tmpdir();
  process.env.AIONIS_REAL_TMPDIR = real;
  if (!process.env.AIONIS_TEST_RUN_DIR) {
    process.env.AIONIS_TEST_RUN_DIR = mkdtempSync(join(real, 'aionis-test-run-'));
    process.env.AIONIS_TEST_RUN_DIR_OWNED = '1';
  }
  const tmp = join(process.env.AIONIS_TEST_RUN_DIR, 'tmp');
  mkdirSync(tmp, { recursive: true });
  process.env.TMPDIR = tmp;
  process.env.AIONIS_TEST_TMPDIR = tmp;
}

/** What tests left in the run's temp folder (named on stderr), removed; the run dir too when this process made it. */
export function teardownRun(): string[] {
  const tmp = process.env.AIONIS_TEST_TMPDIR;
  if (!tmp || !existsSync(tmp)) return [];
  const left = readdirSync(tmp).sort();
  if (left.length > 0) {
    process.stderr.write(`[aionis] tests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in the temp folder (removed now; clean up in afterAll): ${left.join(', ')}\n`);
  }
  rmSync(tmp, { recursive: true, force: true });
  if (process.env.AIONIS_TEST_RUN_DIR_OWNED === '1' && process.env.AIONIS_TEST_RUN_DIR) rmSync(process.env.AIONIS_TEST_RUN_DIR, { recursive: true, force: true });
  return left;
}

export default setupRun;
