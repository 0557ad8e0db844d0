import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCrossTenantChecks } from '../checks/cross-tenant';
import { EXIT, openTarget, parseFlags, runCli } from './cli-support';

/**
 * `npm run -s job:consistency-check:cross-tenant -- [--strict-warnings] [--json] [--out DIR] [--database-url URL]`
 * Runs the named cross-tenant invariants, read-only. Exit 0 when every error-level check passes
 * (and, with --strict-warnings, every warning too), 2 otherwise, 1 on usage or runtime errors.
 */
void runCli(async () => {
  const flags = parseFlags(process.argv.slice(2), { 'strict-warnings': 'bool', out: 'string' });
  const strict = flags.values['strict-warnings'] === true;
  const { database, release } = await openTarget(flags);
  try {
    const checks = await runCrossTenantChecks(database);
    const failing = checks.filter((c) => !c.pass && (c.severity === 'error' || strict));
    const summary = {
      ok: failing.length === 0,
      check_set: 'cross_tenant',
      strict_warnings: strict,
      database: database.target,
      errors: checks.filter((c) => !c.pass && c.severity === 'error').length,
      warnings: checks.filter((c) => !c.pass && c.severity === 'warning').length,
      checks,
    };
    if (typeof flags.values.out === 'string') {
      await mkdir(flags.values.out, { recursive: true });
      await writeFile(join(flags.values.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    }
    if (flags.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else {
      for (const c of checks) process.stdout.write(`${c.pass ? 'pass' : c.severity === 'error' ? 'FAIL' : 'warn'}  ${c.name} (${c.count})  ${c.detail}\n`);
      process.stdout.write(summary.ok ? 'cross-tenant consistency: ok\n' : `cross-tenant consistency: FAILED (${failing.map((c) => c.name).join(', ')})\n`);
    }
    return summary.ok ? EXIT.ok : EXIT.gateFailed;
  } finally {
    await release();
  }
});
