import { Body, Controller, Get, HttpCode, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { z } from 'zod';
import { AdminAuthGuard, AdminWrite } from '../../control-plane/operators/admin-auth.guard';
import { AppError } from '../../platform/errors/app-error';
import { contextOf } from '../../platform/http/request-context';
import { parseInput } from '../../platform/http/validation';
import { GovernanceService } from '../governance.service';
import { evaluateCompliance } from './compliance';
import { DRILL_OUTCOMES, recordDrill } from './drills';
import { type ComplianceMapping, drillRunbooks, FRAMEWORKS, loadComplianceMapping } from './mapping';
import { STATUSES } from './status';
import { ApiContract, objectResponse } from '../../platform/http/openapi';

const ControlsQuery = z.strictObject({
  status: z.enum(STATUSES).optional(),
  framework: z
    .string()
    .regex(/^(soc2|iso27001)(:[A-Za-z0-9.]{1,16})?$/, 'soc2 or iso27001, optionally with a criterion: soc2:CC6.1, iso27001:A.8.24')
    .optional(),
  as_of: z.iso.datetime({ offset: true, message: 'an ISO-8601 instant such as 2026-11-30T00:00:00Z' }).optional(),
});

/** The drill body as documented (the runbook is further limited to the mapped runbooks at run time). */
const DrillBodyDoc = z.strictObject({ runbook: z.string().describe('a runbook the mapping asks drills of, e.g. runbooks/key-compromise.md'), outcome: z.enum(DRILL_OUTCOMES), notes: z.string().max(2000).optional() });

/**
 * The compliance view (docs/compliance.md): every mapped control with its latest evidence, age and
 * status. Every operator role reads (auditors included); owners and operators record drills.
 */
@ApiTags('governance')
@Controller('v1/admin/control/compliance')
@UseGuards(AdminAuthGuard)
export class ComplianceController {
  private readonly mapping: ComplianceMapping;
  private readonly drillBody: z.ZodType<{ runbook: string; outcome: (typeof DRILL_OUTCOMES)[number]; notes?: string | undefined }>;

  constructor(private readonly governance: GovernanceService) {
    // Fail fast: a service with an invalid mapping does not start.
    this.mapping = loadComplianceMapping();
    const runbooks = drillRunbooks(this.mapping);
    this.drillBody = z.strictObject({
      runbook: z.string().refine((r) => runbooks.includes(r), { message: `one of the mapped runbooks: ${runbooks.join(', ')}` }),
      outcome: z.enum(DRILL_OUTCOMES),
      notes: z
        .string()
        .trim()
        .min(1)
        .max(2000)
        .refine((s) => !s.includes('\u0000'), { message: 'must not contain NUL characters' })
        .optional(),
    });
  }

  @Get('controls')
  @ApiContract({ summary: 'Each mapped control with its latest evidence, age and status (satisfied, stale, failing, no_evidence); filter by status and framework', auth: 'operator', query: ControlsQuery, response: { status: 200, description: 'Controls with their status', schema: objectResponse("{controls, summary, ...} (docs/compliance.md)") }, example: { query: { status: 'satisfied', framework: 'soc2' } } })
  async controls(@Query() query: unknown) {
    const q = parseInput(ControlsQuery, query, 'query');
    let fw: { framework: string; id: string | undefined } | undefined;
    if (q.framework) {
      const [framework, id] = q.framework.split(':') as [(typeof FRAMEWORKS)[number], string | undefined];
      if (id !== undefined && !(id in this.mapping.frameworks[framework].criteria)) {
        throw new AppError('validation_failed', `${framework} criterion ${id} is not in the mapping`, { errors: [{ field: 'query.framework', message: `unknown ${framework} criterion ${id}` }] });
      }
      fw = { framework, id };
    }
    if (q.as_of && Date.parse(q.as_of) > Date.now()) {
      throw new AppError('validation_failed', 'as_of is in the future', { errors: [{ field: 'query.as_of', message: 'must not be in the future' }] });
    }
    const report = await evaluateCompliance({ database: this.governance.database, archive: this.governance.archive }, this.mapping, q.as_of ? { asOf: q.as_of } : {});
    const controls = report.controls.filter((c) => (!q.status || c.status === q.status) && (!fw || c.frameworks.some((f) => f.framework === fw.framework && (fw.id === undefined || f.id === fw.id))));
    const summary = { satisfied: 0, stale: 0, failing: 0, no_evidence: 0 };
    for (const c of controls) summary[c.status]++;
    return {
      mapping_version: report.mapping_version,
      as_of: report.as_of,
      log_position: report.log_position,
      system: report.system,
      controls: controls.map((c) => ({ id: c.id, title: c.title, category: c.category, frameworks: c.frameworks, status: c.status, evidence: c.evidence })),
      summary,
    };
  }

  @Post('drills')
  @AdminWrite()
  @HttpCode(201)
  @ApiContract({ summary: 'Record a runbook drill (evidence for the controls that map it)', auth: 'operator', body: DrillBodyDoc, response: { status: 201, description: 'The recorded drill', schema: objectResponse("{drill, ...}") }, example: { body: { runbook: 'runbooks/key-compromise.md', outcome: 'passed', notes: 'quarterly drill' } } })
  async drill(@Req() req: Request, @Body() body: unknown) {
    const b = parseInput(this.drillBody, body, 'body');
    const ctx = contextOf(req);
    if (!ctx.actor) throw new AppError('unauthorized', 'no authenticated operator');
    return recordDrill(this.governance.database, this.governance.eventStore, { runbook: b.runbook, outcome: b.outcome, notes: b.notes ?? null }, {
      actor: ctx.actor,
      requestId: ctx.requestId,
      correlationId: ctx.correlationId,
      sourceIp: ctx.sourceIp,
      userAgent: ctx.userAgent,
    });
  }
}
