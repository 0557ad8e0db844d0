import { Inject, Injectable } from '@nestjs/common';
import { METRICS, type Metrics } from '../../platform/telemetry/metrics';
import { OUTBOX_JOB_TYPES, OutboxRepository, type OutboxTypeBacklog } from './outbox.repository';

const BACKLOG_STATUSES = ['pending', 'retrying', 'processing'] as const;

/**
 * The outbox gauges of /metrics (docs/observability.md), by job type and never by tenant (a
 * tenant label would grow with the customer list): backlog by status, the age of the oldest job in
 * the backlog, and dead letters. Read with one query (OutboxRepository.backlogByType), reused for
 * METRICS_GAUGE_CACHE_MS. Every known job type always has its series (0 when idle), so alerts and
 * dashboards see a value instead of nothing; any other type found in the table is reported too.
 * Every process reports the same numbers (they come from the shared table): aggregate with max().
 */
@Injectable()
export class OutboxMetrics {
  constructor(@Inject(METRICS) metrics: Metrics, outbox: OutboxRepository) {
    const { meter } = metrics;
    const backlog = meter.createObservableGauge('aionis_outbox_backlog_jobs', {
      description: 'Outbox jobs not done yet, by type and status (pending: never attempted; retrying: pending after a failed attempt; processing: claimed by a worker)',
    });
    const oldest = meter.createObservableGauge('aionis_outbox_backlog_oldest_age_seconds', {
      description: 'Seconds since the oldest pending, retrying or processing outbox job was enqueued, by type (0 = no backlog)',
    });
    const dead = meter.createObservableGauge('aionis_outbox_dead_letter_jobs', {
      description: 'Outbox jobs dead-lettered and not yet replayed or discarded, by type (runbooks/dead-letter-replay.md)',
    });
    metrics.observeCached('outbox', () => outbox.backlogByType(), [backlog, oldest, dead], (rows, r) => {
      for (const row of withKnownTypes(rows)) {
        for (const status of BACKLOG_STATUSES) r.observe(backlog, row[status], { type: row.type, status });
        r.observe(oldest, row.oldest_age_s, { type: row.type });
        r.observe(dead, row.dead_letter, { type: row.type });
      }
    });
  }
}

/** The rows, plus a zero row for each known job type the table has no open or dead job of. */
export function withKnownTypes(rows: readonly OutboxTypeBacklog[]): OutboxTypeBacklog[] {
  const seen = new Set(rows.map((r) => r.type));
  const zeros = OUTBOX_JOB_TYPES.filter((t) => !seen.has(t)).map((type) => ({ type, pending: 0, retrying: 0, processing: 0, dead_letter: 0, oldest_age_s: 0 }));
  return [...rows, ...zeros].sort((a, b) => a.type.localeCompare(b.type));
}
