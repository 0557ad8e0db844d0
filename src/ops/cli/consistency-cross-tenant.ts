import { runCrossTenantChecks } from '../checks/cross-tenant';
import { openTarget, parseFlags, runCli } from './cli-support';
import { reportGate, summarise } from './gate-report';

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
    const summary = summarise('cross_tenant', checks, strict, { check_set: 'cross_tenant', database: database.target });
    return await reportGate(summary, { json: flags.json, out: typeof flags.values.out === 'string' ? flags.values.out : undefined, title: 'cross-tenant consistency', record: { database, command: 'job:consistency-check:cross-tenant' } });
  } finally {
    await release();
  }
});
