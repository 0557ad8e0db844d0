import { mkdir, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { TENANT_ID_PATTERN, TENANT_ID_RULE } from '../../control-plane/shared/ids';
import { evidenceStoreFrom } from '../../governance/evidence/evidence-store.factory';
import { isMonthClosed, monthClosesAt, type TenantCloseOutcome } from '../../governance/slo-statements/month-close';
import { closeMonth } from '../../governance/slo-statements/month-close.job';
import { SloCloseEventsRepository } from '../../governance/slo-statements/slo-close-events.repository';
import { computeStatement, issueStatement } from '../../governance/slo-statements/slo-statements';
import { monthProblem, renderSloStatementMarkdown, type SloStatement, statementBytes } from '../../governance/slo-statements/statement';
import { buildInfo } from '../../platform/build-info';
import { loadConfig } from '../../platform/config/config';
import { existingSealKey } from '../../platform/config/secrets';
import { AppError } from '../../platform/errors/app-error';
import { systemCommandContext } from '../../platform/event-store/command-context';
import { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { type CliSpec, EXIT, openTarget, parseCli, runCli, UsageError } from './cli-support';

/**
 * `npm run -s slo:statement -- --tenant T --month YYYY-MM [--no-archive] [--out DIR] [--json] [--database-url URL]`
 * `npm run -s slo:statement -- --all-tenants --month YYYY-MM [--json]`: the month close by hand
 * (what the scheduler does): every tenant that existed during a closed month, a line per tenant;
 * exit 0 every statement issued (or already), 2 some tenant's could not be, 1 usage or runtime errors.
 * The tenant's contractual SLO statement for a calendar month (docs/slo.md), issued: archived as a
 * signed `slo-statement` evidence bundle with an SloStatementIssued event (unless the latest issue
 * of the month holds the same statement). Exit 0 computed (met or not), 2 the month cannot be
 * computed (beyond the telemetry retention; nothing archived), 1 usage errors, an unknown tenant,
 * a month not started, or runtime errors.
 */
const SPEC: CliSpec = {
  name: 'slo:statement',
  description: "Issue a tenant's SLO statement for a calendar month (UTC) as a signed slo-statement evidence bundle (docs/slo.md).",
  database: true,
  options: [
    ['--tenant <tenant_id>', 'the tenant (required unless --all-tenants)'],
    ['--all-tenants', 'close a month by hand: issue the statement of every tenant that existed during it (the month must be closed)'],
    ['--month <YYYY-MM>', 'the calendar month, UTC (required); the current month gives a provisional statement'],
    ['--no-archive', 'compute and print only: no bundle, no event, no signing key needed'],
    ['--out <dir>', 'also write statement.json and SLO_STATEMENT.md to DIR'],
  ],
  details: "Exit 2 when the month is beyond the tenant's telemetry retention (the statement cannot be computed; nothing is archived), or with --all-tenants when any tenant's statement could not be issued (the others are).",
};

const summaryLine = (s: SloStatement): string => {
  if (!s.computable) return `cannot be computed: ${s.detail}`;
  const r = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(4)}%`);
  const met = (m: boolean | null) => (m === null ? 'no traffic' : m ? 'met' : 'MISSED');
  return `availability ${r(s.availability.ratio)} (target ${r(s.availability.target)}, ${met(s.availability.met)}), latency <= ${s.latency.threshold_ms} ms ${r(s.latency.ratio)} (target ${r(s.latency.target)}, ${met(s.latency.met)}), ${s.incidents.count} incident(s)`;
};

const outcomeLine = (month: string, o: TenantCloseOutcome): string =>
  o.outcome === 'failed' ? `${o.tenant_id} ${month}: NOT ISSUED (${o.error})` : `${o.tenant_id} ${month}: ${o.outcome === 'issued' ? 'issued as' : 'already issued as'} bundle ${o.bundle_id}`;

/** --all-tenants: the month close by hand. */
async function closeAll(flags: ReturnType<typeof parseCli>, month: string): Promise<number> {
  const config = loadConfig({ ...process.env, ...(flags.databaseUrl ? { DATABASE_URL: flags.databaseUrl } : {}) });
  const key = existingSealKey(config);
  const archive = evidenceStoreFrom(config);
  const { database, release } = await openTarget(flags);
  try {
    const now = await new SloCloseEventsRepository(database).now();
    if (!isMonthClosed(month, now.getTime())) throw new UsageError(`--month ${month} is not closed yet (its statement is final ${new Date(monthClosesAt(month)).toISOString()}); --all-tenants closes a month that ended`);
    const actor = { type: 'operator' as const, id: `cli:${userInfo().username}`, display: 'slo:statement' };
    const deps = { database, eventStore: new PostgresEventStore(database), archive, key, version: buildInfo().version };
    const summary = await closeMonth(deps, month, systemCommandContext({ actor }), 'slo:statement', (o) => {
      if (!flags.json) process.stdout.write(`${outcomeLine(month, o)}\n`);
    });
    const ok = summary.failed.length === 0;
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok, ...summary }, null, 2)}\n`);
    else process.stdout.write(`SLO statements ${month}: ${summary.tenants} tenant(s), ${summary.issued} issued, ${summary.already_issued} already issued, ${summary.failed.length} not issued${ok ? '' : ` (${summary.failed.map((f) => f.tenant_id).join(', ')})`}\n`);
    return ok ? EXIT.ok : EXIT.gateFailed;
  } finally {
    await release();
  }
}

