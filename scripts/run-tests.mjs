#!/usr/bin/env node
// The one test command (README: `npm test`). Runs every tier with jest. PGlite needs
// --experimental-vm-modules under jest. TEST_DATABASE_URL set = real PostgreSQL, else PGlite.
// At the end it names the tests that were skipped and why (test/support/skips.ts records them in
// the run directory); the run's temp folder is checked and removed by the global teardown
// (test/support/global-run.ts), then the run directory here.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const jest = fileURLToPath(new URL('../node_modules/jest/bin/jest.js', import.meta.url));
const target = process.env.TEST_DATABASE_URL ? `PostgreSQL (${process.env.TEST_DATABASE_URL.replace(/:[^:@/]*@/, ':***@')})` : 'embedded PGlite';
console.log(`[aionis] test database: ${target}`);
const given = process.argv.slice(2);
// In CI (--ci) a test that leaks a server after a failed hook must not hang the run until the
// job's hard limit: force the exit once the results are in (jest still names the cause).
const ciGuard = given.includes('--ci') && !given.includes('--forceExit') ? ['--forceExit'] : [];
const args = ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', jest, ...given, ...ciGuard];
const runDir = mkdtempSync(join(tmpdir(), 'aionis-test-run-'));
const child = spawn(process.execPath, args, { stdio: 'inherit', env: { ...process.env, SCARF_ANALYTICS: 'false', AIONIS_TEST_RUN_DIR: runDir } });
// Interrupted (Ctrl-C, a CI timeout): stop jest, and still leave nothing in the temp folder.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    child.kill(signal);
    rmSync(runDir, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}
child.on('exit', (code, signal) => {
  try {
    printSkipped(runDir);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
  process.exit(code ?? (signal ? 1 : 0));
});

/** The skipped tests of the run, grouped by reason, then by file. */
function printSkipped(dir) {
  if (!existsSync(dir)) return;
  const records = readdirSync(dir)
    .filter((f) => f.startsWith('skipped-') && f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  if (records.length === 0) {
    console.log('[aionis] skipped: none');
    return;
  }
  const root = fileURLToPath(new URL('..', import.meta.url));
  const byReason = new Map();
  for (const r of records) {
    const files = byReason.get(r.reason) ?? new Map();
    const file = r.file.startsWith(root) ? r.file.slice(root.length) : r.file;
    files.set(file, [...(files.get(file) ?? []), r.test]);
    byReason.set(r.reason, files);
  }
  console.log(`\n[aionis] skipped ${records.length} test(s):`);
  for (const [reason, files] of byReason) {
    console.log(`  ${reason}:`);
    for (const [file, tests] of [...files].sort(([a], [b]) => a.localeCompare(b))) console.log(`    ${file} (${tests.length}): ${tests.join('; ')}`);
  }
}
