import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { auditProjection, type AuditRow } from '../../../projections/audit.projection';
import { DATABASE, type Database } from '../../platform/db/database';
import { normaliseRow } from '../../platform/projections/projection-store';

export interface AuditFilter {
  readonly tenantId?: string;
  readonly actorId?: string;
  readonly types?: readonly string[];
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly from?: string;
  readonly to?: string;
  readonly requestId?: string;
  /** Exclusive lower bound in commit order. */
  readonly after?: { transactionId: number; globalPosition: number };
  readonly limit: number;
}

/** Read side of the audit trail (rm_audit_events), in commit order. SQL only. */
@Injectable()
export class AuditRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async page(f: AuditFilter): Promise<AuditRow[]> {
    const where = [sql`true`];
    if (f.tenantId !== undefined) where.push(sql`tenant_id = ${f.tenantId}`);
    if (f.actorId !== undefined) where.push(sql`actor_id = ${f.actorId}`);
    if (f.types && f.types.length > 0) where.push(sql`type = ANY(${sql.val([...f.types])}::text[])`);
    if (f.resourceType !== undefined) where.push(sql`resource_type = ${f.resourceType}`);
    if (f.resourceId !== undefined) where.push(sql`resource_id = ${f.resourceId}`);
    if (f.from !== undefined) where.push(sql`occurred_at >= ${f.from}::timestamptz`);
    if (f.to !== undefined) where.push(sql`occurred_at < ${f.to}::timestamptz`);
    if (f.requestId !== undefined) where.push(sql`request_id = ${f.requestId}`);
    if (f.after) where.push(sql`(transaction_id, global_position) > (${f.after.transactionId}::bigint, ${f.after.globalPosition}::bigint)`);
    const r = await sql<Record<string, unknown>>`
      SELECT * FROM rm_audit_events WHERE ${sql.join(where, sql` AND `)}
      ORDER BY rm_audit_events.transaction_id, rm_audit_events.global_position
      LIMIT ${f.limit}`.execute(this.database.db);
    return r.rows.map((row) => normaliseRow(auditProjection, row) as unknown as AuditRow);
  }
}
