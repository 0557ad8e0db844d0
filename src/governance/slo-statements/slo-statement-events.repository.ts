import { sql, type Kysely, type Transaction } from 'kysely';
import type { DB } from '../../platform/db/schema';
import type { StatementEvent } from './statement';

type Executor = Kysely<DB> | Transaction<DB>;

/**
 * es_events: one tenant's events of the given types (its lifecycle, SLO overrides, alerts and
 * placements) that occurred before an instant, plus its TenantCreated whenever it occurred, in log
 * order, with when each occurred. SQL only; the statement filters by period.
 */
export class SloStatementEventsRepository {
  constructor(private readonly db: Executor) {}

  async tenantEvents(tenantId: string, types: readonly string[], before: string): Promise<StatementEvent[]> {
    const r = await sql<{ type: string; stream_id: string; data: unknown; occurred_at: string }>`
      SELECT type, stream_id, data, metadata->>'occurred_at' AS occurred_at FROM es_events
      WHERE tenant_id = ${tenantId} AND type IN (${sql.join([...types])})
        AND (type = 'TenantCreated' OR (metadata->>'occurred_at')::timestamptz < ${before}::timestamptz)
      ORDER BY es_events.transaction_id, es_events.global_position`.execute(this.db);
    return r.rows.map((row) => ({
      type: row.type,
      stream_id: row.stream_id,
      at: new Date(row.occurred_at).toISOString(),
      data: (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as Record<string, unknown>,
    }));
  }

  /** The database clock (the clock events are recorded with). */
  async now(): Promise<string> {
    const r = await sql<{ now: Date | string }>`SELECT clock_timestamp() AS now`.execute(this.db);
    return new Date(r.rows[0]?.now ?? Date.now()).toISOString();
  }
}
