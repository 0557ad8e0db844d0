import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import type { ShardRow } from '../../../projections/shards.projection';
import type { TenantPlacementRow } from '../../../projections/tenant-placements.projection';
import { DATABASE, type Database } from '../../platform/db/database';

const iso = (v: unknown): string => new Date(v as string).toISOString();
type Stored<T> = Omit<T, 'registered_at' | 'updated_at'> & { registered_at?: Date | string; updated_at: Date | string };

const shardView = (r: Stored<ShardRow>): ShardRow => ({ ...r, registered_at: iso(r.registered_at), updated_at: iso(r.updated_at), revision: Number(r.revision) }) as ShardRow;

/** rm_shards (the shards projection's read model). SQL only. */
@Injectable()
export class ShardsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async list(after: string | undefined, limit: number): Promise<ShardRow[]> {
    const r = await sql<Stored<ShardRow>>`SELECT * FROM rm_shards ${after ? sql`WHERE shard_id > ${after}` : sql``} ORDER BY rm_shards.shard_id LIMIT ${limit}`.execute(this.database.db);
    return r.rows.map(shardView);
  }

  async get(shardId: string): Promise<ShardRow | undefined> {
    const r = await sql<Stored<ShardRow>>`SELECT * FROM rm_shards WHERE shard_id = ${shardId}`.execute(this.database.db);
    return r.rows[0] ? shardView(r.rows[0]) : undefined;
  }
}

const json = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));
const placementView = (r: Stored<TenantPlacementRow>): TenantPlacementRow => ({
  ...r,
  generation: Number(r.generation),
  previous: json(r.previous),
  updated_at: iso(r.updated_at),
  revision: Number(r.revision),
});

/** rm_tenant_placements (the tenant_placements projection's read model), with rm_tenants for existence. SQL only. */
@Injectable()
export class TenantPlacementsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /** The tenant's stored placement (undefined: never moved), or null when the tenant does not exist. */
  async find(tenantId: string): Promise<TenantPlacementRow | undefined | null> {
    const r = await sql<Stored<TenantPlacementRow> & { known: string; tenant_id: string | null }>`
      SELECT t.tenant_id AS known, p.*
      FROM rm_tenants t LEFT JOIN rm_tenant_placements p ON p.tenant_id = t.tenant_id
      WHERE t.tenant_id = ${tenantId}`.execute(this.database.db);
    const row = r.rows[0];
    if (!row) return null;
    if (row.tenant_id === null) return undefined;
    const { known: _known, ...placement } = row;
    return placementView(placement as Stored<TenantPlacementRow>);
  }
}
