import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from '../platform/db/database';

export interface StoredTenantSlo {
  readonly tenant_id: string;
  readonly tier: string;
  readonly status: string;
  readonly overrides: unknown;
  readonly revision: number;
}

type Row = { tenant_id: string; tier: string; status: string; overrides: unknown; revision: number | null };
const view = (row: Row): StoredTenantSlo => ({
  tenant_id: row.tenant_id,
  tier: row.tier,
  status: row.status,
  overrides: typeof row.overrides === 'string' ? (JSON.parse(row.overrides) as unknown) : (row.overrides ?? {}),
  revision: row.revision === null ? 0 : Number(row.revision),
});

/** rm_tenant_slos (SLO overrides) joined with each tenant's tier from rm_tenants. SQL only. */
@Injectable()
export class TenantSlosRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async find(tenantId: string): Promise<StoredTenantSlo | undefined> {
    const r = await sql<Row>`
      SELECT t.tenant_id, t.tier, t.status, s.overrides, s.revision
      FROM rm_tenants t LEFT JOIN rm_tenant_slos s ON s.tenant_id = t.tenant_id WHERE t.tenant_id = ${tenantId}`.execute(this.database.db);
    return r.rows[0] ? view(r.rows[0]) : undefined;
  }

  /** The tier and overrides of these tenants (the evaluator's batch read). */
  async findMany(tenantIds: readonly string[]): Promise<StoredTenantSlo[]> {
    if (tenantIds.length === 0) return [];
    const r = await sql<Row>`
      SELECT t.tenant_id, t.tier, t.status, s.overrides, s.revision
      FROM rm_tenants t LEFT JOIN rm_tenant_slos s ON s.tenant_id = t.tenant_id WHERE t.tenant_id = ANY(${sql.val([...tenantIds])}::text[])`.execute(this.database.db);
    return r.rows.map(view);
  }
}
