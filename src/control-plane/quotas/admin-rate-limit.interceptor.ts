import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { AppError } from '../../platform/errors/app-error';
import { contextOf } from '../../platform/http/request-context';
import { isTenantId } from '../shared/ids';
import { EffectiveQuotaService } from './effective-quota.service';
import { RateLimitBucketsRepository } from './rate-limit-buckets.repository';

/** The tenant an admin call is about: the `tenant_id` path parameter, else the body's or the query's `tenant_id`. */
export function adminCallTenant(req: Pick<Request, 'params' | 'body' | 'query'>): string | undefined {
  const candidates: unknown[] = [req.params?.tenant_id, (req.body as { tenant_id?: unknown } | undefined)?.tenant_id, req.query?.tenant_id];
  return candidates.find((c): c is string => typeof c === 'string' && isTenantId(c));
}

/** The bucket of one operator's admin calls about one tenant (rate_limit_buckets.endpoint_class). */
export const adminBucket = (operatorId: string): string => `admin:${operatorId}`;

/**
 * The tiers' admin_rps and admin_burst, enforced: every admin call about a tenant (after the admin
 * guard has named the operator) takes a token from the bucket of that operator and tenant, sized
 * by the tenant's effective quota. An empty bucket answers 429 admin_rate_limited with Retry-After
 * and X-RateLimit-* (as the memory API's limits do); an admitted call carries X-RateLimit-* too.
 * Calls about no tenant (operators, platform-wide lists) and calls about a tenant that does not
 * exist are not limited here. ADMIN_RATE_LIMITS=false turns it off.
 */
@Injectable()
export class AdminRateLimitInterceptor implements NestInterceptor {
  constructor(
    private readonly quotas: EffectiveQuotaService,
    private readonly buckets: RateLimitBucketsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http' || !this.config.http.adminRateLimits) return next.handle();
    const req = context.switchToHttp().getRequest<Request>();
    const ctx = contextOf(req);
    const tenantId = ctx.operatorRole !== undefined && ctx.actor?.type === 'operator' ? adminCallTenant(req) : undefined;
    if (!ctx.actor || tenantId === undefined) return next.handle();
    const quota = await this.quotas.get(tenantId);
    if (!quota) return next.handle();
    const rate = quota.values.admin_rps;
    const burst = quota.values.admin_burst;
    const bucket = adminBucket(ctx.actor.id);
    const left = await this.buckets.take(tenantId, bucket, rate, burst);
    if (left === null) {
      const retryMs = Math.max(1, Math.ceil(((1 - (await this.buckets.level(tenantId, bucket, rate, burst))) / rate) * 1000));
      throw new AppError('admin_rate_limited', `operator ${ctx.actor.id} may make ${rate} admin calls per second about tenant ${tenantId}, with bursts of ${burst}; retry after ${Math.ceil(retryMs / 1000)} s`, {
        tenant_id: tenantId,
        operator_id: ctx.actor.id,
        retry_after_ms: retryMs,
        limit: burst,
        reset: Math.ceil(burst / rate),
      });
    }
    const res = context.switchToHttp().getResponse<Response>();
    res.setHeader('X-RateLimit-Limit', String(burst));
    res.setHeader('X-RateLimit-Remaining', String(Math.floor(left)));
    res.setHeader('X-RateLimit-Reset', String(Math.ceil((burst - left) / rate)));
    return next.handle();
  }
}
