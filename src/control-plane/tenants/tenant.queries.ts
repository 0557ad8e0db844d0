import { Inject, Injectable } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { sql } from 'kysely';
import type { TenantRow } from '../../../projections/tenants.projection';
import { tenantsProjection } from '../../../projections';
import { DATABASE, type Database } from '../../platform/db/database';
import { normaliseRow } from '../../platform/projections/projection-store';
import type { TenantStatus } from './tenant.domain';

/** Read side of tenants (rm_tenants). SQL only, no rules. */
@Injectable()
export class TenantsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async get(tenantId: string): Promise<TenantRow | undefined> {
    const row = await this.database.db.selectFrom('rm_tenants').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
    return row ? (normaliseRow(tenantsProjection, row as unknown as Record<string, unknown>) as unknown as TenantRow) : undefined;
  }

  async list(filter: { status?: TenantStatus; after?: string; limit: number }): Promise<TenantRow[]> {
    let q = this.database.db.selectFrom('rm_tenants').selectAll().orderBy('tenant_id').limit(filter.limit);
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.after !== undefined) q = q.where('tenant_id', '>', filter.after);
    const rows = await q.execute();
    return rows.map((r) => normaliseRow(tenantsProjection, r as unknown as Record<string, unknown>) as unknown as TenantRow);
  }

  /** Every tenant's id, name, status and tier (the console overview filters and sorts these in one pass). */
  async summaries(): Promise<{ tenant_id: string; display_name: string; status: string; tier: string }[]> {
    return this.database.db.selectFrom('rm_tenants').select(['tenant_id', 'display_name', 'status', 'tier']).orderBy('tenant_id').execute();
  }

  async count(status?: TenantStatus): Promise<number> {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM rm_tenants WHERE ${status ? sql`status = ${status}` : sql`true`}`.execute(this.database.db);
    return r.rows[0]?.n ?? 0;
  }
}

export class GetTenantQuery extends Query<TenantRow | undefined> {
  constructor(readonly tenantId: string) {
    super();
  }
}

export class ListTenantsQuery extends Query<TenantRow[]> {
  constructor(readonly filter: { status?: TenantStatus; after?: string; limit: number }) {
    super();
  }
}

@QueryHandler(GetTenantQuery)
export class GetTenantHandler implements IQueryHandler<GetTenantQuery, TenantRow | undefined> {
  constructor(private readonly repo: TenantsRepository) {}
  execute(q: GetTenantQuery): Promise<TenantRow | undefined> {
    return this.repo.get(q.tenantId);
  }
}

@QueryHandler(ListTenantsQuery)
export class ListTenantsHandler implements IQueryHandler<ListTenantsQuery, TenantRow[]> {
  constructor(private readonly repo: TenantsRepository) {}
  execute(q: ListTenantsQuery): Promise<TenantRow[]> {
    return this.repo.list(q.filter);
  }
}
