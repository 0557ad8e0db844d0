import { Controller, Get, Inject, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { sql } from 'kysely';
import { z } from 'zod';
import { AdminAuthGuard } from '../../control-plane/operators/admin-auth.guard';
import { TENANT_ID_PATTERN } from '../../control-plane/shared/ids';
import { DATABASE, type Database } from '../../platform/db/database';
import { AppError } from '../../platform/errors/app-error';
import { parseInput } from '../../platform/http/validation';
import { ProjectionsService } from '../../platform/projections/projections.service';
import { QuotaEnforcer } from '../quotas/quota-enforcer';
import { TelemetryRecorder } from './telemetry-recorder';
import { BUCKETS, emptyRollup, merge, type Rollup, SLO_TARGETS, summary } from './telemetry';

const Params = z.strictObject({ tenant_id: z.string().regex(TENANT_ID_PATTERN) });
const WINDOWS = { '1h': 3600, '6h': 21_600, '24h': 86_400, '7d': 604_800 } as const;
const SeriesQuery = z.strictObject({
  window: z.enum(['1h', '6h', '24h', '7d']).optional(),
  bucket: z.enum(['minute', 'hour']).optional(),
  endpoint: z.enum(['write', 'recall', 'recall_text', 'find', 'commits', 'verify']).optional(),
});

interface Row {
  t: Date;
  total: number;
  status_2xx: number;
  status_4xx: number;
  status_429: number;
  status_5xx: number;
  latency_sum_ms: number;
  buckets: (number | string)[];
}

const toRollup = (r: Row): Rollup => ({
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
@ApiBearerAuth()
@Controller('v1/admin/control/dashboard/tenants/:tenant_id')
@UseGuards(AdminAuthGuard)
export class DashboardController {
  constructor(
    @Inject(DATABASE) private readonly database: Database,
    private readonly quotas: QuotaEnforcer,
    private readonly telemetry: TelemetryRecorder,
    private readonly projections: ProjectionsService,
  ) {}

  /** Rollups of the window, summed per bucket (minute or hour) in commit-independent time order. */
  private async series(tenant: string, seconds: number, bucket: 'minute' | 'hour', endpoint?: string): Promise<{ t: string; rollup: Rollup }[]> {
    const r = await sql<Row>`
      SELECT minute AS t, total, status_2xx, status_4xx, status_429, status_5xx, latency_sum_ms, buckets
      FROM telemetry_rollups
      WHERE tenant_id = ${tenant} AND minute >= clock_timestamp() - make_interval(secs => ${seconds}) ${endpoint ? sql`AND endpoint = ${endpoint}` : sql``}
      ORDER BY minute`.execute(this.database.db);
    const byBucket = new Map<string, Rollup>();
    for (const row of r.rows) {
      const d = new Date(row.t);
      if (bucket === 'hour') d.setUTCMinutes(0, 0, 0);
      const key = d.toISOString();
      byBucket.set(key, merge(byBucket.get(key) ?? emptyRollup(), toRollup(row)));
    }
    return [...byBucket.entries()].map(([t, rollup]) => ({ t, rollup }));
  }

  @Get()
  @ApiOperation({ summary: 'Tenant dashboard: status, tier, keys, quota use, requests/errors/latency (1 h, 24 h), outbox, memory size, projection lag' })
  async dashboard(@Param() params: unknown) {
    const { tenant_id } = parseInput(Params, params, 'params');
    const q = await this.quotas.quotaOf(tenant_id).catch(() => undefined);
    if (!q) throw new AppError('tenant_not_found', `tenant ${tenant_id} does not exist`, { tenant_id });
    await this.telemetry.flush();
    const db = this.database.db;
    const tenant = await sql<{ status: string; display_name: string }>`SELECT status, display_name FROM rm_tenants WHERE tenant_id = ${tenant_id}`.execute(db);
    const keys = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM rm_api_keys WHERE tenant_id = ${tenant_id} GROUP BY status`.execute(db);
    const outbox = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM memory_outbox WHERE tenant_id = ${tenant_id} AND status IN ('pending', 'processing', 'dead_letter') GROUP BY status`.execute(db);
    const retrying = await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_outbox WHERE tenant_id = ${tenant_id} AND status = 'pending' AND attempts > 0`.execute(db);
    const size = await sql<{ nodes: number; edges: number; commits: number }>`
      SELECT (SELECT count(*)::int FROM memory_nodes WHERE tenant_id = ${tenant_id}) AS nodes,
             (SELECT count(*)::int FROM memory_edges WHERE tenant_id = ${tenant_id}) AS edges,
             (SELECT count(*)::int FROM memory_commits WHERE tenant_id = ${tenant_id}) AS commits`.execute(db);
    const window = async (seconds: number) => summary((await this.series(tenant_id, seconds, 'hour')).map((b) => b.rollup).reduce(merge, emptyRollup()));
    const counts = (rows: { status: string; n: number }[]) => Object.fromEntries(rows.map((r) => [r.status, r.n]));
    const o = counts(outbox.rows);
    return {
      tenant_id,
      status: tenant.rows[0]?.status ?? null,
      tier: q.tier,
      slo_target: SLO_TARGETS[q.tier],
      keys: { active: counts(keys.rows).active ?? 0, revoked: counts(keys.rows).revoked ?? 0 },
      quota: await this.quotas.usage(tenant_id).then((u) => ({ period: u.period, operations: { used: u.operations, limit: q.values.monthly_operations }, stored_nodes: { used: u.stored_nodes, limit: q.values.max_stored_nodes } })),
      requests: { last_hour: await window(3600), last_day: await window(86_400) },
      outbox: { pending: (o.pending ?? 0) - (retrying.rows[0]?.n ?? 0), retrying: retrying.rows[0]?.n ?? 0, processing: o.processing ?? 0, dead_letter: o.dead_letter ?? 0 },
      memory: size.rows[0],
      projections: (await this.projections.health()).map((p) => ({ projection: p.projection, state: p.state, lag_ms: p.lag_ms, lag_events: p.lag_events })),
    };
  }

  @Get('timeseries')
  @ApiOperation({ summary: 'Buckets with counts, error rate, latency percentiles (from histograms) and error-budget burn against the tier SLO' })
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
