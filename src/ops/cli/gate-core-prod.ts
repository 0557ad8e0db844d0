import { randomUUID } from 'node:crypto';
import type { CheckResult } from '../checks/check-result';
import { runLoad } from '../perf/load-run';
import { assertTokenAccepted, fetchRuntime } from '../preflight/checks';
import { gateRunCheck, runChild, runGateCli, scriptCheck, writeGateSummary } from '../preflight/run-gate';
import { repoRoot } from '../preflight/runtime-facts';
import { PgDatabase } from '../../platform/db/pg-database';
import { type CliSpec, deploymentTarget, numberFlag, parseCli, runCli } from './cli-support';
import { reportGate, summarise } from './gate-report';
import { StepProgress } from './progress';

const SPEC: CliSpec = {
  name: 'gate:core:prod',
  description: 'The production core gate: type check and build, a short load run on a perf tenant it creates and tears down, the health gate (scope set) and the cross-tenant check, each --strict-warnings.',
  database: true,
  options: [
    ['--skip-build', 'report typecheck and build as skipped warnings instead of running them'],
    ['--strict-warnings', 'a failed warning-level check fails the gate too'],
    ['--out <dir>', 'write DIR/summary.json and each sub-gate\'s summary'],
    ['--base-url <url>', 'the running server (default AIONIS_BASE_URL)'],
    ['--requests <n>', 'load run requests (default 200)'],
    ['--concurrency <n>', 'load run concurrency (default 4)'],
    ['--max-write-p95-ms <ms>', 'write p95 ceiling (default 800)'],
    ['--max-recall-p95-ms <ms>', 'recall p95 ceiling (default 1200)'],
    ['--max-error-rate <r>', 'load run error rate ceiling (default 0.02)'],
    ['--timeout-ms <ms>', 'per request timeout (default 20000)'],
  ],
  details: 'Needs an operator token (owner or operator) in AIONIS_ADMIN_TOKEN, never on the command line; a token the server refuses is a runtime error (exit 1). Progress on stderr.',
};

function skipped(name: string): CheckResult {
  // Never silent: a warning (so --strict-warnings refuses a release gate that did not build), marked skipped.
  return { name, severity: 'warning', pass: false, count: 0, sample: [{ skipped: true }], detail: 'SKIPPED (--skip-build): this run did not type check or build; the build under test was made elsewhere' };
}

/**
 * `npm run -s gate:core:prod`: the production core gate. Read-only on business data: the load run
 * writes only to the perf tenant it creates, and removes that tenant's data afterwards.
 */
void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  const strict = v['strict-warnings'] === true;
  const out = typeof v.out === 'string' ? v.out : undefined;
  const requests = numberFlag(v, 'requests', 200, 1, 100_000, true);
  const concurrency = numberFlag(v, 'concurrency', 4, 1, 256, true);
  const maxWriteP95Ms = numberFlag(v, 'max-write-p95-ms', 800, 0);
  const maxRecallP95Ms = numberFlag(v, 'max-recall-p95-ms', 1200, 0);
  const maxErrorRate = numberFlag(v, 'max-error-rate', 0.02, 0, 1);
  const timeoutMs = numberFlag(v, 'timeout-ms', 20_000, 1);
  const { databaseUrl, baseUrl, adminToken } = deploymentTarget(flags, 'an owner or operator token (the load run creates and tears down its perf tenant)');

  // Before minutes of building: a token the server refuses is a runtime error (exit 1), not a failed gate.
  assertTokenAccepted(await fetchRuntime(baseUrl, adminToken, timeoutMs));

  const runId = randomUUID();
  const checks: CheckResult[] = [];
  const steps: Record<string, unknown> = {};
  const progress = new StepProgress('gate:core:prod', v['skip-build'] === true ? 3 : 5);

  if (v['skip-build'] === true) {
    checks.push(skipped('typecheck'), skipped('build'));
  } else {
    const root = repoRoot();
    for (const script of ['typecheck', 'build']) {
      progress.step(`npm run -s ${script}`);
      const r = await runChild('npm', ['run', '-s', script], { cwd: root, timeoutMs: 15 * 60_000, label: `npm run -s ${script}` });
      checks.push(scriptCheck(script, r));
      steps[script] = { exit_code: r.exitCode, duration_ms: r.durationMs };
    }
  }

  const database = new PgDatabase({ url: databaseUrl, poolSize: 2, applicationName: 'aionis-gate-core-prod' });
  try {
    progress.step(`load run (${requests} requests, concurrency ${concurrency})`);
    const perf = await runLoad({ baseUrl, adminToken, database, requests, concurrency, timeoutMs, maxWriteP95Ms, maxRecallP95Ms, maxErrorRate, runId });
    checks.push(...perf.checks);
    // The consistency gates run after the load run, so they also cover what it and its teardown did.
    const env = { ...process.env, DATABASE_URL: databaseUrl };
    const gates: [check: string, cli: string, args: string[]][] = [
      ['health_gate', 'health-gate', ['--strict-warnings', '--consistency-check-set', 'scope']],
      ['consistency_cross_tenant', 'consistency-cross-tenant', ['--strict-warnings']],
    ];
    for (const [name, cli, args] of gates) {
      progress.step(cli);
      const r = await runGateCli(cli, args, { env, timeoutMs: 15 * 60_000 });
      checks.push(gateRunCheck(name, cli, r));
      steps[cli] = { exit_code: r.run.exitCode, ok: r.summary?.ok ?? false, failing: r.summary?.failing ?? null, duration_ms: r.run.durationMs };
      await writeGateSummary(out, cli, r);
    }
    progress.finish();
    const summary = summarise('core_prod', checks, strict, {
      run_id: runId,
      target: { database: database.target, base_url: baseUrl },
      skipped: v['skip-build'] === true ? ['typecheck', 'build'] : [],
      steps,
      perf: perf.report,
    });
    return await reportGate(summary, { json: flags.json, out, title: 'gate:core:prod', record: { database, command: 'gate:core:prod' } });
  } finally {
    await database.close();
  }
});
