import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AppError } from '../platform/errors/app-error';
import { ApiContract, named } from '../platform/http/openapi';
import { parseInput } from '../platform/http/validation';
import { AdminAuthGuard } from '../control-plane/operators/admin-auth.guard';
import { TENANT_ID_PATTERN, TENANT_ID_RULE } from '../control-plane/shared/ids';
import { isTier } from '../control-plane/quotas/tiers';
import { TelemetryRecorder } from '../data-plane/telemetry/telemetry-recorder';
import { TelemetryRepository } from '../data-plane/telemetry/telemetry.repository';
import { bucketRollups, defaultSeriesBucket, emptyRollup, merge, SERIES_WINDOW_SECONDS, SERIES_WINDOWS } from '../data-plane/telemetry/telemetry';
import { burnSeries, burnSummary } from './burn-series';
import { effectiveSlo, SLO_FIELDS, type SloOverrides } from './slo';
import { TenantSlosRepository } from './tenant-slos.repository';

const Params = z.strictObject({ tenant_id: z.string().regex(TENANT_ID_PATTERN, `must be ${TENANT_ID_RULE}`) });
const Query_ = z.strictObject({ window: z.enum(SERIES_WINDOWS).optional(), bucket: z.enum(['minute', 'hour']).optional() });
const Sli = (bad: 'bad' | 'slow') => z.object({ [bad]: z.number().int(), burn: z.number().describe('error ratio ÷ error budget (1 = spending exactly the budget)') });
const SloBurnSchema = named(
  'SloBurn',
  z.object({
    tenant_id: z.string(),
    window: z.enum(SERIES_WINDOWS),
    bucket: z.enum(['minute', 'hour']),
    targets: z.object(Object.fromEntries(SLO_FIELDS.map((f) => [f, z.number()])) as Record<(typeof SLO_FIELDS)[number], z.ZodNumber>).describe("the tenant's effective SLO"),
    summary: z.object({
      requests: z.number().int(),
      availability: Sli('bad').extend({ budget_consumed: z.number().describe("share of a 30-day error budget this window consumed") }),
      latency: Sli('slow').extend({ budget_consumed: z.number() }),
    }),
    buckets: z.array(z.object({ start: z.string(), requests: z.number().int(), availability: Sli('bad'), latency: Sli('slow') })).describe('buckets with traffic, in time order'),
  }),
);

/**
 * A tenant's error-budget burn over time against its effective SLO (tier targets with overrides),
 * for availability and latency, with the burn-rate alerts' definitions. The console's error-budget
 * chart reads it.
 */
@ApiTags('slos')
@Controller('v1/admin/control/tenants')
@UseGuards(AdminAuthGuard)
export class SloBurnController {
  constructor(
    private readonly slos: TenantSlosRepository,
    private readonly telemetry: TelemetryRepository,
    private readonly recorder: TelemetryRecorder,
  ) {}

  @Get(':tenant_id/slo/burn')
  @ApiContract({
    summary: "Error-budget burn over time against the tenant's effective SLO: availability (5xx) and latency (over the threshold), per bucket and for the window",
    auth: 'operator',
    params: Params,
    query: Query_,
    response: { status: 200, description: 'The burn series', schema: SloBurnSchema },
    example: { params: { tenant_id: 'acme' }, query: { window: '24h', bucket: 'hour' } },
  })
  async burn(@Param() params: unknown, @Query() query: unknown) {
    const { tenant_id } = parseInput(Params, params, 'params');
    const q = parseInput(Query_, query, 'query');
    const s = await this.slos.find(tenant_id);
    if (!s || !isTier(s.tier)) throw new AppError('tenant_not_found', `tenant ${tenant_id} does not exist`, { tenant_id });
    const targets = effectiveSlo(tenant_id, s.tier, s.overrides as SloOverrides, s.revision).targets;
    const window = q.window ?? '24h';
    const bucket = q.bucket ?? defaultSeriesBucket(window);
    await this.recorder.flush();
    const rows = bucketRollups(await this.telemetry.rollups(tenant_id, SERIES_WINDOW_SECONDS[window]), bucket);
    return {
      tenant_id,
      window,
      bucket,
      targets,
      summary: burnSummary(rows.map((r) => r.rollup).reduce(merge, emptyRollup()), targets, SERIES_WINDOW_SECONDS[window]),
      buckets: burnSeries(rows, targets),
    };
  }
}
