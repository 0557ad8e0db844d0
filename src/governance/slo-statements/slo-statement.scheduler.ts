import type { LoggerService } from '@nestjs/common';
import { type Cron, lastFireAtOrBefore, parseCron } from '../../platform/config/cron';
import { PeriodicCheck } from '../../platform/config/periodic-check';
import { eventMetadata, naturalCommandId, systemCommandContext } from '../../platform/event-store/command-context';
import { WrongExpectedRevisionError } from '../../platform/event-store/errors';
import type { PostgresEventStore } from '../../platform/event-store/postgres-event-store';
import { type CloseSummary, isMonthClosed, monthClosedBy, SLO_CLOSE_LOOKBACK_DAYS, type SloCloseEvent, sloCloseStreamId, type TenantCloseOutcome, tenantsInScope } from './month-close';
import type { SloCloseEventsRepository } from './slo-close-events.repository';

export const SLO_SCHEDULER_ACTOR = { type: 'system' as const, id: 'slo-statement-scheduler' };

/**
 * Closes each month (docs/slo.md "Issued automatically"): when the cron fires, the month before
 * the fire's month is closed (once it is no longer provisional: FINALIZE_GRACE_MS after its end),
 * issuing every tenant's statement, at most once per month across every instance: the month is
 * claimed by creating its stream `slo-close-<YYYYMM>` (expected revision no_stream, deterministic
 * command ids `slo-close:<month>:claim|completed|failed`), as the weekly report's scheduler does.
 * A fire missed while every instance was down runs at the next start (up to 32 days back). A
 * month in which no tenant existed is not claimed. A tenant that fails does not stop the others;
 * the run then ends SloStatementCloseFailed naming each failed tenant and why.
 */
export class SloStatementScheduler extends PeriodicCheck<CloseSummary | null> {
  private readonly cron: Cron;

  constructor(
    private readonly deps: {
      repository: SloCloseEventsRepository;
      eventStore: PostgresEventStore;
      close: (month: string, onTenant: (o: TenantCloseOutcome) => void) => Promise<CloseSummary>;
      logger: LoggerService;
      instanceId: string;
    },
    expression: string,
    tickMs = 30_000,
  ) {
    super(tickMs);
    this.cron = parseCron(expression);
  }

  protected async check(now: Date): Promise<CloseSummary | null> {
    const fire = lastFireAtOrBefore(this.cron, now, SLO_CLOSE_LOOKBACK_DAYS);
    if (!fire) return null;
    const month = monthClosedBy(fire);
    // A fire before the month is final (cron earlier than 00:10 on the 1st) waits for it.
    if (!isMonthClosed(month, now.getTime())) return null;
    const stream = sloCloseStreamId(month);
    const log = { month, fire: fire.toISOString() };
    try {
      if (await this.deps.repository.streamExists(stream)) return null;
      const tenants = tenantsInScope(await this.deps.repository.tenantCreations(), month);
      if (tenants.length === 0) return null; // nothing to close; not claimed, so it runs once there is
      const ctx = systemCommandContext({ actor: SLO_SCHEDULER_ACTOR, correlationId: stream });
      const append = (step: 'claim' | 'completed' | 'failed', event: SloCloseEvent, expectedRevision: 'no_stream' | number) =>
        this.deps.eventStore.append(stream, [event], { expectedRevision, tenantId: null, metadata: eventMetadata(ctx, naturalCommandId('slo-close', `${month}:${step}`)) });
      try {
        const claim = await append('claim', { type: 'SloStatementCloseClaimed', data: { ...log, instance: this.deps.instanceId, tenants: tenants.length } }, 'no_stream');
        if (claim.duplicate) return null; // another instance claimed this month first
      } catch (err) {
        if (err instanceof WrongExpectedRevisionError) return null; // another instance has this month
        throw err;
      }
      this.deps.logger.log({ msg: 'SLO month close started', ...log, tenants: tenants.length });
      try {
        const summary = await this.deps.close(month, (o) => {
          if (o.outcome === 'failed') this.deps.logger.error({ msg: 'SLO statement not issued', month, tenant_id: o.tenant_id, error: o.error, retry: `npm run slo:statement -- --tenant ${o.tenant_id} --month ${month}` });
          else this.deps.logger.log({ msg: 'SLO statement', month, tenant_id: o.tenant_id, outcome: o.outcome, bundle_id: o.bundle_id });
        });
        if (summary.failed.length === 0) {
          await append('completed', { type: 'SloStatementCloseCompleted', data: { ...summary, fire: log.fire } }, 1);
          this.deps.logger.log({ msg: 'SLO month close done', ...log, issued: summary.issued, already_issued: summary.already_issued });
        } else {
          const error = `${summary.failed.length} of ${summary.tenants} tenant statement(s) not issued`;
          await append('failed', { type: 'SloStatementCloseFailed', data: { ...summary, fire: log.fire, error } }, 1);
          this.deps.logger.error({ msg: 'SLO month close failed', ...log, error, failed: summary.failed.map((f) => f.tenant_id), retry: `npm run slo:statement -- --all-tenants --month ${month}` });
        }
        return summary;
      } catch (err) {
        const error = (err instanceof Error ? err.message : String(err)).slice(0, 2000);
        await append('failed', { type: 'SloStatementCloseFailed', data: { ...log, error } }, 1).catch(() => undefined);
        this.deps.logger.error({ msg: 'SLO month close failed', ...log, error, retry: `npm run slo:statement -- --all-tenants --month ${month}` });
        return null;
      }
    } catch (err) {
      this.deps.logger.error({ msg: 'SLO statement scheduler failed', err });
      return null;
    }
  }
}
