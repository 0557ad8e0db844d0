import { CONSISTENCY_CHECK_SETS, type ConsistencyCheckSet, healthThresholds, runHealthChecks } from '../checks/health';
import { loadConfig } from '../../platform/config/config';
import { type CliSpec, openTarget, parseCli, runCli, UsageError } from './cli-support';
import { reportGate, summarise } from './gate-report';

/**
 * `npm run -s job:health-gate -- [--strict-warnings] [--consistency-check-set scope|cross_tenant|all|none] [thresholds...]
 *   [--json] [--out DIR] [--database-url URL]`
 * Read-only health checks of a deployment against its database (projectors alive and caught up,
 * dead letters, outbox backlog, telemetry, embeddings, open write transactions), then the chosen
 * consistency check set (default scope). Thresholds default as documented in
 * docs/consistency-and-health.md; the projector ones come from the environment's configuration.
 * Exit 0 when every error-level check passes (and, with --strict-warnings, every warning too),
 * 2 otherwise, 1 on usage or runtime errors.
 */
const SPEC: CliSpec = {
  name: 'job:health-gate',
  description: 'Read-only health checks of a deployment against its database, then the chosen consistency check set. Exit 2 when an error-level check fails (or a warning, with --strict-warnings).',
  database: true,
  options: [
    ['--strict-warnings', 'a failed warning-level check fails the gate too'],
    ['--consistency-check-set <set>', 'scope, cross_tenant, all or none (default scope)'],
    ['--max-lag-ms <n>', 'projection lag ceiling'],
    ['--heartbeat-stale-ms <n>', 'projector heartbeat age ceiling'],
    ['--max-dead-letters <n>', 'projection dead letters ceiling'],
    ['--max-outbox-dead-letters <n>', 'outbox dead letters ceiling'],
    ['--max-outbox-backlog <n>', 'outbox backlog ceiling'],
    ['--max-outbox-age-ms <n>', 'oldest pending outbox job ceiling'],
    ['--min-embedding-ready-ratio <r>', 'floor of ready embeddings, 0..1'],
    ['--max-open-tx-ms <n>', 'longest open write transaction ceiling'],
    ['--telemetry-max-age-ms <n>', 'telemetry freshness ceiling'],
    ['--max-attempts <n>', 'outbox attempts before a dead letter (default OUTBOX_MAX_ATTEMPTS)'],
    ['--claim-timeout-ms <n>', 'outbox claim timeout (default OUTBOX_CLAIM_TIMEOUT_MS)'],
    ['--out <dir>', 'write DIR/summary.json'],
  ],
  details: 'Threshold defaults: docs/consistency-and-health.md.',
};

function wholeNumber(value: string | boolean | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`--${flag} must be a whole number >= ${min}`);
  return Number(value);
}

function ratio(value: string | boolean | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && /^(\d+\.?\d*|\.\d+)$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--${flag} must be a number between 0 and 1`);
  return n;
}

void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  const set = (v['consistency-check-set'] ?? 'scope') as ConsistencyCheckSet;
  if (!CONSISTENCY_CHECK_SETS.includes(set)) throw new UsageError(`--consistency-check-set must be one of ${CONSISTENCY_CHECK_SETS.join(', ')}`);
  const given = {
    maxLagMs: wholeNumber(v['max-lag-ms'], 'max-lag-ms', 1),
    heartbeatStaleMs: wholeNumber(v['heartbeat-stale-ms'], 'heartbeat-stale-ms', 1),
    maxDeadLetters: wholeNumber(v['max-dead-letters'], 'max-dead-letters', 0),
    maxOutboxDeadLetters: wholeNumber(v['max-outbox-dead-letters'], 'max-outbox-dead-letters', 0),
    maxOutboxBacklog: wholeNumber(v['max-outbox-backlog'], 'max-outbox-backlog', 0),
    maxOutboxAgeMs: wholeNumber(v['max-outbox-age-ms'], 'max-outbox-age-ms', 1),
    minEmbeddingReadyRatio: ratio(v['min-embedding-ready-ratio'], 'min-embedding-ready-ratio'),
    maxOpenTxMs: wholeNumber(v['max-open-tx-ms'], 'max-open-tx-ms', 1),
    telemetryMaxAgeMs: wholeNumber(v['telemetry-max-age-ms'], 'telemetry-max-age-ms', 1),
  };
  const config = loadConfig(process.env);
  const thresholds = healthThresholds(config, Object.fromEntries(Object.entries(given).filter(([, x]) => x !== undefined)));
  const maxAttempts = wholeNumber(v['max-attempts'], 'max-attempts', 1) ?? config.outbox.maxAttempts;
  const claimTimeoutMs = wholeNumber(v['claim-timeout-ms'], 'claim-timeout-ms', 1) ?? config.outbox.claimTimeoutMs;
  const strict = v['strict-warnings'] === true;
  const { database, release } = await openTarget(flags);
  try {
    const checks = await runHealthChecks(database, { thresholds, consistencySet: set, maxAttempts, claimTimeoutMs });
    const summary = summarise('health', checks, strict, {
      consistency_check_set: set,
      database: database.target,
      thresholds,
      options: { max_attempts: maxAttempts, claim_timeout_ms: claimTimeoutMs },
    });
    return await reportGate(summary, { json: flags.json, out: typeof v.out === 'string' ? v.out : undefined, title: 'health gate', record: { database, command: 'job:health-gate' } });
  } finally {
    await release();
  }
});
