import { Controller, Get, Query, Res, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { AlertsRepository } from '../alerting/alerts.repository';
import { AdminAuthGuard } from '../control-plane/operators/admin-auth.guard';
import { TIERS } from '../control-plane/tenants/tenant.domain';
import { TenantsRepository } from '../control-plane/tenants/tenant.queries';
import { cursorCodec, cursorParam, cursorPosition } from '../platform/http/cursor';
import { ApiContract, named } from '../platform/http/openapi';
import { parseInput } from '../platform/http/validation';
import { OutboxRepository } from '../data-plane/outbox/outbox.repository';
import { QuotaEnforcer } from '../data-plane/quotas/quota-enforcer';
import { OVERVIEW_SORTS, type OverviewRow, overviewPage } from '../data-plane/telemetry/overview';
import { BUCKETS, percentile } from '../data-plane/telemetry/telemetry';
import { TelemetryRecorder } from '../data-plane/telemetry/telemetry-recorder';
import { TelemetryRepository } from '../data-plane/telemetry/telemetry.repository';

const OverviewQuery = z.strictObject({
  q: z.string().trim().min(1).max(100).optional().describe('substring of the tenant id or display name'),
  status: z.enum(['active', 'suspended']).optional(),
  tier: z.enum(TIERS).optional(),
  attention: z.enum(['true', 'false']).optional().describe('true: only tenants with errors, dead letters or a firing alert, or not active'),
  sort: z.enum(OVERVIEW_SORTS).optional().describe('default tenant_id'),
  order: z.enum(['asc', 'desc']).optional().describe('default asc for tenant_id, desc otherwise'),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  cursor: cursorParam.optional(),
});
const overviewCursor = cursorCodec({ offset: cursorPosition });

const OverviewItem = named(
  'TenantOverview',
  z.object({
    tenant_id: z.string(),
    display_name: z.string(),
    status: z.string(),
    tier: z.string(),
    requests: z.number().int().describe('authenticated memory requests in the last hour'),
    errors: z.number().int().describe('5xx and 429 answers in the last hour'),
    error_rate: z.number(),
    p95_ms: z.number().nullable().describe('95th percentile latency (histogram bucket bound, ms); 5001 = over 5000; null without traffic'),
    outbox_backlog: z.number().int().describe('outbox jobs pending or processing'),
    dead_letters: z.number().int(),
    firing_alerts: z.number().int().describe('alerts firing for this tenant now (all of them, counted from the alerts read model)'),
    quota: z.object({ period: z.string(), operations_used: z.number().int(), operations_limit: z.number(), ratio: z.number() }).nullable(),
  }),
);
const OverviewPage = z.object({ items: z.array(OverviewItem.schema), total: z.number().int(), next_cursor: z.string().nullable(), generated_at: z.string() });

/** The console's overview: every tenant's health at a glance (docs/console.md). */
@ApiTags('dashboard')
@Controller('v1/admin/control/overview')
@UseGuards(AdminAuthGuard)
export class OverviewController {
  constructor(
    private readonly tenants: TenantsRepository,
    private readonly telemetry: TelemetryRepository,
    private readonly recorder: TelemetryRecorder,
    private readonly outbox: OutboxRepository,
    private readonly quotas: QuotaEnforcer,
    private readonly alerts: AlertsRepository,
  ) {}

  @Get('tenants')
  @ApiContract({
    summary: 'Every tenant with status, tier, last-hour requests, error rate and p95, outbox backlog, dead letters, firing alerts and quota use; filtered, sorted, paged',
    auth: 'operator',
    query: OverviewQuery,
    response: { status: 200, description: 'A page of tenants (total = all that match)', schema: OverviewPage },
    example: { query: { sort: 'error_rate', order: 'desc', limit: '50' } },
  })
  async tenantsOverview(@Query() query: unknown, @Res({ passthrough: true }) res: Response) {
    const q = parseInput(OverviewQuery, query, 'query');
    await this.recorder.flush();
    const [tenants, traffic, backlog, firing] = await Promise.all([this.tenants.summaries(), this.telemetry.totalsByTenant(3600), this.outbox.backlogByTenant(), this.alerts.firingByTenant()]);
    const byTenant = new Map(traffic.map((t) => [t.tenant_id, t]));
    const jobs = new Map(backlog.map((b) => [b.tenant_id, b]));
    const alerts = new Map(firing.map((f) => [f.tenant_id, f.firing]));
    const rows: OverviewRow[] = tenants.map((t) => {
      const r = byTenant.get(t.tenant_id);
      const requests = Number(r?.total ?? 0);
      const errors = Number(r?.status_5xx ?? 0) + Number(r?.status_429 ?? 0);
      const buckets = Array.from({ length: BUCKETS }, (_, i) => Number(r?.buckets[i] ?? 0));
      const p95 = percentile(buckets, 0.95);
      return {
        tenant_id: t.tenant_id,
        display_name: t.display_name,
        status: t.status,
        tier: t.tier,
        requests,
        errors,
        error_rate: requests === 0 ? 0 : Math.round((errors / requests) * 1e6) / 1e6,
        p95_ms: p95 === null ? null : Number.isFinite(p95) ? p95 : 5001,
        outbox_backlog: jobs.get(t.tenant_id)?.backlog ?? 0,
        dead_letters: jobs.get(t.tenant_id)?.dead_letter ?? 0,
        firing_alerts: alerts.get(t.tenant_id) ?? 0,
      };
    });
    const sort = q.sort ?? 'tenant_id';
    const limit = q.limit ?? 50;
    const offset = q.cursor ? Number(overviewCursor.decode(q.cursor).offset) : 0;
    const page = overviewPage(rows, {
      ...(q.q ? { q: q.q } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.tier ? { tier: q.tier } : {}),
      attention: q.attention === 'true',
      sort,
      order: q.order ?? (sort === 'tenant_id' ? 'asc' : 'desc'),
      offset,
      limit,
    });
    // Quota use only for the page shown (one read per tenant on it).
    const items = await Promise.all(
      page.items.map(async (row) => {
        const quota = await this.quotas.quotaOf(row.tenant_id).catch(() => undefined);
        const used = await this.quotas.usage(row.tenant_id);
        const lim = quota?.values.monthly_operations;
        return { ...row, quota: lim ? { period: used.period, operations_used: used.operations, operations_limit: lim, ratio: Math.round((used.operations / lim) * 1e4) / 1e4 } : null };
      }),
    );
    res.setHeader('Cache-Control', 'no-store');
    return { items, total: page.total, next_cursor: page.next_offset === null ? null : overviewCursor.encode({ offset: String(page.next_offset) }), generated_at: new Date().toISOString() };
  }
}
