import { Inject, Injectable } from '@nestjs/common';
import { type Kysely, sql, type Transaction } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';

type Executor = Kysely<DB> | Transaction<DB>;

/**
 * Every data-plane table that holds rows of a tenant, in deletion order (rows before the rows
 * they reference). The perf-tenant teardown removes them all in its own transaction; the
 * consistency checks and gate tests count what is left.
 */
export const TENANT_DATA_TABLES = [
  'memory_edges',
  'memory_rule_feedback',
  'memory_decisions',
  'memory_rule_defs',
  'memory_outbox',
  'memory_pack_imports',
  'memory_nodes',
  'memory_commits',
  'memory_scopes',
  'memory_tenant_counters',
  'rate_limit_buckets',
  'quota_usage',
  'telemetry_rollups',
] as const;

@Injectable()
export class TenantDataRepository {
  readonly tables: readonly string[] = TENANT_DATA_TABLES;

  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /** Delete the tenant's rows of every data-plane table; rows removed per table. */
  async remove(trx: Executor, tenantId: string): Promise<Record<string, number>> {
    const removed: Record<string, number> = {};
    for (const table of TENANT_DATA_TABLES) {
      const r = await sql<{ n: number }>`WITH gone AS (DELETE FROM ${sql.table(table)} WHERE tenant_id = ${tenantId} RETURNING 1) SELECT count(*)::int AS n FROM gone`.execute(trx);
      removed[table] = Number(r.rows[0]?.n ?? 0);
    }
    return removed;
  }

  async count(tenantId: string, ex: Executor = this.database.db): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const table of TENANT_DATA_TABLES) {
      const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)} WHERE tenant_id = ${tenantId}`.execute(ex);
      out[table] = Number(r.rows[0]?.n ?? 0);
    }
    return out;
  }
}
