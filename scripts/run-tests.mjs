#!/usr/bin/env node
// The one test command (README: `npm test`). Runs every tier with jest. PGlite needs
// --experimental-vm-modules under jest. TEST_DATABASE_URL set = real PostgreSQL, else PGlite.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const jest = fileURLToPath(new URL('../node_modules/jest/bin/jest.js', import.meta.url));
const target = process.env.TEST_DATABASE_URL ? `PostgreSQL (${process.env.TEST_DATABASE_URL.replace(/:[^:@/]*@/, ':***@')})` : 'embedded PGlite';
console.log(`[aionis] test database: ${target}`);
const given = process.argv.slice(2);
// In CI (--ci) a test that leaks a server after a failed hook must not hang the run until the
// job's hard limit: force the exit once the results are in (jest still names the cause).
const ciGuard = given.includes('--ci') && !given.includes('--forceExit') ? ['--forceExit'] : [];
const args = ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', jest, ...given, ...ciGuard];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, SCARF_ANALYTICS: 'false' } });
process.exit(r.status ?? 1);
