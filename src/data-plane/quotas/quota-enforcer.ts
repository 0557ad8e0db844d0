import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { EffectiveQuotaService } from '../../control-plane/quotas/effective-quota.service';
import type { EffectiveQuota } from '../../control-plane/quotas/tiers';
import { DATABASE, type Database } from '../../platform/db/database';
import { AppError } from '../../platform/errors/app-error';
import { type EndpointClass, UsageRepository } from './usage.repository';

export type { EndpointClass } from './usage.repository';

export interface Admission {
  /** Bucket size (burst). */
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the bucket is full again. */
  readonly resetSeconds: number;
  /** How long the request waited for a token (write class only, at most WRITE_MAX_WAIT_MS). */
  readonly waitedMs: number;
  /** What was charged, so a request that then fails can be refunded. */
  readonly charged: { readonly tenantId: string; readonly cls: EndpointClass; readonly burst: number; readonly period: string };
}

const CACHE_TTL_MS = 2000;
/** A write that finds the bucket empty waits once, this long at most, before it is refused (as the open core's write buckets do). */
export const WRITE_MAX_WAIT_MS = 300;

export const monthOf = (d: Date): string => d.toISOString().slice(0, 7);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Enforces a tenant's effective quota on the memory API: a token bucket per endpoint class in
 * PostgreSQL (several API processes together never admit more than the limit), then the monthly
 * operations. A refused request consumes nothing. The effective quota is cached per tenant for 2 s
 * and dropped as soon as the projector commits a tenant or quota change.
 */
@Injectable()
export class QuotaEnforcer implements OnModuleInit, OnModuleDestroy {
  private readonly cache = new Map<string, { quota: EffectiveQuota | undefined; at: number }>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    @Inject(DATABASE) private readonly database: Database,
    private readonly quotas: EffectiveQuotaService,
    private readonly usageRepo: UsageRepository,
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
   * Take one token from the tenant's bucket for this endpoint class (a write waits once, up to
   * WRITE_MAX_WAIT_MS, for the next token), or refuse with 429 tenant_rate_limited_<class>; then
   * count one monthly operation, or refuse with 403 quota_exceeded.
   */
  async admit(tenantId: string, cls: EndpointClass): Promise<Admission> {
    const q = await this.quotaOf(tenantId);
    const rate = cls === 'write' ? q.values.write_rps : q.values.recall_rps;
    const burst = cls === 'write' ? q.values.write_burst : q.values.recall_burst;
    let waitedMs = 0;
    let left = await this.usageRepo.takeToken(tenantId, cls, rate, burst);
    if (left === null) {
      const tokens = await this.usageRepo.tokens(tenantId, cls, rate, burst);
      const waitMs = Math.max(1, Math.ceil(((1 - tokens) / rate) * 1000));
      if (cls === 'write' && waitMs <= WRITE_MAX_WAIT_MS) {
        await sleep(waitMs);
        waitedMs = waitMs;
        left = await this.usageRepo.takeToken(tenantId, cls, rate, burst);
      }
      if (left === null) {
        const retryMs = Math.max(1, Math.ceil(((1 - (await this.usageRepo.tokens(tenantId, cls, rate, burst))) / rate) * 1000));
        throw new AppError(cls === 'write' ? 'tenant_rate_limited_write' : 'tenant_rate_limited_recall', `the ${cls} rate limit of this tenant is ${rate}/s with bursts of ${burst}; retry after ${Math.ceil(retryMs / 1000)} s`, {
          tenant_id: tenantId,
          retry_after_ms: retryMs,
          waited_ms: waitedMs,
          endpoint_class: cls,
          limit: burst,
          reset: Math.ceil(burst / rate),
        });
      }
    }
    const period = monthOf(new Date());
    if (!(await this.usageRepo.countOperation(tenantId, period, q.values.monthly_operations))) {
      await this.usageRepo.returnToken(tenantId, cls, burst);
      throw new AppError('quota_exceeded', `this tenant has used its ${q.values.monthly_operations} operations for ${period}`, { quota: 'monthly_operations', limit: q.values.monthly_operations });
    }
    return { limit: burst, remaining: Math.floor(left), resetSeconds: Math.ceil((burst - left) / rate), waitedMs, charged: { tenantId, cls, burst, period } };
  }

  /** Give back what admit() charged: a request that failed (a client mistake found in the handler, back-pressure, a fault of ours) costs nothing. */
  async refund(a: Admission): Promise<void> {
    await this.usageRepo.returnToken(a.charged.tenantId, a.charged.cls, a.charged.burst);
    await this.usageRepo.uncountOperation(a.charged.tenantId, a.charged.period);
  }

  /** Usage this month, for the tenant's operators. */
  async usage(tenantId: string): Promise<{ period: string; operations: number; stored_nodes: number }> {
    const period = monthOf(new Date());
    return { period, ...(await this.usageRepo.usage(tenantId, period)) };
  }
}
