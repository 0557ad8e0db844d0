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
import { type RollupRow, TelemetryRepository } from './telemetry.repository';
import { BUCKETS, emptyRollup, merge, type Rollup, SLO_TARGETS, summary } from './telemetry';
import { ApiContract, objectResponse } from '../../platform/http/openapi';

const Params = z.strictObject({ tenant_id: z.string().regex(TENANT_ID_PATTERN) });
const WINDOWS = { '1h': 3600, '6h': 21_600, '24h': 86_400, '7d': 604_800, '30d': 2_592_000 } as const;
const SeriesQuery = z.strictObject({
  window: z.enum(['1h', '6h', '24h', '7d', '30d']).optional(),
  bucket: z.enum(['minute', 'hour']).optional(),
  endpoint: z.enum(MEMORY_ENDPOINTS).optional(),
});

const toRollup = (r: RollupRow): Rollup => ({
  total: Number(r.total),
  status_2xx: Number(r.status_2xx),
  status_4xx: Number(r.status_4xx),
  status_429: Number(r.status_429),
  status_5xx: Number(r.status_5xx),
  latency_sum_ms: Number(r.latency_sum_ms),
  buckets: Array.from({ length: BUCKETS }, (_, i) => Number(r.buckets[i] ?? 0)),
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

  /** Rollups of the window, summed per bucket (minute or hour) in commit-independent time order. */
  private async series(tenant: string, seconds: number, bucket: 'minute' | 'hour', endpoint?: string): Promise<{ t: string; rollup: Rollup }[]> {
    const byBucket = new Map<string, Rollup>();
    for (const row of await this.repo.rollups(tenant, seconds, endpoint)) {
      const d = new Date(row.t);
      if (bucket === 'hour') d.setUTCMinutes(0, 0, 0);
      const key = d.toISOString();
      byBucket.set(key, merge(byBucket.get(key) ?? emptyRollup(), toRollup(row)));
    }
    return [...byBucket.entries()].map(([t, rollup]) => ({ t, rollup }));
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
      slo_target: SLO_TARGETS[q.tier],
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
    const bucket = s.bucket ?? (window === '1h' || window === '6h' ? 'minute' : 'hour');
    const rows = await this.series(tenant_id, WINDOWS[window], bucket, s.endpoint);
    const budget = 1 - SLO_TARGETS[q.tier];
    return {
      tenant_id,
      window,
      bucket,
      endpoint: s.endpoint ?? null,
      slo_target: SLO_TARGETS[q.tier],
      buckets: rows.map((r) => {
        const sum = summary(r.rollup);
        return { start: r.t, ...sum, error_budget_burn: Math.round((sum.error_rate / budget) * 1000) / 1000 };
      }),
    };
  }
}
