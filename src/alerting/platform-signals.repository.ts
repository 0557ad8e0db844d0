import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from '../platform/db/database';
import type { GovernanceRunOutcome } from './platform-rules';

/**
 * The platform facts the platform alerts read that no other repository owns: pg_stat_activity
 * (open write transactions), es_seals with es_events (unsealed events), and es_events for the
 * governance schedule's claim streams and the archived weekly reports, and the SLO statement
 * close's claim streams and issued statements. SQL only, read-only.
 */
@Injectable()
export class PlatformSignalsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /** Age (ms) of the oldest transaction that holds an xid (a write) in this database; null when none or not observable (PGlite). */
  async oldestWriteTransactionMs(): Promise<{ ageMs: number | null; pid: number | null }> {
    if (this.database.kind !== 'pg') return { ageMs: null, pid: null };
    const r = await sql<{ age_ms: string | number | null; pid: number | null }>`
      SELECT (extract(epoch FROM clock_timestamp() - xact_start) * 1000)::bigint AS age_ms, pid
      FROM pg_stat_activity
      WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()
      ORDER BY xact_start LIMIT 1`.execute(this.database.db);
    const row = r.rows[0];
    return row ? { ageMs: Number(row.age_ms), pid: row.pid } : { ageMs: null, pid: null };
  }

  /** Age (ms) of the oldest event not covered by a seal yet; null when every event is sealed. */
  async oldestUnsealedEventMs(): Promise<number | null> {
    const r = await sql<{ age_ms: string | number | null }>`
      WITH last AS (SELECT to_transaction_id AS tx, to_global_position AS gp FROM es_seals ORDER BY seal_no DESC LIMIT 1)
      SELECT (extract(epoch FROM clock_timestamp() - min(e.recorded_at)) * 1000)::bigint AS age_ms
      FROM es_events e
      WHERE NOT EXISTS (SELECT 1 FROM last) OR (e.transaction_id, e.global_position) > (SELECT tx, gp FROM last)`.execute(this.database.db);
    const v = r.rows[0]?.age_ms;
    return v === null || v === undefined ? null : Number(v);
  }

  /**
   * One weekly-report period (the fire at `fireAt`, claim stream `streamId`, reporting on `week`
   * which ends at `weekEnd`): whether a tenant existed before the week's end, how the scheduled
   * run ended (the claim stream's last event), and whether a governance-weekly bundle of that week
   * was archived at or after the fire by any trigger (the schedule, the CLI or the API).
   */
  async governancePeriod(p: { streamId: string; fireAt: string; week: string; weekEnd: string }): Promise<{ tenantsBefore: boolean; scheduledRun: GovernanceRunOutcome; weekArchivedSinceFire: boolean }> {
    const r = await sql<{ last: string | null; tenants: boolean; archived: boolean }>`
      SELECT (SELECT type FROM es_events WHERE stream_id = ${p.streamId} ORDER BY stream_position DESC LIMIT 1) AS last,
             EXISTS (SELECT 1 FROM es_events WHERE type = 'TenantCreated' AND recorded_at < ${p.weekEnd}::timestamptz) AS tenants,
             EXISTS (SELECT 1 FROM es_events WHERE stream_id = 'evidence-governance-weekly' AND type = 'EvidenceBundleArchived'
                     AND data->'labels'->>'week' = ${p.week} AND recorded_at >= ${p.fireAt}::timestamptz) AS archived`.execute(this.database.db);
    const row = r.rows[0];
    const outcomes: Record<string, GovernanceRunOutcome> = { GovernanceReportRunClaimed: 'claimed', GovernanceReportRunCompleted: 'completed', GovernanceReportRunFailed: 'failed' };
    return { tenantsBefore: Boolean(row?.tenants), scheduledRun: (row?.last && outcomes[row.last]) || 'none', weekArchivedSinceFire: Boolean(row?.archived) };
  }

  /**
   * One month's SLO statement close (claim stream `streamId`, closing `month`, which ends at
   * `monthEnd`): how many tenants existed during the month (created before its end), how the
   * scheduled run ended (the claim stream's last event), and how many of those tenants have no
   * final (non-provisional) SloStatementIssued of the month, by any trigger.
   */
  async sloClosePeriod(p: { streamId: string; month: string; monthEnd: string }): Promise<{ tenants: number; scheduledRun: GovernanceRunOutcome; tenantsWithoutStatement: number }> {
    const r = await sql<{ last: string | null; tenants: number; without: number }>`
      WITH scope AS (SELECT tenant_id FROM es_events WHERE type = 'TenantCreated' AND tenant_id IS NOT NULL AND (metadata->>'occurred_at')::timestamptz < ${p.monthEnd}::timestamptz)
      SELECT (SELECT type FROM es_events WHERE stream_id = ${p.streamId} ORDER BY stream_position DESC LIMIT 1) AS last,
             (SELECT count(*)::int FROM scope) AS tenants,
             (SELECT count(*)::int FROM scope s WHERE NOT EXISTS (
                SELECT 1 FROM es_events i WHERE i.type = 'SloStatementIssued' AND i.tenant_id = s.tenant_id
                  AND i.data->>'month' = ${p.month} AND (i.data->>'provisional')::boolean = false)) AS without`.execute(this.database.db);
    const row = r.rows[0];
    const outcomes: Record<string, GovernanceRunOutcome> = { SloStatementCloseClaimed: 'claimed', SloStatementCloseCompleted: 'completed', SloStatementCloseFailed: 'failed' };
    return { tenants: Number(row?.tenants ?? 0), scheduledRun: (row?.last && outcomes[row.last]) || 'none', tenantsWithoutStatement: Number(row?.without ?? 0) };
  }
}
