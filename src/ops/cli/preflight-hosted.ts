import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { CheckResult } from '../checks/check-result';
import {
  authRequired,
  cliDeploymentId,
  clockSkew,
  databaseMatchesServer,
  databaseReachable,
  deadLetters,
  embeddingProviderReal,
  eventStoreRoundTrip,
  fetchRuntime,
  keyPepperPolicy,
  migrationsCurrent,
  ownersNotBootstrapOnly,
  projectionsCaughtUp,
  rateLimitsEnforced,
  runtimeFacts,
  serverReady,
  assertTokenAccepted,
} from '../preflight/checks';
import { gateRunCheck, runGateCli, writeGateSummary } from '../preflight/run-gate';
import { type CliSpec, deploymentTarget, numberFlag, parseCli, runCli, UsageError } from './cli-support';
import { reportGate, summarise } from './gate-report';
import { StepProgress } from './progress';
import { PgDatabase } from '../../platform/db/pg-database';

const SPEC: CliSpec = {
  name: 'preflight:hosted',
  description: 'Is this deployment fit for hosted traffic? Checks its database and the running server\'s effective configuration (read-only on business data).',
  database: true,
  options: [
    ['--run-gates', 'also run gate:core:prod, the cross-tenant check and the health gate (scope set), each --strict-warnings'],
    ['--skip-build', 'passed to gate:core:prod'],
    ['--strict-warnings', 'a failed warning-level check fails the gate too'],
    ['--out <dir>', 'write DIR/summary.json and each gate\'s summary'],
    ['--base-url <url>', 'the running server (default AIONIS_BASE_URL)'],
    ['--max-clock-skew-ms <ms>', 'default 1000'],
    ['--max-dead-letters <n>', 'default 0'],
    ['--stale-ms <ms>', 'default 30000'],
    ['--max-projection-lag-ms <ms>', 'default 30000'],
    ['--timeout-ms <ms>', 'per request timeout (default 5000)'],
    ['--perf-requests <n>', 'passed to gate:core:prod as --requests'],
  ],
  details: "Targets --database-url (or DATABASE_URL, PostgreSQL: an embedded deployment cannot be checked while it runs) and --base-url,\nwith an operator token (any role) in AIONIS_ADMIN_TOKEN; a token the server refuses is a runtime error (exit 1). Progress on stderr.",
};

/**
 * `npm run -s preflight:hosted`: is this deployment fit for hosted traffic? Checks the deployment
 * itself (its database and the running server's effective configuration), never this shell's
 * environment beyond where to find the deployment. Read-only on business data: it writes only
 * operational events, the event-store probe (one PreflightProbeRecorded event on its own
 * preflight-<uuid> stream) and the record of its run (GateRunRecorded on `gate-runs`).
 */
