import { sql, type Kysely, type Transaction } from 'kysely';
import type { SealKey } from '../../platform/config/seal-key';
import { parseSealPublicKey } from '../../platform/config/seal-key';
import type { Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import { type Actor, type Checkpoint, compareCheckpoints, formatCheckpoint, parseCheckpoint, type RecordedEvent } from '../../platform/event-store/event-store';
import { pagesUpTo, type PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { inSealRange, listSeals, RangeAccumulator, type Seal, sealLinkProblems, verifySealSignature } from '../../platform/event-store/seals';
import { verifyChains } from '../../platform/event-store/verify';
import { PolicyRepository } from '../../data-plane/memory/policy.repository';
import { OutboxRepository } from '../../data-plane/outbox/outbox.repository';
import { archiveBundle, logPosition } from '../evidence/evidence-archive';
import type { EvidenceStore } from '../evidence/evidence-store';
import type { StoredBundle } from '../evidence/bundles';
import type { IsoWeek } from './iso-week';
import { buildWeeklyReport, type LagIncident, type PropagationSample, renderWeeklyMarkdown, type WeeklyReport } from './weekly-report';

type Executor = Kysely<DB> | Transaction<DB>;

export interface WeeklyReportFiles {
  readonly report: WeeklyReport;
  readonly json: Buffer;
  readonly markdown: Buffer;
}

/** Verify every seal that ends at or before `position` against the events (signature, links, digests). */
function verifySeals(seals: readonly Seal[], events: readonly RecordedEvent[], position: Checkpoint): { checked: number; failures: string[] } {
  const failures: string[] = [];
  const covered = seals.filter((s) => compareCheckpoints(parseCheckpoint(s.body.to), position) <= 0);
  let prev: Seal['body'] | undefined;
  let i = 0;
  for (const seal of covered) {
    failures.push(...sealLinkProblems(prev, seal.body));
    let ok = false;
    try {
      ok = verifySealSignature(seal.body, seal.signature, parseSealPublicKey(seal.public_key));
    } catch {
      ok = false;
    }
    if (!ok) failures.push(`seal ${seal.body.seal_no}: signature does not verify`);
    const acc = new RangeAccumulator();
    while (i < events.length && !inSealRange(seal.body, events[i]!)) {
      if (compareCheckpoints(events[i]!, parseCheckpoint(seal.body.to)) > 0) break;
      i++;
    }
    while (i < events.length && inSealRange(seal.body, events[i]!)) acc.add(events[i++]!);
    if (acc.count !== seal.body.event_count) failures.push(`seal ${seal.body.seal_no}: ${acc.count} events in the log for its range, ${seal.body.event_count} sealed`);
    else if (acc.count > 0 && acc.finish().range_digest !== seal.body.range_digest) failures.push(`seal ${seal.body.seal_no}: the events of its range are not the sealed ones (range digest differs)`);
    prev = seal.body;
  }
  return { checked: covered.length, failures };
}

/**
 * Gather everything the weekly report needs in one REPEATABLE READ snapshot and build it.
 * `position` defaults to the gap-safe head of the log; give one to reproduce an earlier report.
 */
export async function generateWeeklyReport(database: Database, opts: { week: IsoWeek; rotationPolicyDays: number; position?: string }): Promise<WeeklyReportFiles> {
  const report = await database.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const position = opts.position ?? (await logPosition(trx));
      const upTo = parseCheckpoint(position);
      const events: RecordedEvent[] = [];
      for await (const page of pagesUpTo(trx, { upTo, limit: 5000 })) events.push(...page);
      const chain = verifyChains(events);
      const seals: Seal[] = [];
      for (let afterNo = 0; ; ) {
        const page = await listSeals(trx, { after: afterNo, limit: 500 });
        seals.push(...page);
        const last = page[page.length - 1];
        if (!last || page.length < 500) break;
        afterNo = last.body.seal_no;
      }
      return buildWeeklyReport({
        week: opts.week,
        position: formatCheckpoint(upTo),
        rotationPolicyDays: opts.rotationPolicyDays,
        events,
        chain: { events: chain.events, breaks: chain.breaks.map((b) => ({ stream_id: b.streamId, stream_position: b.streamPosition, reason: b.reason })) },
        seals: seals.length > 0 ? verifySeals(seals, events, upTo) : null,
        outboxDeadLetters: (await new OutboxRepository(database).deadLettersByTenantAndType(opts.week.end, trx)).reduce<{ tenant_id: string; open: number }[]>((acc, d) => {
          const last = acc.at(-1);
          if (last && last.tenant_id === d.tenant_id) last.open += d.n;
          else acc.push({ tenant_id: d.tenant_id, open: d.n });
          return acc;
        }, []),
        policy: await new PolicyRepository(database).weeklyFacts(trx, opts.week.start, opts.week.end),
        propagation: await propagation(trx, opts.week),
        lagIncidents: await lagIncidents(trx, opts.week),
      });
    });
  return {
    report,
    json: Buffer.from(`${JSON.stringify(report, null, 2)}\n`, 'utf8'),
    markdown: Buffer.from(renderWeeklyMarkdown(report), 'utf8'),
  };
}

