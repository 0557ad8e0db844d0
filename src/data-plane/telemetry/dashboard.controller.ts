import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AdminAuthGuard } from '../../control-plane/operators/admin-auth.guard';
import { TENANT_ID_PATTERN } from '../../control-plane/shared/ids';
import { AppError } from '../../platform/errors/app-error';
import { parseInput } from '../../platform/http/validation';
import { ProjectionsService } from '../../platform/projections/projections.service';
import { OutboxRepository } from '../outbox/outbox.repository';
import { QuotaEnforcer } from '../quotas/quota-enforcer';
import { MEMORY_ENDPOINTS, TelemetryRecorder } from './telemetry-recorder';
import { TelemetryRepository } from './telemetry.repository';
import { bucketRollups, defaultSeriesBucket, emptyRollup, SERIES_WINDOW_SECONDS, SERIES_WINDOWS, merge, type Rollup, SERIES_BUCKET_MS, type SeriesBucket, summary } from './telemetry';
import { backlogAt } from '../outbox/backlog-history';
import { TIER_SLOS } from '../../control-plane/quotas/tiers';
import { ApiContract, objectResponse } from '../../platform/http/openapi';

const Params = z.strictObject({ tenant_id: z.string().regex(TENANT_ID_PATTERN) });
const SeriesQuery = z.strictObject({
  window: z.enum(SERIES_WINDOWS).optional(),
  bucket: z.enum(['minute', 'hour']).optional(),
  endpoint: z.enum(MEMORY_ENDPOINTS).optional(),
});


/** The on-call view of one tenant: health, traffic, errors, latency, backlog, size; and its time series. */
@ApiTags('dashboard')
@Controller('v1/admin/control/dashboard/tenants/:tenant_id')
@UseGuards(AdminAuthGuard)
export class DashboardController {
  constructor(
    private readonly repo: TelemetryRepository,
    private readonly outbox: OutboxRepository,
    private readonly quotas: QuotaEnforcer,
    private readonly telemetry: TelemetryRecorder,
    private readonly projections: ProjectionsService,
  ) {}

  /** Rollups of the window, summed per bucket (minute or hour) in time order. */
  private async series(tenant: string, seconds: number, bucket: SeriesBucket, endpoint?: string): Promise<{ t: string; rollup: Rollup }[]> {
    return bucketRollups(await this.repo.rollups(tenant, seconds, endpoint), bucket);
  }

  @Get()
  @ApiContract({ summary: 'Tenant dashboard: status, tier, keys, quota use, requests/errors/latency (1 h, 24 h), outbox, memory size, projection lag', auth: 'operator', params: Params, response: { status: 200, description: 'The dashboard', schema: objectResponse("the tenant dashboard (docs/observability.md)") }, example: { params: { tenant_id: 'acme' } } })
  async dashboard(@Param() params: unknown) {
    const { tenant_id } = parseInput(Params, params, 'params');
    const q = await this.quotas.quotaOf(tenant_id).catch(() => undefined);
    if (!q) throw new AppError('tenant_not_found', `tenant ${tenant_id} does not exist`, { tenant_id });
    await this.telemetry.flush();
    const window = async (seconds: number) => summary((await this.series(tenant_id, seconds, 'hour')).map((b) => b.rollup).reduce(merge, emptyRollup()));
    const o = await this.outbox.tenantStatus(tenant_id);
    const u = await this.quotas.usage(tenant_id);
    return {
      tenant_id,
      status: await this.repo.tenantStatus(tenant_id),
      tier: q.tier,
      slo_target: TIER_SLOS[q.tier].availability_target,
      keys: await this.repo.keyCounts(tenant_id),
      quota: { period: u.period, operations: { used: u.operations, limit: q.values.monthly_operations }, stored_nodes: { used: u.stored_nodes, limit: q.values.max_stored_nodes } },
      requests: { last_hour: await window(3600), last_day: await window(86_400) },
      outbox: { pending: o.pending, retrying: o.retrying, processing: o.processing, dead_letter: o.dead_letter },
      memory: await this.repo.memorySize(tenant_id),
      projections: (await this.projections.health()).map((p) => ({ projection: p.projection, state: p.state, lag_ms: p.lag_ms, lag_events: p.lag_events })),
    };
  }

  @Get('timeseries')
  @ApiContract({ summary: 'Buckets with counts, error rate, latency percentiles (from histograms) and error-budget burn against the tier SLO', auth: 'operator', params: Params, query: SeriesQuery, response: { status: 200, description: 'The time series', schema: objectResponse("{buckets, ...} (docs/observability.md)") }, example: { params: { tenant_id: 'acme' }, query: { window: '24h', bucket: 'hour' } } })
  async timeseries(@Param() params: unknown, @Query() query: unknown) {
    const { tenant_id } = parseInput(Params, params, 'params');
    const s = parseInput(SeriesQuery, query, 'query');
    const q = await this.quotas.quotaOf(tenant_id).catch(() => undefined);
    if (!q) throw new AppError('tenant_not_found', `tenant ${tenant_id} does not exist`, { tenant_id });
    await this.telemetry.flush();
    const window = s.window ?? '24h';
    const bucket = s.bucket ?? defaultSeriesBucket(window);
    const rows = await this.series(tenant_id, SERIES_WINDOW_SECONDS[window], bucket, s.endpoint);
    const target = TIER_SLOS[q.tier].availability_target;
    const from = new Date(Math.floor((Date.now() - SERIES_WINDOW_SECONDS[window] * 1000) / SERIES_BUCKET_MS[bucket]) * SERIES_BUCKET_MS[bucket]).toISOString();
    const backlog = backlogAt(await this.outbox.backlogHistory(tenant_id, from, bucket), rows.map((r) => r.t));
    return {
      tenant_id,
      window,
      bucket,
      endpoint: s.endpoint ?? null,
      slo_target: target,
      buckets: rows.map((r) => {
        const sum = summary(r.rollup);
        const failed = r.rollup.total === 0 ? 0 : r.rollup.status_5xx / r.rollup.total;
        return { start: r.t, ...sum, error_budget_burn: Math.round((failed / (1 - target)) * 1000) / 1000, outbox_backlog: backlog.get(r.t) ?? 0 };
      }),
    };
  }
}
