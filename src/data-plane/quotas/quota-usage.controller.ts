import { Controller, Get, Param, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AdminAuthGuard } from '../../control-plane/operators/admin-auth.guard';
import { TENANT_ID_PATTERN } from '../../control-plane/shared/ids';
import { AppError } from '../../platform/errors/app-error';
import { parseInput } from '../../platform/http/validation';
import { QuotaEnforcer } from './quota-enforcer';
import { ApiContract, objectResponse } from '../../platform/http/openapi';

const Params = z.strictObject({ tenant_id: z.string().regex(TENANT_ID_PATTERN) });

/** Quota use, for the tenant's operators: this month's operations and stored nodes against their limits. */
@ApiTags('quotas')
@Controller('v1/admin/control/tenants/:tenant_id/quota/usage')
@UseGuards(AdminAuthGuard)
export class QuotaUsageController {
  constructor(private readonly enforcer: QuotaEnforcer) {}

  @Get()
  @ApiContract({ summary: "This month's operations and stored nodes, with the limits in force", auth: 'operator', params: Params, response: { status: 200, description: 'Usage and limits', schema: objectResponse("{tenant_id, month, operations, stored_nodes, limits}") }, example: { params: { tenant_id: 'acme' } } })
  async usage(@Param() params: unknown) {
    const { tenant_id } = parseInput(Params, params, 'params');
    const q = await this.enforcer.quotaOf(tenant_id).catch(() => undefined);
    if (!q) throw new AppError('tenant_not_found', `tenant ${tenant_id} does not exist`, { tenant_id });
    const u = await this.enforcer.usage(tenant_id);
    return {
      tenant_id,
      tier: q.tier,
      period: u.period,
      operations: { used: u.operations, limit: q.values.monthly_operations },
      stored_nodes: { used: u.stored_nodes, limit: q.values.max_stored_nodes },
      rate_limits: { write: { rps: q.values.write_rps, burst: q.values.write_burst }, recall: { rps: q.values.recall_rps, burst: q.values.recall_burst } },
    };
  }
}
