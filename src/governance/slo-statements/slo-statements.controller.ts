import { Controller, Get, HttpCode, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { AdminAuthGuard, AdminWrite } from '../../control-plane/operators/admin-auth.guard';
import { commandContext } from '../../control-plane/shared/http';
import { TENANT_ID_PATTERN, TENANT_ID_RULE } from '../../control-plane/shared/ids';
import { ApiContract, objectResponse } from '../../platform/http/openapi';
import { parseInput } from '../../platform/http/validation';
import { GovernanceService } from '../governance.service';
import { computeStatement, issuedStatements, issueStatement } from './slo-statements';
import { renderSloStatementMarkdown } from './statement';

const TenantParams = z.strictObject({ tenant_id: z.string().regex(TENANT_ID_PATTERN, `must be ${TENANT_ID_RULE}`) });
/** Shape only here; the calendar (month 01..12, not in the future) is checked when computing, as the CLI does. */
const MonthParams = TenantParams.extend({ month: z.string().regex(/^\d{4}-\d{2}$/, 'a calendar month YYYY-MM, e.g. 2026-11') });
const GetQuery = z.strictObject({ format: z.enum(['json', 'markdown']).optional() });

const IssuedSchema = z.object({
  tenant_id: z.string(),
  month: z.string(),
  bundle_id: z.string().describe('the signed slo-statement evidence bundle (evidence:verify)'),
  statement_sha256: z.string().describe("SHA-256 of the bundle's statement.json"),
  provisional: z.boolean(),
  as_of: z.string(),
  issued_at: z.string(),
  issued_by: z.string(),
});
const IssueResponse = z.object({
  issued: z.boolean().describe('false: the latest issue of this month already holds exactly this statement (nothing archived or recorded)'),
  issue: IssuedSchema,
  location: z.string().describe('where the bundle is in the archive'),
  statement: objectResponse('the statement (docs/slo.md)'),
});

/**
 * Contractual SLO statements per tenant and calendar month (docs/slo.md). Every operator role
 * reads and computes (auditors included); owners and operators issue (archive) one.
 */
@ApiTags('slo-statements')
@Controller('v1/admin/control/tenants')
@UseGuards(AdminAuthGuard)
export class SloStatementsController {
  constructor(private readonly governance: GovernanceService) {}

  @Get(':tenant_id/slo-statements')
  @ApiContract({ summary: "The tenant's issued SLO statements, newest first (from its SloStatementIssued events)", auth: 'operator', params: TenantParams, response: { status: 200, description: 'Issued statements', schema: z.object({ items: z.array(IssuedSchema) }) }, example: { params: { tenant_id: 'initech' } } })
  async list(@Param() params: unknown) {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    return { items: await issuedStatements(this.governance.eventStore, tenant_id) };
  }

  @Get(':tenant_id/slo-statements/:month')
  @ApiContract({
    summary: "Compute the tenant's SLO statement for a calendar month (UTC) now, without archiving it: canonical JSON (the bytes an issue archives), or ?format=markdown",
    auth: 'operator',
    params: MonthParams,
    query: GetQuery,
    response: { status: 200, description: 'statement.json (X-Statement-SHA256 is its SHA-256); SLO_STATEMENT.md with format=markdown', schema: objectResponse('the statement (docs/slo.md)'), alternatives: { 'text/markdown': z.string() } },
    example: { params: { tenant_id: 'initech', month: '2026-11' } },
  })
  async get(@Param() params: unknown, @Query() query: unknown, @Res({ passthrough: true }) res: Response): Promise<string> {
    const { tenant_id, month } = parseInput(MonthParams, params, 'params');
    const { format } = parseInput(GetQuery, query, 'query');
    const c = await computeStatement(this.governance.database, tenant_id, month);
    res.setHeader('X-Statement-SHA256', c.sha256);
    if (format === 'markdown') {
      res.type('text/markdown; charset=utf-8');
      return renderSloStatementMarkdown(c.statement);
    }
    res.type('application/json; charset=utf-8');
    return c.bytes.toString('utf8');
  }

  @Post(':tenant_id/slo-statements/:month')
  @AdminWrite()
  @HttpCode(200)
  @ApiContract({
    summary: 'Issue the SLO statement of a month: archive it as a signed slo-statement evidence bundle and record SloStatementIssued (issued: false, nothing new, when the latest issue of the month holds the same statement)',
    auth: 'operator',
    params: MonthParams,
    response: { status: 200, description: 'The issue: archived now (issued: true), or the latest issue of the month, which holds exactly this statement (issued: false)', schema: IssueResponse },
    errors: [422],
    example: { params: { tenant_id: 'initech', month: '2026-11' } },
  })
  async issue(@Req() req: Request, @Param() params: unknown) {
    const { tenant_id, month } = parseInput(MonthParams, params, 'params');
    return issueStatement(this.governance.sloIssueDeps(), tenant_id, month, commandContext(req), 'api');
  }
}
