import { Inject, Injectable } from '@nestjs/common';
import { DATABASE, type Database } from '../db/database';
import { PgStatActivityRepository } from '../db/pg-stat-activity.repository';
import { METRICS, type Metrics } from './metrics';

/**
 * `aionis_db_oldest_write_transaction_age_seconds` (docs/observability.md): how long the oldest
 * open write transaction of this database has been open. A long one holds back the log readers
 * (projectors see no event committed after its transaction id), so it explains projection lag
 * before the lag alert fires. Not registered on PGlite (no series): the embedded database has one
 * session, so there is no other transaction to measure.
 */
@Injectable()
export class DatabaseMetrics {
  constructor(@Inject(METRICS) metrics: Metrics, @Inject(DATABASE) database: Database, activity: PgStatActivityRepository) {
    if (database.kind === 'pglite') return;
    const gauge = metrics.meter.createObservableGauge('aionis_db_oldest_write_transaction_age_seconds', {
      description: 'Seconds the oldest open write transaction (backend_xid set) of this database has been open, this scrape excluded (0 = none)',
    });
    metrics.observeCached('db_oldest_write_transaction', () => activity.oldestWriteTransactionAgeSeconds(), [gauge], (age, r) => {
      if (age !== null) r.observe(gauge, age);
    });
  }
}
