import { randomUUID } from 'node:crypto';
import type { CheckResult } from '../checks/check-result';
import { runLoad } from '../perf/load-run';
import { gateRunCheck, runChild, runGateCli, scriptCheck, writeGateSummary } from '../preflight/run-gate';
import { repoRoot } from '../preflight/runtime-facts';
import { PgDatabase } from '../../platform/db/pg-database';
import { deploymentTarget, EXIT, numberFlag, parseFlags, runCli } from './cli-support';
import { reportGate, summarise } from './gate-report';

const HELP = `usage: npm run -s gate:core:prod -- [--skip-build] [--strict-warnings] [--json] [--out DIR]
         [--database-url URL] [--base-url URL] [--requests 200] [--concurrency 4]
         [--max-write-p95-ms 800] [--max-recall-p95-ms 1200] [--max-error-rate 0.02] [--timeout-ms 20000]
  Type check and build (npm run -s typecheck / build in the repository; --skip-build reports both as
  skipped warnings), job:health-gate --strict-warnings --consistency-check-set scope,
  job:consistency-check:cross-tenant --strict-warnings, and a short load run on a perf tenant and
  scope it creates and tears down itself. Targets --database-url (or DATABASE_URL) and --base-url
  (or AIONIS_BASE_URL) with an operator token (owner or operator) in AIONIS_ADMIN_TOKEN.
  Exit 0 pass, 2 a failed check, 1 usage or runtime error.`;

function skipped(name: string): CheckResult {
  // Never silent: a warning (so --strict-warnings refuses a release gate that did not build), marked skipped.
  return { name, severity: 'warning', pass: false, count: 0, sample: [{ skipped: true }], detail: 'SKIPPED (--skip-build): this run did not type check or build; the build under test was made elsewhere' };
}

/**
 * `npm run -s gate:core:prod`: the production core gate. Read-only on business data: the load run
 * writes only to the perf tenant it creates, and removes that tenant's data afterwards.
 */
void runCli(async () => {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    process.stdout.write(`${HELP}\n`);
    return EXIT.ok;
  }
  const flags = parseFlags(argv, {
    'skip-build': 'bool',
    'strict-warnings': 'bool',
    out: 'string',
    'base-url': 'string',
    requests: 'string',
    concurrency: 'string',
    'max-write-p95-ms': 'string',
    'max-recall-p95-ms': 'string',
    'max-error-rate': 'string',
    'timeout-ms': 'string',
  });
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

  const runId = randomUUID();
  const checks: CheckResult[] = [];
  const steps: Record<string, unknown> = {};

  if (v['skip-build'] === true) {
    checks.push(skipped('typecheck'), skipped('build'));
  } else {
    const root = repoRoot();
    for (const script of ['typecheck', 'build']) {
      const r = await runChild('npm', ['run', '-s', script], { cwd: root, timeoutMs: 15 * 60_000, label: `npm run -s ${script}` });
      checks.push(scriptCheck(script, r));
      steps[script] = { exit_code: r.exitCode, duration_ms: r.durationMs };
    }
  }

  const database = new PgDatabase({ url: databaseUrl, poolSize: 2, applicationName: 'aionis-gate-core-prod' });
  try {
    const perf = await runLoad({ baseUrl, adminToken, database, requests, concurrency, timeoutMs, maxWriteP95Ms, maxRecallP95Ms, maxErrorRate, runId });
    checks.push(...perf.checks);
    // The consistency gates run after the load run, so they also cover what it and its teardown did.
    const env = { ...process.env, DATABASE_URL: databaseUrl };
    const gates: [check: string, cli: string, args: string[]][] = [
      ['health_gate', 'health-gate', ['--strict-warnings', '--consistency-check-set', 'scope']],
      ['consistency_cross_tenant', 'consistency-cross-tenant', ['--strict-warnings']],
    ];
    for (const [name, cli, args] of gates) {
      const r = await runGateCli(cli, args, { env, timeoutMs: 15 * 60_000 });
      checks.push(gateRunCheck(name, cli, r));
      steps[cli] = { exit_code: r.run.exitCode, ok: r.summary?.ok ?? false, failing: r.summary?.failing ?? null, duration_ms: r.run.durationMs };
      await writeGateSummary(out, cli, r);
    }
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