void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  const tenant = v.tenant;
  const month = v.month;
  if (typeof month !== 'string') throw new UsageError('--month is required (YYYY-MM)');
  const problem = monthProblem(month);
  if (problem) throw new UsageError(`--month ${problem}`);
  if (v['all-tenants'] === true) {
    if (tenant !== undefined || v['no-archive'] === false || v.out !== undefined) throw new UsageError('--all-tenants takes no --tenant, --no-archive or --out');
    return closeAll(flags, month);
  }
  if (typeof tenant !== 'string' || !TENANT_ID_PATTERN.test(tenant)) throw new UsageError(`--tenant is required and must be ${TENANT_ID_RULE}`);
  const archiving = v['no-archive'] !== true;
  const out = typeof v.out === 'string' ? v.out : undefined;
  const config = loadConfig({ ...process.env, ...(flags.databaseUrl ? { DATABASE_URL: flags.databaseUrl } : {}) });
  const key = archiving ? existingSealKey(config) : undefined;
  const archive = evidenceStoreFrom(config);
  const { database, release } = await openTarget(flags);
  try {
    let computed;
    try {
      computed = await computeStatement(database, tenant, month, '--month');
    } catch (err) {
      // An unknown tenant or a month not started yet: the operator's mistake.
      if (err instanceof AppError && (err.code === 'tenant_not_found' || err.code === 'validation_failed')) throw new UsageError(err.message);
      throw err;
    }
    if (!computed.statement.computable) {
      const detail = computed.statement.detail;
      if (flags.json) process.stdout.write(`${JSON.stringify({ ok: false, refused: 'not_computable', tenant_id: tenant, month, detail, statement: computed.statement }, null, 2)}\n`);
      else process.stdout.write(`SLO statement ${tenant} ${month}: CANNOT BE COMPUTED (${detail}); nothing archived\n`);
      return EXIT.gateFailed;
    }
    const actor = { type: 'operator' as const, id: `cli:${userInfo().username}`, display: 'slo:statement' };
    const result = key ? await issueStatement({ database, eventStore: new PostgresEventStore(database), archive, key, version: buildInfo().version }, tenant, month, systemCommandContext({ actor }), 'slo:statement', '--month') : null;
    const s = result?.statement ?? computed.statement;
    if (out) {
      await mkdir(out, { recursive: true });
      await writeFile(join(out, 'statement.json'), statementBytes(s));
      await writeFile(join(out, 'SLO_STATEMENT.md'), renderSloStatementMarkdown(s));
    }
    const issue = result?.issue ?? null;
    if (flags.json) {
      const summary = { ok: true, tenant_id: tenant, month, provisional: s.period.provisional, issued: result?.issued ?? false, bundle_id: issue?.bundle_id ?? null, statement_sha256: issue?.statement_sha256 ?? computed.sha256, location: result?.location ?? null, statement: s };
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    } else {
      const where = issue ? (result?.issued ? `; archived as bundle ${issue.bundle_id}` : `; already issued as bundle ${issue.bundle_id} (same statement)`) : ' (not archived)';
      process.stdout.write(`SLO statement ${tenant} ${month}${s.period.provisional ? ' (provisional)' : ''}: ${summaryLine(s)}${where}\n`);
    }
    return EXIT.ok;
  } finally {
    await release();
  }
});