async function propagation(db: Executor, week: IsoWeek): Promise<PropagationSample[]> {
  const r = await sql<{ event_id: string; key_id: string; change: string; instances: number; max_ms: number }>`
    SELECT event_id::text, key_id, change, count(*)::int AS instances,
           round(max(extract(epoch FROM observed_at - event_recorded_at) * 1000))::int AS max_ms
    FROM key_propagation_samples
    WHERE event_recorded_at >= ${week.start}::timestamptz AND event_recorded_at < ${week.end}::timestamptz
    GROUP BY event_id, key_id, change ORDER BY event_id`.execute(db);
  return r.rows.map((row) => ({ ...row, change: row.change as PropagationSample['change'] }));
}

async function lagIncidents(db: Executor, week: IsoWeek): Promise<LagIncident[]> {
  const r = await sql<{ projection: string; started_at: Date; ended_at: Date | null; peak: number }>`
    SELECT subject AS projection, started_at, ended_at, peak_value AS peak FROM ops_incidents
    WHERE kind = 'projection_lag' AND started_at < ${week.end}::timestamptz AND (ended_at IS NULL OR ended_at >= ${week.start}::timestamptz)
    ORDER BY started_at, subject`.execute(db);
  return r.rows.map((row) => ({ projection: row.projection, started_at: new Date(row.started_at).toISOString(), ended_at: row.ended_at ? new Date(row.ended_at).toISOString() : null, peak_lag_ms: Math.round(row.peak) }));
}

/** Generate, then archive as a signed governance-weekly bundle (report.json + WEEKLY_REPORT.md). */
export async function runWeeklyReport(
  deps: { database: Database; eventStore: PostgresEventStore; archive: EvidenceStore; key: SealKey; version: string },
  opts: { week: IsoWeek; rotationPolicyDays: number; actor: Actor; trigger: 'schedule' | 'cli' | 'api'; position?: string },
): Promise<WeeklyReportFiles & { bundle: StoredBundle }> {
  const files = await generateWeeklyReport(deps.database, opts);
  const bundle = await archiveBundle(deps.database, deps.eventStore, deps.archive, deps.key, {
    kind: 'governance-weekly',
    labels: { week: opts.week.label, status: files.report.status, report_id: files.report.report_id, trigger: opts.trigger },
    files: [
      { path: 'report.json', content: files.json },
      { path: 'WEEKLY_REPORT.md', content: files.markdown },
    ],
    logPosition: files.report.log_position,
    actor: opts.actor,
    command: `governance-weekly-report (${opts.trigger})`,
    version: deps.version,
  });
  return { ...files, bundle };
}