void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  const strict = v['strict-warnings'] === true;
  const out = typeof v.out === 'string' ? v.out : undefined;
  const maxSkewMs = numberFlag(v, 'max-clock-skew-ms', 1000);
  const maxDeadLetters = numberFlag(v, 'max-dead-letters', 0);
  const staleMs = numberFlag(v, 'stale-ms', 30_000, 1);
  const maxLagMs = numberFlag(v, 'max-projection-lag-ms', 30_000, 0);
  const timeoutMs = numberFlag(v, 'timeout-ms', 5000, 1);
  const perfRequests = v['perf-requests'] === undefined ? undefined : String(numberFlag(v, 'perf-requests', 0, 1));
  const { databaseUrl, baseUrl, adminToken } = deploymentTarget(flags, 'an operator token of the deployment (any role; the runtime facts need one)', "the deployment's PostgreSQL; an embedded deployment cannot be checked while it runs");
  if ((v['skip-build'] === true || perfRequests !== undefined) && v['run-gates'] !== true) throw new UsageError('--skip-build and --perf-requests only apply with --run-gates');

  const runId = randomUUID();
  const database = new PgDatabase({ url: databaseUrl, poolSize: 4, applicationName: 'aionis-preflight' });
  const checks: CheckResult[] = [];
  const gates: Record<string, unknown> = {};
  const progress = new StepProgress('preflight:hosted', v['run-gates'] === true ? 5 : 2);
  try {
    progress.step('database checks');
    const reachable = await databaseReachable(database, timeoutMs);
    checks.push(reachable);
    if (reachable.pass) {
      checks.push(await migrationsCurrent(database));
      checks.push(await eventStoreRoundTrip(database, runId, timeoutMs));
      checks.push(await projectionsCaughtUp(database, staleMs, maxLagMs));
      checks.push(...(await deadLetters(database, maxDeadLetters)));
    } else {
      for (const name of ['migrations_current', 'event_store_round_trip', 'projections_caught_up', 'projection_dead_letters', 'outbox_dead_letters']) {
        checks.push({ name, severity: 'error', pass: false, count: 1, sample: [], detail: 'not checked: the database is not reachable' });
      }
    }
    progress.step('server checks');
    checks.push(await serverReady(baseUrl, timeoutMs));
    const runtime = await fetchRuntime(baseUrl, adminToken, timeoutMs);
    assertTokenAccepted(runtime);
    checks.push(runtimeFacts(runtime));
    checks.push(databaseMatchesServer(runtime, reachable.pass ? await cliDeploymentId(database) : null));
    checks.push(await authRequired(baseUrl, timeoutMs));
    checks.push(keyPepperPolicy(runtime));
    checks.push(ownersNotBootstrapOnly(runtime));
    checks.push(rateLimitsEnforced(runtime));
    checks.push(embeddingProviderReal(runtime));
    checks.push(reachable.pass ? await clockSkew(database, baseUrl, adminToken, maxSkewMs, timeoutMs) : { name: 'clock_skew', severity: 'error', pass: false, count: 1, sample: [], detail: 'not checked: the database is not reachable' });

    if (v['run-gates'] === true) {
      // The gates read DATABASE_URL from their environment (not argv: a password never shows in `ps`).
      const env = { ...process.env, DATABASE_URL: databaseUrl, AIONIS_BASE_URL: baseUrl, AIONIS_ADMIN_TOKEN: adminToken };
      const runs: [check: string, cli: string, args: string[]][] = [
        ['gate_core_prod', 'gate-core-prod', [...(v['skip-build'] === true ? ['--skip-build'] : []), ...(perfRequests ? ['--requests', perfRequests] : []), ...(out ? ['--out', join(out, 'gate-core-prod')] : [])]],
        ['gate_consistency_cross_tenant', 'consistency-cross-tenant', ['--strict-warnings']],
        ['gate_health_scope', 'health-gate', ['--strict-warnings', '--consistency-check-set', 'scope']],
      ];
      for (const [name, cli, args] of runs) {
        progress.step(cli);
        const r = await runGateCli(cli, args, { env, timeoutMs: 30 * 60_000 });
        checks.push(gateRunCheck(name, cli, r));
        gates[cli] = { exit_code: r.run.exitCode, ok: r.summary?.ok ?? false, failing: r.summary?.failing ?? null, duration_ms: r.run.durationMs, summary_file: out ? join(out, cli, 'summary.json') : null };
        await writeGateSummary(out, cli, r);
      }
    }

    progress.finish();
    const summary = summarise('preflight', checks, strict, {
      run_id: runId,
      target: { database: database.target, base_url: baseUrl },
      mode: { run_gates: v['run-gates'] === true, skip_build: v['skip-build'] === true, strict_warnings: strict },
      thresholds: { max_clock_skew_ms: maxSkewMs, max_dead_letters: maxDeadLetters, stale_ms: staleMs, max_projection_lag_ms: maxLagMs },
      runtime: runtime.facts,
      ...(v['run-gates'] === true ? { gates } : {}),
    });
    // Recorded in the log (stream gate-runs) for the weekly governance report, when the database answers.
    return await reportGate(summary, { json: flags.json, out, title: 'preflight:hosted', record: reachable.pass ? { database, command: 'preflight:hosted' } : undefined });
  } finally {
    await database.close();
  }
});
