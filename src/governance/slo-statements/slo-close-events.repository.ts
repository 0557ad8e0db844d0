import { sql } from 'kysely';
import type { Database } from '../../platform/db/database';
import type { TenantCreation } from './month-close';

/**
 * es_streams and es_events for the month close: whether a month's close was claimed, and when
 * each tenant was created. SQL only, read-only (the claim itself goes through the event store).
 */
export class SloCloseEventsRepository {
  constructor(private readonly database: Database) {}

  async streamExists(streamId: string): Promise<boolean> {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_streams WHERE stream_id = ${streamId}`.execute(this.database.db);
    return (r.rows[0]?.n ?? 0) > 0;
  }

  /** Every tenant and when its TenantCreated occurred (tenants are suspended, never deleted). */
  async tenantCreations(): Promise<TenantCreation[]> {
    const r = await sql<{ tenant_id: string; created_at: string }>`
      SELECT tenant_id, metadata->>'occurred_at' AS created_at FROM es_events WHERE type = 'TenantCreated' AND tenant_id IS NOT NULL
      ORDER BY tenant_id`.execute(this.database.db);
    return r.rows.map((row) => ({ tenant_id: row.tenant_id, created_at: new Date(row.created_at).toISOString() }));
  }

  /** The database clock. */
  async now(): Promise<Date> {
    const r = await sql<{ now: Date | string }>`SELECT clock_timestamp() AS now`.execute(this.database.db);
    return new Date(r.rows[0]?.now ?? Date.now());
  }
}
