import { Body, Controller, HttpCode, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { parseInput, reasonSchema } from '../../platform/http/validation';
import { AdminAuthGuard, AdminWrite } from '../operators/admin-auth.guard';
import { commandContext } from '../shared/http';
import { TENANT_ID_PATTERN, TENANT_ID_RULE } from '../shared/ids';
import { TearDownPerfTenantCommand } from './perf-teardown';
import type { TenantCommandResult } from './tenant.commands';
import { ApiContract, objectResponse } from '../../platform/http/openapi';

const TeardownBody = z.strictObject({ reason: reasonSchema.optional() });
const TenantParams = z.strictObject({ tenant_id: z.string().regex(TENANT_ID_PATTERN, `must be ${TENANT_ID_RULE}`) });

/**
 * `POST /v1/admin/control/tenants/:tenant_id/perf-teardown`: remove a perf tenant's data and
 * close it. Owners and operators; any tenant not created for perf is refused (422 tenant_not_perf).
 */
@ApiTags('tenants')
@Controller('v1/admin/control/tenants')
@UseGuards(AdminAuthGuard)
export class PerfTeardownController {
  constructor(private readonly commands: CommandBus) {}

  @Post(':tenant_id/perf-teardown')
  @AdminWrite()
  @HttpCode(200)
  @ApiContract({ summary: 'Tear down a perf tenant: delete its memory, quota and telemetry rows and close it, in one transaction with the event (422 for any other tenant)', auth: 'operator', params: TenantParams, body: TeardownBody, bodyRequired: false, response: { status: 200, description: 'The teardown: rows removed per table', schema: objectResponse("the torn-down tenant and the rows removed") }, example: { params: { tenant_id: 'perf-load-1' }, body: { reason: 'perf run finished' } } })
  async tearDown(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown) {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const b = parseInput(TeardownBody, body ?? {}, 'body');
    const r: TenantCommandResult = await this.commands.execute(new TearDownPerfTenantCommand(tenant_id, b.reason ?? null, commandContext(req)));
    if (!r.state.exists) throw new Error('teardown left no tenant');
    const { exists: _e, ...tenant } = r.state;
    res.setHeader('ETag', `"${r.revision}"`);
    if (!r.readModelCurrent) res.setHeader('X-Aionis-Read-Model', 'stale');
    const last = r.events.at(-1);
    return { tenant: { ...tenant, revision: r.revision }, event_recorded: r.events.length > 0, removed: last && last.type === 'PerfTenantTornDown' ? (last.data as { removed: unknown }).removed : null };
  }
}
