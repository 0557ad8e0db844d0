import { mkdir, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { generateComplianceReport, archiveComplianceReport } from '../../governance/compliance/report';
import { loadComplianceMapping } from '../../governance/compliance/mapping';
import { describeSource } from '../../governance/compliance/oscal';
import { currentQuarter, parsePeriod, type Period, periodBetween } from '../../governance/compliance/period';
import { evidenceStoreFrom } from '../../governance/evidence/evidence-store.factory';
import { buildInfo } from '../../platform/build-info';
import { loadConfig } from '../../platform/config/config';
import { existingSealKey } from '../../platform/config/secrets';
import { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { type CliSpec, EXIT, openTarget, parseCli, runCli, UsageError } from './cli-support';

/**
 * `npm run -s compliance:report -- [--period 2026-Q4 | --from ISO --to ISO] [--position TX:GP] [--strict-warnings]
 *   [--no-archive] [--out DIR] [--json] [--database-url URL]`
 * Evaluates the compliance control mapping (docs/compliance.md) as of the period's end (or now,
 * while it runs) and archives controls.json, assessment-results.json (OSCAL), COMPLIANCE_REPORT.md
 * and mapping.json as a signed `compliance` bundle. Refuses (exit 2, nothing written) on a system
 * without tenants. Exit 0 when no control is failing (and, with --strict-warnings, none is stale
 * or without evidence), 2 otherwise, 1 on usage or runtime errors.
 */
const SPEC: CliSpec = {
  name: 'compliance:report',
  description: 'Evaluate the compliance control mapping for a period and archive it as a signed compliance bundle.',
  database: true,
  options: [
    ['--period <period>', 'a quarter, month, ISO week or year: 2026-Q4, 2026-11, 2026-W48, 2026 (default: the current quarter)'],
    ['--from <iso>', 'start of a custom period (with --to)'],
    ['--to <iso>', 'end of a custom period (with --from)'],
    ['--position <tx:gp>', 'evaluate as of this log position'],
    ['--strict-warnings', 'stale controls and controls without evidence fail too'],
    ['--no-archive', 'do not archive the report as a bundle'],
    ['--out <dir>', 'also write the report files to DIR'],
  ],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  const now = new Date();
  let period: Period;
  try {
    if (typeof v.period === 'string') {
      if (v.from !== undefined || v.to !== undefined) throw new Error('give --period or --from/--to, not both');
      period = parsePeriod(v.period);
    } else if (v.from !== undefined || v.to !== undefined) {
      if (typeof v.from !== 'string' || typeof v.to !== 'string') throw new Error('--from and --to go together');
      period = periodBetween(v.from, v.to);
    } else period = currentQuarter(now);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (Date.parse(period.start) > now.getTime()) throw new UsageError(`period ${period.label} has not started yet`);
  const position = typeof v.position === 'string' ? v.position : undefined;
  if (position !== undefined && !/^\d{1,20}:\d{1,16}$/.test(position)) throw new UsageError('--position must look like <transaction id>:<global position>');
  const strict = v['strict-warnings'] === true;
  const out = typeof v.out === 'string' ? v.out : undefined;
  const mapping = loadComplianceMapping();
  const config = loadConfig({ ...process.env, ...(flags.databaseUrl ? { DATABASE_URL: flags.databaseUrl } : {}) });
  const archiving = v['no-archive'] !== true;
  const key = archiving ? existingSealKey(config) : undefined;
  const archive = evidenceStoreFrom(config);
  const version = buildInfo().version;
  const { database, release } = await openTarget(flags);
  try {
    const result = await generateComplianceReport({ database, archive, version }, mapping, { period, now, ...(position ? { position } : {}) });
    const r = result.report;
    const failing = r.controls.filter((c) => c.status === 'failing').map((c) => c.id);
    const warnings = r.controls.filter((c) => c.status === 'stale' || c.status === 'no_evidence').map((c) => c.id);
    const base = { period, as_of: r.as_of, log_position: r.log_position, mapping_version: r.mapping_version, tenants: r.system.tenants, strict_warnings: strict };
    if (r.system.tenants === 0) {
      // The original reported "all clear" on an empty database: here an empty system is a failure, and nothing is archived.
      const refusal = { ok: false, refused: 'empty_system', detail: `no tenant exists as of ${r.as_of} at log position ${r.log_position}: a compliance report on an empty system proves nothing`, ...base };
      if (flags.json) process.stdout.write(`${JSON.stringify(refusal, null, 2)}\n`);
      else process.stdout.write(`compliance report ${period.label}: REFUSED (${refusal.detail})\n`);
      return EXIT.gateFailed;
    }
    if (out) {
      await mkdir(out, { recursive: true });
      for (const f of result.files) await writeFile(join(out, f.path), f.content);
    }
    const actor = { type: 'operator' as const, id: `cli:${userInfo().username}`, display: 'compliance:report' };
    const bundle = archiving && key ? await archiveComplianceReport({ database, eventStore: new PostgresEventStore(database), archive, key, version }, result, actor) : null;
    const ok = failing.length === 0 && (!strict || warnings.length === 0);
    const summary = { ok, ...base, status: result.status, summary: r.summary, failing, warnings, bundle_id: bundle?.id ?? null, archive: bundle ? archive.location : null, out: out ?? null };
    if (flags.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else {
      for (const c of r.controls) {
        const mark = c.status === 'satisfied' ? 'ok' : c.status === 'failing' || strict ? 'FAIL' : 'warn';
        const first = c.evidence.find((e) => e.status === c.status);
        const why = first ? (first.latest ? first.latest.detail : `nothing recorded: ${describeSource(first.source)}`) : '';
        process.stdout.write(`${mark.padEnd(4)}  ${c.id}  ${c.status.padEnd(11)}  ${c.title}${c.status === 'satisfied' ? '' : ` (${why})`}\n`);
      }
      const counts = `${r.summary.satisfied} satisfied, ${r.summary.stale} stale, ${r.summary.failing} failing, ${r.summary.no_evidence} without evidence`;
      process.stdout.write(`compliance report ${period.label} as of ${r.as_of}: ${ok ? 'ok' : 'FAILED'} (${counts})${bundle ? `; bundle ${bundle.id.slice(0, 16)}` : ' (not archived)'}\n`);
    }
    return ok ? EXIT.ok : EXIT.gateFailed;
  } finally {
    await release();
  }
});
