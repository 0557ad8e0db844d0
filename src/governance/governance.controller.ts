import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { AdminAuthGuard, AdminWrite } from '../control-plane/operators/admin-auth.guard';
import { AppError } from '../platform/errors/app-error';
import { contextOf } from '../platform/http/request-context';
import { parseInput, queryText } from '../platform/http/validation';
import { bundlePrefix, readBundle } from './evidence/bundles';
import { archivedBundles } from './evidence/evidence-archive';
import { BUNDLE_KINDS, type BundleKind } from './evidence/manifest';
import { GovernanceService } from './governance.service';
import { isoWeekOf, parseIsoWeek, previousIsoWeek } from './reports/iso-week';
import { ApiContract, objectResponse } from '../platform/http/openapi';

const WEEK = z.string().regex(/^\d{4}-W\d{2}$/, 'an ISO week such as 2026-W48');
const ListQuery = z.strictObject({
  week: WEEK.optional(),
  status: z.enum(['passed', 'passed_with_warnings', 'failed']).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});
const IdParams = z.strictObject({ id: z.string().regex(/^[0-9a-f]{64}$/, 'a bundle id (64 hex characters)') });
const FileParams = IdParams.extend({ path: queryText() });
const GetQuery = z.strictObject({ format: z.enum(['json', 'markdown', 'manifest']).optional() });
const RunBody = z.strictObject({ week: WEEK.optional(), position: z.string().regex(/^\d{1,20}:\d{1,16}$/).optional() });
const EvidenceQuery = z.strictObject({
  kind: z.enum(BUNDLE_KINDS as [BundleKind, ...BundleKind[]]).optional(),
  release: queryText(100).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});

/**
 * Governance reports and the evidence archive (docs/governance.md). Every operator role reads
 * (auditors included); only owners and operators run a report.
 */
@ApiTags('governance')
@Controller('v1/admin/control')
@UseGuards(AdminAuthGuard)
export class GovernanceController {
  constructor(private readonly governance: GovernanceService) {}

  @Get('governance/reports')
  @ApiContract({ summary: 'Weekly reports (newest first), filter by week and status', auth: 'operator', query: ListQuery, response: { status: 200, description: 'Archived reports, newest first', schema: z.looseObject({ items: z.array(objectResponse("an archived report")) }) }, example: { query: { status: 'passed', limit: '10' } } })
  async list(@Query() query: unknown) {
    const q = parseInput(ListQuery, query, 'query');
    const rows = await archivedBundles(this.governance.database.db, { kind: 'governance-weekly', ...(q.week ? { label: { name: 'week', value: q.week } } : {}), limit: 500 });
    const items = rows
      .filter((r) => !q.status || r.labels.status === q.status)
      .slice(0, q.limit ?? 100)
      .map((r) => ({ id: r.bundle_id, week: r.labels.week, status: r.labels.status, report_id: r.labels.report_id, trigger: r.labels.trigger, sequence: r.sequence, log_position: r.log_position, archived_at: r.archived_at, actor: r.actor, location: r.location, files: r.files }));
    return { items };
  }

