import { Controller, Get, Inject, Param, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AdminAuthGuard } from '../../control-plane/operators/admin-auth.guard';
import { TENANT_ID_PATTERN } from '../../control-plane/shared/ids';
import { DATABASE, type Database } from '../../platform/db/database';
import { AppError } from '../../platform/errors/app-error';
import { parseInput } from '../../platform/http/validation';
import { auditDecision } from './decision-audit';
import { ApiContract, objectResponse } from '../../platform/http/openapi';

const Params = z.strictObject({ tenant_id: z.string().regex(TENANT_ID_PATTERN), decision_id: z.guid() });

/** Auditors' view of a tools/select decision: re-evaluated from the chain as it stood at the decision (read-only; every role). */
@ApiTags('audit')
@Controller('v1/admin/control/tenants/:tenant_id/decisions/:decision_id')
@UseGuards(AdminAuthGuard)
export class DecisionsController {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  @Get('verify')
  @ApiContract({ summary: "Re-evaluate a decision's rules as they stood at its commit: the same policy hash, sources and selection, or what differs", auth: 'operator', params: Params, response: { status: 200, description: 'The verification', schema: objectResponse("{ok, differences, ...}") }, example: { params: { tenant_id: 'acme', decision_id: '00000000-0000-4000-8000-00000000d001' } } })
  async verify(@Param() params: unknown) {
    const p = parseInput(Params, params, 'params');
    const report = await auditDecision(this.database, p.tenant_id, p.decision_id);
    if (!report) throw new AppError('not_found', `tenant ${p.tenant_id} has no decision ${p.decision_id}`, { tenant_id: p.tenant_id, decision_id: p.decision_id });
    return report;
  }
}
