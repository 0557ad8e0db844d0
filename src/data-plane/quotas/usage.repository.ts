import { Inject, Injectable } from '@nestjs/common';
import { type Kysely, sql, type Transaction } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import { RateLimitBucketsRepository } from '../../control-plane/quotas/rate-limit-buckets.repository';

type Executor = Kysely<DB> | Transaction<DB>;
export type EndpointClass = 'write' | 'recall';

/**
 * The memory API's usage: its token buckets per tenant and endpoint class (rate_limit_buckets,
 * through RateLimitBucketsRepository), quota_usage (monthly operations) and
 * memory_tenant_counters (stored nodes, maintained in each write's own transaction).
 */
@Injectable()
export class UsageRepository {
  constructor(
    @Inject(DATABASE) private readonly database: Database,
    private readonly buckets: RateLimitBucketsRepository,
  ) {}

  /** Take one token if the bucket has one; the tokens left, or null when empty. */
  takeToken(tenantId: string, cls: EndpointClass, rate: number, burst: number): Promise<number | null> {
    return this.buckets.take(tenantId, cls, rate, burst);
  }

  /** Tokens in the bucket right now (refilled to this instant). */
  tokens(tenantId: string, cls: EndpointClass, rate: number, burst: number): Promise<number> {
    return this.buckets.level(tenantId, cls, rate, burst);
  }

  returnToken(tenantId: string, cls: EndpointClass, burst: number): Promise<void> {
    return this.buckets.giveBack(tenantId, cls, burst);
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
