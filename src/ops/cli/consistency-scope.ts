import { runScopeChecks } from '../checks/scope';
import { loadConfig } from '../../platform/config/config';
import { type CliSpec, openTarget, parseCli, runCli, UsageError } from './cli-support';
import { reportGate, summarise } from './gate-report';

/**
 * `npm run -s job:consistency-check:scope -- [--tenant ID] [--scope S] [--max-attempts N] [--claim-timeout-ms N]
 *   [--strict-warnings] [--json] [--out DIR] [--database-url URL]`
 * Runs the named scope-level invariants of the memory data plane (commit chains and hashes, the
 * rows each commit wrote, embeddings, outbox jobs), read-only. --max-attempts and
 * --claim-timeout-ms default to OUTBOX_MAX_ATTEMPTS and OUTBOX_CLAIM_TIMEOUT_MS of the environment.
 * Exit 0 when every error-level check passes (and, with --strict-warnings, every warning too),
 * 2 otherwise, 1 on usage or runtime errors.
 */
const SPEC: CliSpec = {
  name: 'job:consistency-check:scope',
  description: 'Run the named scope-level invariants of the memory data plane, read-only. Exit 2 when an error-level check fails (or a warning, with --strict-warnings).',
  database: true,
  options: [
    ['--tenant <id>', 'only this tenant'],
    ['--scope <s>', 'only this scope'],
    ['--max-attempts <n>', 'outbox attempts before a dead letter (default OUTBOX_MAX_ATTEMPTS)'],
    ['--claim-timeout-ms <n>', 'outbox claim timeout (default OUTBOX_CLAIM_TIMEOUT_MS)'],
    ['--strict-warnings', 'a failed warning-level check fails the gate too'],
    ['--out <dir>', 'write DIR/summary.json'],
  ],
};

function positiveInt(value: string | boolean | undefined, flag: string, dflt: number): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--${flag} must be a positive whole number`);
  return Number(value);
}

void runCli(async () => {
  const flags = parseCli(SPEC);
  const config = loadConfig(process.env);
  const strict = flags.values['strict-warnings'] === true;
  const tenantId = typeof flags.values.tenant === 'string' ? flags.values.tenant : undefined;
  const scope = typeof flags.values.scope === 'string' ? flags.values.scope : undefined;
  const maxAttempts = positiveInt(flags.values['max-attempts'], 'max-attempts', config.outbox.maxAttempts);
  const claimTimeoutMs = positiveInt(flags.values['claim-timeout-ms'], 'claim-timeout-ms', config.outbox.claimTimeoutMs);
  const { database, release } = await openTarget(flags);
  try {
    const checks = await runScopeChecks(database, { tenantId, scope, maxAttempts, claimTimeoutMs });
    const summary = summarise('scope', checks, strict, {
      check_set: 'scope',
      database: database.target,
      filter: { tenant_id: tenantId ?? null, scope: scope ?? null },
      options: { max_attempts: maxAttempts, claim_timeout_ms: claimTimeoutMs },
    });
    return await reportGate(summary, { json: flags.json, out: typeof flags.values.out === 'string' ? flags.values.out : undefined, title: 'scope consistency', record: { database, command: 'job:consistency-check:scope' } });
  } finally {
    await release();
  }
});
