import { Inject, Injectable } from '@nestjs/common';
import { type Kysely, sql, type Transaction } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';

type Executor = Kysely<DB> | Transaction<DB>;
export type EndpointClass = 'write' | 'recall';

/**
 * rate_limit_buckets (token buckets per tenant and endpoint class, shared by every process and
 * updated under the bucket's row lock: exact), quota_usage (monthly operations) and
 * memory_tenant_counters (stored nodes, maintained in each write's own transaction).
 */
@Injectable()
export class UsageRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /** Take one token if the bucket has one; the tokens left, or null when empty. */
  async takeToken(tenantId: string, cls: EndpointClass, rate: number, burst: number): Promise<number | null> {
    const r = await sql<{ tokens: number }>`
      INSERT INTO rate_limit_buckets AS b (tenant_id, endpoint_class, tokens, updated_at)
      VALUES (${tenantId}, ${cls}, ${burst - 1}, clock_timestamp())
      ON CONFLICT (tenant_id, endpoint_class) DO UPDATE SET
        tokens = LEAST(${burst}::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at) * ${rate}::float8) - 1,
        updated_at = clock_timestamp()
      WHERE LEAST(${burst}::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at) * ${rate}::float8) >= 1
      RETURNING tokens`.execute(this.database.db);
    const row = r.rows[0];
    return row ? Number(row.tokens) : null;
  }

  /** Tokens in the bucket right now (refilled to this instant). */
  async tokens(tenantId: string, cls: EndpointClass, rate: number, burst: number): Promise<number> {
    const r = await sql<{ tokens: number }>`
      SELECT LEAST(${burst}::float8, tokens + extract(epoch FROM clock_timestamp() - updated_at) * ${rate}::float8) AS tokens
      FROM rate_limit_buckets WHERE tenant_id = ${tenantId} AND endpoint_class = ${cls}`.execute(this.database.db);
    return Number(r.rows[0]?.tokens ?? burst);
  }

  async returnToken(tenantId: string, cls: EndpointClass, burst: number): Promise<void> {
    await sql`UPDATE rate_limit_buckets SET tokens = LEAST(${burst}::float8, tokens + 1) WHERE tenant_id = ${tenantId} AND endpoint_class = ${cls}`.execute(this.database.db);
  }

  /** Count one operation of the month unless the limit is reached; false when it is. */
  async countOperation(tenantId: string, period: string, limit: number): Promise<boolean> {
    const r = await sql<{ operations: number }>`
      INSERT INTO quota_usage AS u (tenant_id, period, operations) VALUES (${tenantId}, ${period}, 1)
      ON CONFLICT (tenant_id, period) DO UPDATE SET operations = u.operations + 1
      WHERE u.operations < ${limit}
      RETURNING operations`.execute(this.database.db);
    const row = r.rows[0];
    return row !== undefined && Number(row.operations) <= limit;
  }

  /** Take back one counted operation (a request that was admitted and then failed). */
  async uncountOperation(tenantId: string, period: string): Promise<void> {
    await sql`UPDATE quota_usage SET operations = operations - 1 WHERE tenant_id = ${tenantId} AND period = ${period} AND operations > 0`.execute(this.database.db);
  }

  /**
   * Add newly stored nodes to the tenant's counter, within the write's transaction, unless that
   * would pass the limit (the row lock makes concurrent writes of one tenant exact). Returns the
   * count before the write when refused, null when added.
   */
  async addStoredNodes(trx: Executor, tenantId: string, added: number, limit: number): Promise<number | null> {
    if (added === 0) return null;
    const r = await sql<{ nodes: number }>`
      INSERT INTO memory_tenant_counters AS c (tenant_id, nodes) VALUES (${tenantId}, ${added})
      ON CONFLICT (tenant_id) DO UPDATE SET nodes = c.nodes + ${added}
      RETURNING nodes`.execute(trx);
    const after = Number(r.rows[0]?.nodes ?? added);
    return after > limit ? after - added : null;
  }

  async usage(tenantId: string, period: string): Promise<{ operations: number; stored_nodes: number }> {
    const r = await sql<{ operations: number | null; nodes: number | null }>`
      SELECT (SELECT operations FROM quota_usage WHERE tenant_id = ${tenantId} AND period = ${period}) AS operations,
             (SELECT nodes FROM memory_tenant_counters WHERE tenant_id = ${tenantId}) AS nodes`.execute(this.database.db);
    return { operations: Number(r.rows[0]?.operations ?? 0), stored_nodes: Number(r.rows[0]?.nodes ?? 0) };
  }
}
