import { runCrossTenantChecks } from '../checks/cross-tenant';
import { type CliSpec, openTarget, parseCli, runCli } from './cli-support';
import { reportGate, summarise } from './gate-report';

/**
 * `npm run -s job:consistency-check:cross-tenant -- [--strict-warnings] [--json] [--out DIR] [--database-url URL]`
 * Runs the named cross-tenant invariants, read-only. Exit 0 when every error-level check passes
 * (and, with --strict-warnings, every warning too), 2 otherwise, 1 on usage or runtime errors.
 */
const SPEC: CliSpec = {
  name: 'job:consistency-check:cross-tenant',
  description: 'Run the named cross-tenant invariants, read-only. Exit 2 when an error-level check fails (or a warning, with --strict-warnings).',
  database: true,
  options: [
    ['--strict-warnings', 'a failed warning-level check fails the gate too'],
    ['--out <dir>', 'write DIR/summary.json'],
  ],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
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
