import { Body, Controller, Delete, Get, HttpCode, Param, Put, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { AppError } from '../../platform/errors/app-error';
import { parseInput } from '../../platform/http/validation';
import { AdminAuthGuard, AdminWrite } from '../operators/admin-auth.guard';
import { commandContext } from '../shared/http';
import { TENANT_ID_PATTERN, TENANT_ID_RULE } from '../shared/ids';
import { ExecuteQuotaCommand, type QuotaCommandResult, type QuotaRequest } from './quota.commands';
import { overridesOf } from './quota.domain';
import { GetEffectiveQuotaQuery } from './quota.queries';
import { type EffectiveQuota, effectiveQuota, QUOTA_FIELD_SPECS, QUOTA_FIELDS, type QuotaField } from './tiers';
import { ApiContract, named } from '../../platform/http/openapi';

const EffectiveQuotaSchema = named('EffectiveQuota', z.looseObject({ tenant_id: z.string(), tier: z.string(), values: z.record(z.string(), z.number()), overridden: z.array(z.string()), source: z.record(z.string(), z.enum(['tier', 'override'])), tier_defaults: z.record(z.string(), z.number()), revision: z.number().int() }));

const quotaValue = (f: QuotaField) => {
  const { min, max } = QUOTA_FIELD_SPECS[f];
  return z
    .number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });
};

/** PUT body: the complete override set. A field left out is not overridden; `{}` clears every override. */
export const QuotaOverridesBody = z.strictObject(
  Object.fromEntries(QUOTA_FIELDS.map((f) => [f, quotaValue(f).optional()])) as { [K in QuotaField]: z.ZodOptional<z.ZodNumber> },
);
const TenantParams = z.strictObject({ tenant_id: z.string().regex(TENANT_ID_PATTERN, `must be ${TENANT_ID_RULE}`) });

@ApiTags('quotas')
@Controller('v1/admin/control/tenants')
@UseGuards(AdminAuthGuard)
export class QuotasController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  /** Run a command and answer with the effective quota it leaves (from the streams, not the read models). */
  private async run(req: Request, res: Response, request: QuotaRequest): Promise<EffectiveQuota> {
    const result: QuotaCommandResult = await this.commands.execute(new ExecuteQuotaCommand(request, commandContext(req)));
    if (result.tier === null) throw new Error('quota command for a tenant that does not exist');
    res.setHeader('ETag', `"${result.revision}"`);
    if (!result.readModelCurrent) res.setHeader('X-Aionis-Read-Model', 'stale');
    return effectiveQuota(request.tenant_id, result.tier, overridesOf(result.state), result.revision);
  }

  @Get(':tenant_id/quota')
  @ApiContract({ summary: "The tenant's effective quota: tier defaults with overrides applied; the ETag is the quota revision", auth: 'operator', params: TenantParams, response: { status: 200, description: 'The effective quota (ETag)', schema: EffectiveQuotaSchema }, example: { params: { tenant_id: 'acme' } } })
  async get(@Param() params: unknown, @Res({ passthrough: true }) res: Response): Promise<EffectiveQuota> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const q = await this.queries.execute(new GetEffectiveQuotaQuery(tenant_id));
    if (!q) throw new AppError('tenant_not_found', `tenant ${tenant_id} does not exist`, { tenant_id });
    res.setHeader('ETag', `"${q.revision}"`);
    return q;
  }

  @Put(':tenant_id/quota')
  @AdminWrite()
  @ApiContract({ summary: 'Replace the override set (fields left out are not overridden; If-Match supported; no event if unchanged)', auth: 'operator', params: TenantParams, body: QuotaOverridesBody, response: { status: 200, description: 'The effective quota (ETag)', schema: EffectiveQuotaSchema }, example: { params: { tenant_id: 'acme' }, body: { write_rps: 40, write_burst: 80 } } })
  async put(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<EffectiveQuota> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const overrides = parseInput(QuotaOverridesBody, body, 'body');
    return this.run(req, res, { type: 'SetTenantQuotaOverrides', tenant_id, overrides });
  }

  @Delete(':tenant_id/quota')
  @AdminWrite()
  @HttpCode(200)
  @ApiContract({ summary: 'Clear every override: the tier defaults apply (If-Match supported; no event if there were none)', auth: 'operator', params: TenantParams, response: { status: 200, description: 'The effective quota (ETag)', schema: EffectiveQuotaSchema }, example: { params: { tenant_id: 'acme' } } })
  async clear(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown): Promise<EffectiveQuota> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    return this.run(req, res, { type: 'ClearTenantQuotaOverrides', tenant_id });
  }
}
