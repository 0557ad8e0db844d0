import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { sql } from 'kysely';
import { EffectiveQuotaService } from '../../control-plane/quotas/effective-quota.service';
import type { EffectiveQuota } from '../../control-plane/quotas/tiers';
import { DATABASE, type Database } from '../../platform/db/database';
import { AppError } from '../../platform/errors/app-error';

export type EndpointClass = 'write' | 'recall';

export interface Admission {
  /** Bucket size (burst). */
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the bucket is full again. */
  readonly resetSeconds: number;
}

const CACHE_TTL_MS = 2000;

export const monthOf = (d: Date): string => d.toISOString().slice(0, 7);

/**
 * Enforces a tenant's effective quota on the memory API. Rate limits are token buckets kept in
 * PostgreSQL and updated under the bucket's row lock, so several API processes together never
 * admit more than the limit (exact mode; one round trip per request). Monthly operations are
 * counted the same way. The effective quota is cached per tenant for 2 s and dropped as soon as
 * the projector commits a tenant or quota change.
 */
@Injectable()
export class QuotaEnforcer implements OnModuleInit, OnModuleDestroy {
  private readonly cache = new Map<string, { quota: EffectiveQuota | undefined; at: number }>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    @Inject(DATABASE) private readonly database: Database,
    private readonly quotas: EffectiveQuotaService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.unlisten = await this.database.listen('aionis_projection_progress', (projection) => {
      if (projection === 'tenants' || projection === 'quotas') this.cache.clear();
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.unlisten?.();
  }

  async quotaOf(tenantId: string): Promise<EffectiveQuota> {
    const hit = this.cache.get(tenantId);
    let quota = hit && Date.now() - hit.at < CACHE_TTL_MS ? hit.quota : undefined;
    if (!quota) {
      quota = await this.quotas.get(tenantId);
      this.cache.set(tenantId, { quota, at: Date.now() });
    }
    if (!quota) throw new AppError('unauthorized', 'a valid API key is required');
    return quota;
  }

  /**
   * Take one token from the tenant's bucket for this endpoint class, or refuse with 429; then
   * count one monthly operation, or refuse with 403 quota_exceeded. A refused request consumes nothing.
   */
  async admit(tenantId: string, endpointClass: EndpointClass): Promise<Admission> {
    const q = await this.quotaOf(tenantId);
    const rate = endpointClass === 'write' ? q.values.write_rps : q.values.recall_rps;
    const burst = endpointClass === 'write' ? q.values.write_burst : q.values.recall_burst;
    const taken = await sql<{ tokens: number }>`
      INSERT INTO rate_limit_buckets AS b (tenant_id, endpoint_class, tokens, updated_at)
      VALUES (${tenantId}, ${endpointClass}, ${burst - 1}, clock_timestamp())
      ON CONFLICT (tenant_id, endpoint_class) DO UPDATE SET
        tokens = LEAST(${burst}::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at) * ${rate}::float8) - 1,
        updated_at = clock_timestamp()
      WHERE LEAST(${burst}::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at) * ${rate}::float8) >= 1
      RETURNING tokens`.execute(this.database.db);
    const row = taken.rows[0];
    if (!row) {
      const now = await sql<{ tokens: number }>`
        SELECT LEAST(${burst}::float8, tokens + extract(epoch FROM clock_timestamp() - updated_at) * ${rate}::float8) AS tokens
        FROM rate_limit_buckets WHERE tenant_id = ${tenantId} AND endpoint_class = ${endpointClass}`.execute(this.database.db);
      const tokens = now.rows[0]?.tokens ?? 0;
      const retryAfter = Math.max(1, Math.ceil((1 - tokens) / rate));
      throw new AppError('rate_limited', `the ${endpointClass} rate limit of this tenant is ${rate}/s with bursts of ${burst}; retry after ${retryAfter} s`, {
        limit: burst,
        remaining: 0,
        retry_after: retryAfter,
        reset: Math.ceil((burst - tokens) / rate),
        endpoint_class: endpointClass,
      });
    }
    const counted = await sql<{ operations: number }>`
      INSERT INTO quota_usage AS u (tenant_id, period, operations) VALUES (${tenantId}, ${monthOf(new Date())}, 1)
      ON CONFLICT (tenant_id, period) DO UPDATE SET operations = u.operations + 1
      WHERE u.operations < ${q.values.monthly_operations}
      RETURNING operations`.execute(this.database.db);
    if (!counted.rows[0] || counted.rows[0].operations > q.values.monthly_operations) {
      // Give the token back: a refused request consumes nothing.
      await sql`UPDATE rate_limit_buckets SET tokens = LEAST(${burst}::float8, tokens + 1) WHERE tenant_id = ${tenantId} AND endpoint_class = ${endpointClass}`.execute(this.database.db);
      throw new AppError('quota_exceeded', `this tenant has used its ${q.values.monthly_operations} operations for ${monthOf(new Date())}`, {
        quota: 'monthly_operations',
        limit: q.values.monthly_operations,
      });
    }
    const remaining = Math.floor(row.tokens);
    return { limit: burst, remaining, resetSeconds: Math.ceil((burst - row.tokens) / rate) };
  }

  /** Usage this month, for the tenant's operators. */
  async usage(tenantId: string): Promise<{ period: string; operations: number; stored_nodes: number }> {
    const period = monthOf(new Date());
    const ops = await sql<{ operations: number }>`SELECT operations FROM quota_usage WHERE tenant_id = ${tenantId} AND period = ${period}`.execute(this.database.db);
    const nodes = await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_nodes WHERE tenant_id = ${tenantId}`.execute(this.database.db);
    return { period, operations: ops.rows[0]?.operations ?? 0, stored_nodes: nodes.rows[0]?.n ?? 0 };
  }
}
