import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';

/** What the read models hold about one tenant's quota: its tier (rm_tenants) and overrides (rm_tenant_quotas). */
export interface StoredTenantQuota {
  readonly tenant_id: string;
  readonly tier: string;
  /** The stored override set (jsonb); `{}` when the tenant never had overrides. */
  readonly overrides: unknown;
  /** Revision of the quota stream; 0 when it has no events. */
  readonly revision: number;
}

/** Read side of quotas. SQL only, no rules. */
@Injectable()
export class QuotasRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /** The tenant's tier and overrides in one read, or undefined when the tenant does not exist. */
  async find(tenantId: string): Promise<StoredTenantQuota | undefined> {
    const r = await sql<{ tenant_id: string; tier: string; overrides: unknown; revision: number | null }>`
      SELECT t.tenant_id, t.tier, q.overrides, q.revision
      FROM rm_tenants t LEFT JOIN rm_tenant_quotas q ON q.tenant_id = t.tenant_id
      WHERE t.tenant_id = ${tenantId}`.execute(this.database.db);
    const row = r.rows[0];
    if (!row) return undefined;
    const overrides = typeof row.overrides === 'string' ? (JSON.parse(row.overrides) as unknown) : (row.overrides ?? {});
    return { tenant_id: row.tenant_id, tier: row.tier, overrides, revision: row.revision === null ? 0 : Number(row.revision) };
  }
}