  @Get('governance/reports/:id')
  @ApiContract({ summary: 'One report: report.json (default), ?format=markdown for WEEKLY_REPORT.md, ?format=manifest for the signed manifest', auth: 'operator', params: IdParams, query: GetQuery, response: { status: 200, description: 'report.json; WEEKLY_REPORT.md with format=markdown; the signed manifest with format=manifest', schema: objectResponse('the report or its manifest'), alternatives: { 'text/markdown': z.string() } }, example: { params: { id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' }, query: { format: 'json' } } })
  async get(@Param() params: unknown, @Query() query: unknown, @Res({ passthrough: true }) res: Response): Promise<unknown> {
    const { id } = parseInput(IdParams, params, 'params');
    const { format } = parseInput(GetQuery, query, 'query');
    const bundle = await readBundle(this.governance.archive, 'governance-weekly', id);
    if (!bundle) throw new AppError('not_found', `report ${id} is not in the archive`, { report_id: id });
    if (format === 'manifest') return { id, manifest: bundle.manifest, signature: bundle.signature };
    const file = format === 'markdown' ? 'WEEKLY_REPORT.md' : 'report.json';
    const content = await this.governance.archive.get(`${bundlePrefix('governance-weekly', id)}/files/${file}`);
    if (!content) throw new AppError('not_found', `${file} of report ${id} is missing from the archive (run evidence:verify)`, { report_id: id });
    if (format === 'markdown') {
      res.type('text/markdown; charset=utf-8');
      return content.toString('utf8');
    }
    return JSON.parse(content.toString('utf8')) as unknown;
  }

  @Get('governance/reports/:id/files/:path')
  @ApiContract({ summary: 'A file of the archived report bundle, byte for byte', auth: 'operator', params: FileParams, response: { status: 200, description: 'The file, byte for byte', schema: z.string().describe('the file bytes'), contentType: 'application/octet-stream' }, example: { params: { id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', path: 'report.json' } } })
  async file(@Param() params: unknown, @Res() res: Response): Promise<void> {
    const { id, path } = parseInput(FileParams, params, 'params');
    const bundle = await readBundle(this.governance.archive, 'governance-weekly', id);
    const listed = bundle?.manifest.files.find((f) => f.path === path);
    if (!bundle || !listed) throw new AppError('not_found', `file ${path} of report ${id} does not exist`, { report_id: id });
    const content = await this.governance.archive.get(`${bundlePrefix('governance-weekly', id)}/files/${path}`);
    if (!content) throw new AppError('not_found', `file ${path} of report ${id} is missing from the archive (run evidence:verify)`, { report_id: id });
    res.setHeader('X-Content-SHA256', listed.sha256);
    res.type(path.endsWith('.json') ? 'application/json' : path.endsWith('.md') ? 'text/markdown; charset=utf-8' : 'application/octet-stream').send(content);
  }

  @Post('governance/reports')
  @AdminWrite()
  @HttpCode(201)
  @ApiContract({ summary: 'Run the weekly report now (default: the last complete week) and archive it', auth: 'operator', body: RunBody, bodyRequired: false, response: { status: 201, description: 'The archived report', schema: objectResponse("{id, week, status, ...}") }, example: { body: {} } })
  async run(@Req() req: Request, @Body() body: unknown) {
    const b = parseInput(RunBody, body ?? {}, 'body');
    let week;
    try {
      week = b.week ? parseIsoWeek(b.week) : previousIsoWeek(new Date());
    } catch (err) {
      throw new AppError('validation_failed', err instanceof Error ? err.message : String(err), { errors: [{ field: 'body.week', message: 'not a valid ISO week' }] });
    }
    if (week.start > isoWeekOf(new Date()).start) throw new AppError('validation_failed', `${week.label} has not started yet`, { errors: [{ field: 'body.week', message: 'in the future' }] });
    const actor = contextOf(req).actor;
    if (!actor) throw new AppError('unauthorized', 'no authenticated operator');
    const r = await this.governance.weeklyReport(week, actor, 'api', b.position);
    return { id: r.bundle.id, week: week.label, status: r.report.status, errors: r.report.errors, warnings: r.report.warnings, report_id: r.report.report_id, log_position: r.report.log_position, checks: r.report.checks };
  }

  @Get('evidence')
  @ApiContract({ summary: 'Archived evidence bundles (newest first), filter by kind and release', auth: 'operator', query: EvidenceQuery, response: { status: 200, description: 'Archived bundles, newest first', schema: z.looseObject({ items: z.array(objectResponse("an evidence bundle")) }) }, example: { query: { kind: 'release', release: 'v1.2.0' } } })
  async evidence(@Query() query: unknown) {
    const q = parseInput(EvidenceQuery, query, 'query');
    const rows = await archivedBundles(this.governance.database.db, {
      ...(q.kind ? { kind: q.kind } : {}),
      ...(q.release ? { label: { name: 'release', value: q.release } } : {}),
      limit: q.limit ?? 100,
    });
    return { items: rows.map((r) => ({ id: r.bundle_id, kind: r.kind, sequence: r.sequence, previous_manifest_sha256: r.previous_manifest_sha256, labels: r.labels, log_position: r.log_position, key_id: r.key_id, archived_at: r.archived_at, actor: r.actor, location: r.location, files: r.files })) };
  }
}
