import { sql } from 'kysely';
import type { LoggerService } from '@nestjs/common';
import type { Database } from '../../platform/db/database';
import { eventMetadata, naturalCommandId, systemCommandContext } from '../../platform/event-store/command-context';
import { WrongExpectedRevisionError } from '../../platform/event-store/errors';
import type { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { type Cron, lastFireAtOrBefore, parseCron } from '../../platform/config/cron';
import { PeriodicCheck } from '../../platform/config/periodic-check';
import { type IsoWeek, isoWeekOf, previousIsoWeek } from './iso-week';

const SYSTEM = { type: 'system' as const, id: 'governance-scheduler' };

/** The claim stream of one scheduled period (its fire time); the missed-schedule alert reads it too. */
export const governanceScheduleStreamId = (period: string): string => `governance-schedule-${period.replace(/[-:.]/g, '')}`;

/**
 * Runs the weekly report when the cron fires, at most once per period across every instance: the
 * period is claimed by creating its stream (`governance-schedule-<fire time>`, expected revision
 * no_stream), so of two instances that see the same fire time exactly one wins. A fire missed
 * while every instance was down runs at the next start (up to 8 days back). No report runs for a
 * week in which there was no tenant yet: a report on an empty system proves nothing.
 * The period is the natural idempotency key of its three events, so their command ids are
 * deterministic (`governance-schedule:<period>:claim|completed|failed`): an instance that appends
 * a claim another instance already made gets `duplicate` (or a wrong expected revision) back, and
 * stands down either way.
 */
export class WeeklyReportScheduler extends PeriodicCheck<void> {
  private readonly cron: Cron;

  constructor(
    private readonly deps: {
      database: Database;
      eventStore: PostgresEventStore;
      run: (week: IsoWeek) => Promise<{ bundleId: string; status: string }>;
      /** previous: the week that ended before the fire time; current: the week so far. */
      which: 'previous' | 'current';
      logger: LoggerService;
      instanceId: string;
    },
    expression: string,
    tickMs = 30_000,
  ) {
    super(tickMs);
    this.cron = parseCron(expression);
  }

  protected async check(now: Date): Promise<void> {
    const fire = lastFireAtOrBefore(this.cron, now, 8);
    if (!fire) return;
    const period = fire.toISOString();
    const stream = governanceScheduleStreamId(period);
    try {
      const exists = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_streams WHERE stream_id = ${stream}`.execute(this.deps.database.db);
      if ((exists.rows[0]?.n ?? 0) > 0) return;
      const week = this.deps.which === 'current' ? isoWeekOf(fire) : previousIsoWeek(fire);
      // Nothing to report on a week before the first tenant existed (a fresh deployment's first
      // Monday); the period is not claimed, so it runs once there is something to report.
      const tenants = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM es_events WHERE type = 'TenantCreated' AND recorded_at < ${week.end}::timestamptz`.execute(this.deps.database.db);
      if ((tenants.rows[0]?.n ?? 0) === 0) return;
      const ctx = systemCommandContext({ actor: SYSTEM, correlationId: stream });
      const meta = (step: 'claim' | 'completed' | 'failed') => eventMetadata(ctx, naturalCommandId('governance-schedule', `${period}:${step}`));
      try {
        const claim = await this.deps.eventStore.append(stream, [{ type: 'GovernanceReportRunClaimed', data: { period, week: week.label, instance: this.deps.instanceId } }], { expectedRevision: 'no_stream', tenantId: null, metadata: meta('claim') });
        if (claim.duplicate) return; // another instance claimed this period first
      } catch (err) {
        if (err instanceof WrongExpectedRevisionError) return; // another instance has this period
        throw err;
      }
      try {
        const result = await this.deps.run(week);
        await this.deps.eventStore.append(stream, [{ type: 'GovernanceReportRunCompleted', data: { period, week: week.label, bundle_id: result.bundleId, status: result.status } }], { expectedRevision: 1, tenantId: null, metadata: meta('completed') });
        this.deps.logger.log({ msg: 'weekly report done', week: week.label, status: result.status, bundle_id: result.bundleId });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        await this.deps.eventStore
          .append(stream, [{ type: 'GovernanceReportRunFailed', data: { period, week: week.label, error: message.slice(0, 2000) } }], { expectedRevision: 1, tenantId: null, metadata: meta('failed') })
          .catch(() => undefined);
        this.deps.logger.error({ msg: 'weekly report failed', week: week.label, error: message, retry: `npm run job:governance-weekly-report -- --week ${week.label}` });
      }
    } catch (err) {
      this.deps.logger.error({ msg: 'governance scheduler failed', err });
    }
  }
}
