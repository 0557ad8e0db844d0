import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { evidenceStoreFrom } from '../../governance/evidence/evidence-store.factory';
import { parseIsoWeek, previousIsoWeek } from '../../governance/reports/iso-week';
import { generateWeeklyReport, runWeeklyReport } from '../../governance/reports/weekly-report.job';
import { buildInfo } from '../../platform/build-info';
import { loadConfig } from '../../platform/config/config';
import { existingSealKey } from '../../platform/config/secrets';
import { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { type CliSpec, openTarget, parseCli, runCli, UsageError } from './cli-support';
import { reportGate, summarise } from './gate-report';

/**
 * `npm run -s job:governance-weekly-report -- [--week 2026-W48] [--position TX:GP] [--strict-warnings] [--no-archive] [--out DIR] [--json] [--database-url URL]`
 * Builds the governance weekly report of a week (default: the last complete one) from the live
 * system and archives it as a signed bundle (runbooks/governance-report.md). Exit 0 passed, 2 a
 * failed error-level check (or a warning with --strict-warnings), 1 usage or runtime errors.
 */
const SPEC: CliSpec = {
  name: 'job:governance-weekly-report',
  description: 'Build the governance weekly report of a week (default: the last complete one) and archive it as a signed bundle.',
  database: true,
  options: [
    ['--week <week>', 'an ISO week, e.g. 2026-W48'],
    ['--position <tx:gp>', 'report as of this log position'],
    ['--strict-warnings', 'a failed warning-level check fails too'],
    ['--no-archive', 'do not archive the report'],
    ['--out <dir>', 'also write report.json and WEEKLY_REPORT.md to DIR'],
  ],
};

void runCli(async () => {
  const flags = parseCli(SPEC);
  const v = flags.values;
  let week;
  try {
    week = typeof v.week === 'string' ? parseIsoWeek(v.week) : previousIsoWeek(new Date());
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const position = typeof v.position === 'string' ? v.position : undefined;
  if (position !== undefined && !/^\d{1,20}:\d{1,16}$/.test(position)) throw new UsageError('--position must look like <transaction id>:<global position>');
  const config = loadConfig({ ...process.env, ...(flags.databaseUrl ? { DATABASE_URL: flags.databaseUrl } : {}) });
  const archive = v['no-archive'] !== true;
  const key = archive ? existingSealKey(config) : undefined;
  const { database, release } = await openTarget(flags);
  try {
    const actor = { type: 'operator' as const, id: `cli:${userInfo().username}`, display: 'job:governance-weekly-report' };
    const result =
      archive && key
        ? await runWeeklyReport(
            { database, eventStore: new PostgresEventStore(database), archive: evidenceStoreFrom(config), key, version: buildInfo().version },
            { week, rotationPolicyDays: config.governance.keyRotationPolicyDays, actor, trigger: 'cli', ...(position ? { position } : {}) },
          )
        : { ...(await generateWeeklyReport(database, { week, rotationPolicyDays: config.governance.keyRotationPolicyDays, ...(position ? { position } : {}) })), bundle: null };
    const out = typeof v.out === 'string' ? v.out : undefined;
    if (out) {
      await mkdir(out, { recursive: true });
      await writeFile(join(out, 'report.json'), result.json);
      await writeFile(join(out, 'WEEKLY_REPORT.md'), result.markdown);
    }
    const summary = summarise('governance_weekly', result.report.checks, v['strict-warnings'] === true, {
      week: week.label,
      report_id: result.report.report_id,
      log_position: result.report.log_position,
      status: result.report.status,
      bundle_id: result.bundle?.id ?? null,
      archive: result.bundle ? evidenceStoreFrom(config).location : null,
    });
    return await reportGate(summary, { json: flags.json, out, title: `governance weekly report ${week.label}${result.bundle ? ` (bundle ${result.bundle.id.slice(0, 16)})` : ' (not archived)'}` });
  } finally {
    await release();
  }
});
