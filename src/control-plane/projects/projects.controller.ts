import { randomBytes } from 'node:crypto';
import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { ProjectRow } from '../../../projections/projects.projection';
import { AppError } from '../../platform/errors/app-error';
import { metadataSchema, parseInput, reasonSchema } from '../../platform/http/validation';
import { AdminAuthGuard, AdminWrite } from '../operators/admin-auth.guard';
import { commandContext } from '../shared/http';
import { PROJECT_ID_PATTERN, TENANT_ID_PATTERN, TENANT_ID_RULE } from '../shared/ids';
import { ExecuteProjectCommand, type ProjectCommandResult, type ProjectRequest } from './project.commands';
import { GetTenantQuery } from '../tenants/tenant.queries';
import { GetProjectQuery, ListProjectsQuery } from './project.queries';
import { afterIdCursor, cursorParam } from '../../platform/http/cursor';
import { ApiContract, named, pageOf } from '../../platform/http/openapi';

/** The wire shape of a project (documented members). */
export const ProjectSchema = named(
  'Project',
  z.looseObject({
    project_id: z.string(),
    tenant_id: z.string(),
    display_name: z.string(),
    metadata: z.record(z.string(), z.unknown()),
    status: z.enum(['active', 'archived']),
    created_at: z.string(),
    updated_at: z.string(),
    archived_at: z.string().nullable(),
    revision: z.number().int().describe('the stream revision; also the ETag'),
  }),
);

const tenantId = z.string().regex(TENANT_ID_PATTERN, `must be ${TENANT_ID_RULE}`);
const projectId = z.string().regex(PROJECT_ID_PATTERN, `must be ${TENANT_ID_RULE}`);
const displayName = z.string().trim().min(1).max(200);

const CreateBody = z.strictObject({ project_id: projectId.optional(), display_name: displayName.optional(), metadata: metadataSchema.optional() });
export const CreateProjectBody = CreateBody.extend({ tenant_id: tenantId });
export const UpdateProjectBody = z
  .strictObject({ display_name: displayName.optional(), metadata: metadataSchema.optional() })
  .refine((b) => b.display_name !== undefined || b.metadata !== undefined, { message: 'give display_name and/or metadata' });
const ArchiveBody = z.strictObject({ reason: reasonSchema.optional() });
const ListQuery = z.strictObject({
  tenant_id: tenantId.optional(),
  status: z.enum(['active', 'archived']).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  cursor: cursorParam.optional(),
});
const ProjectParams = z.strictObject({ project_id: projectId });
const TenantParams = z.strictObject({ tenant_id: tenantId });
const TenantProjectParams = z.strictObject({ tenant_id: tenantId, project_id: projectId });

/** A fresh project id: `prj_` and 16 base32 characters (80 random bits). */
export function newProjectId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = randomBytes(16);
  let id = 'prj_';
  for (const b of bytes) id += alphabet[b % 32];
  return id;
}

/**
 * Projects, reachable globally (`/v1/admin/control/projects`) and under their tenant
 * (`/v1/admin/control/tenants/:tenant_id/projects`). Under a tenant, another tenant's project
 * is answered exactly like a project that does not exist.
 */
@ApiTags('projects')
@Controller('v1/admin/control')
@UseGuards(AdminAuthGuard)
export class ProjectsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  private async run(req: Request, res: Response, request: ProjectRequest): Promise<ProjectRow> {
    const result: ProjectCommandResult = await this.commands.execute(new ExecuteProjectCommand(request, commandContext(req)));
    if (!result.state.exists) throw new Error('command left no project');
    const { exists: _e, ...project } = result.state;
    res.setHeader('ETag', `"${result.revision}"`);
    if (!result.readModelCurrent) res.setHeader('X-Aionis-Read-Model', 'stale');
    return { ...project, revision: result.revision };
  }

  private async owned(tenant: string, project: string): Promise<ProjectRow> {
    const p = await this.queries.execute(new GetProjectQuery(project));
    if (!p || p.tenant_id !== tenant) throw new AppError('project_not_found', `project ${project} does not exist`, { project_id: project });
    return p;
  }

  private async create(req: Request, res: Response, tenant: string, b: z.infer<typeof CreateBody>): Promise<ProjectRow> {
    const id = b.project_id ?? newProjectId();
    const p = await this.run(req, res, { type: 'CreateProject', project_id: id, tenant_id: tenant, display_name: b.display_name ?? id, metadata: b.metadata ?? {} });
    res.setHeader('Location', `/v1/admin/control/projects/${p.project_id}`);
    return p;
  }

  private async list(filter: { tenantId?: string; status?: 'active' | 'archived'; cursor?: string; limit?: number }): Promise<{ items: ProjectRow[]; next_cursor: string | null }> {
    const limit = filter.limit ?? 50;
    const after = filter.cursor ? afterIdCursor.decode(filter.cursor).after : undefined;
    const rows = await this.queries.execute(
      new ListProjectsQuery({
        limit: limit + 1,
        ...(filter.tenantId ? { tenantId: filter.tenantId } : {}),
        ...(filter.status ? { status: filter.status } : {}),
        ...(after !== undefined ? { after } : {}),
      }),
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { items: page, next_cursor: rows.length > limit && last ? afterIdCursor.encode({ after: last.project_id }) : null };
  }

  @Post('projects')
  @AdminWrite()
  @HttpCode(201)
  @ApiContract({ summary: 'Create a project under a tenant (refused under a suspended tenant)', auth: 'operator', body: CreateProjectBody, response: { status: 201, description: 'The project (ETag, Location)', schema: ProjectSchema }, example: { body: { tenant_id: 'acme', project_id: 'acme-shop', display_name: 'Web shop' } } })
  async createGlobal(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown): Promise<ProjectRow> {
    const { tenant_id, ...b } = parseInput(CreateProjectBody, body, 'body');
    return this.create(req, res, tenant_id, b);
  }

  @Post('tenants/:tenant_id/projects')
  @AdminWrite()
  @HttpCode(201)
  @ApiContract({ summary: 'Create a project under this tenant', auth: 'operator', params: TenantParams, body: CreateBody, response: { status: 201, description: 'The project (ETag, Location)', schema: ProjectSchema }, example: { params: { tenant_id: 'acme' }, body: { project_id: 'acme-mobile' } } })
  async createUnderTenant(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<ProjectRow> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    return this.create(req, res, tenant_id, parseInput(CreateBody, body, 'body'));
  }

  @Get('projects')
  @ApiContract({ summary: 'List projects (filter by tenant and status; cursor pagination)', auth: 'operator', query: ListQuery, response: { status: 200, description: 'A page of projects', schema: pageOf(ProjectSchema.schema) }, example: { query: { tenant_id: 'acme', status: 'active' } } })
  async listGlobal(@Query() query: unknown): Promise<{ items: ProjectRow[]; next_cursor: string | null }> {
    const q = parseInput(ListQuery, query, 'query');
    return this.list({ ...(q.tenant_id ? { tenantId: q.tenant_id } : {}), ...(q.status ? { status: q.status } : {}), ...(q.cursor ? { cursor: q.cursor } : {}), ...(q.limit ? { limit: q.limit } : {}) });
  }

  @Get('tenants/:tenant_id/projects')
  @ApiContract({ summary: "List this tenant's projects", auth: 'operator', params: TenantParams, query: ListQuery.omit({ tenant_id: true }), response: { status: 200, description: 'A page of projects', schema: pageOf(ProjectSchema.schema) }, example: { params: { tenant_id: 'acme' }, query: { limit: '10' } } })
  async listUnderTenant(@Param() params: unknown, @Query() query: unknown): Promise<{ items: ProjectRow[]; next_cursor: string | null }> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const q = parseInput(ListQuery.omit({ tenant_id: true }), query, 'query');
    if (!(await this.queries.execute(new GetTenantQuery(tenant_id)))) throw new AppError('tenant_not_found', `tenant ${tenant_id} does not exist`, { tenant_id });
    return this.list({ tenantId: tenant_id, ...(q.status ? { status: q.status } : {}), ...(q.cursor ? { cursor: q.cursor } : {}), ...(q.limit ? { limit: q.limit } : {}) });
  }

  @Get('projects/:project_id')
  @ApiContract({ summary: 'Get a project; the ETag is its stream revision', auth: 'operator', params: ProjectParams, response: { status: 200, description: 'The project (ETag)', schema: ProjectSchema }, example: { params: { project_id: 'acme-web' } } })
  async getGlobal(@Param() params: unknown, @Res({ passthrough: true }) res: Response): Promise<ProjectRow> {
    const { project_id } = parseInput(ProjectParams, params, 'params');
    const p = await this.queries.execute(new GetProjectQuery(project_id));
    if (!p) throw new AppError('project_not_found', `project ${project_id} does not exist`, { project_id });
    res.setHeader('ETag', `"${p.revision}"`);
    return p;
  }

  @Get('tenants/:tenant_id/projects/:project_id')
  @ApiContract({ summary: 'Get a project of this tenant', auth: 'operator', params: TenantProjectParams, response: { status: 200, description: 'The project (ETag)', schema: ProjectSchema }, example: { params: { tenant_id: 'acme', project_id: 'acme-web' } } })
  async getUnderTenant(@Param() params: unknown, @Res({ passthrough: true }) res: Response): Promise<ProjectRow> {
    const { tenant_id, project_id } = parseInput(TenantProjectParams, params, 'params');
    const p = await this.owned(tenant_id, project_id);
    res.setHeader('ETag', `"${p.revision}"`);
    return p;
  }

  @Patch('projects/:project_id')
  @AdminWrite()
  @ApiContract({ summary: 'Update display name and/or metadata (If-Match supported)', auth: 'operator', params: ProjectParams, body: UpdateProjectBody, response: { status: 200, description: 'The project (ETag)', schema: ProjectSchema }, example: { params: { project_id: 'acme-web' }, body: { display_name: 'Web shop (EU)' } } })
  async updateGlobal(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<ProjectRow> {
    const { project_id } = parseInput(ProjectParams, params, 'params');
    return this.update(req, res, project_id, body);
  }

  @Patch('tenants/:tenant_id/projects/:project_id')
  @AdminWrite()
  @ApiContract({ summary: 'Update a project of this tenant', auth: 'operator', params: TenantProjectParams, body: UpdateProjectBody, response: { status: 200, description: 'The project (ETag)', schema: ProjectSchema }, example: { params: { tenant_id: 'acme', project_id: 'acme-web' }, body: { metadata: { region: 'eu' } } } })
  async updateUnderTenant(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<ProjectRow> {
    const { tenant_id, project_id } = parseInput(TenantProjectParams, params, 'params');
    await this.owned(tenant_id, project_id);
    return this.update(req, res, project_id, body);
  }

  private update(req: Request, res: Response, project_id: string, body: unknown): Promise<ProjectRow> {
    const b = parseInput(UpdateProjectBody, body, 'body');
    return this.run(req, res, {
      type: 'UpdateProject',
      project_id,
      ...(b.display_name !== undefined ? { display_name: b.display_name } : {}),
      ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
    });
  }

  @Post('projects/:project_id/archive')
  @AdminWrite()
  @HttpCode(200)
  @ApiContract({ summary: 'Archive a project: its keys stop working; nothing new can be created under it', auth: 'operator', params: ProjectParams, body: ArchiveBody, bodyRequired: false, response: { status: 200, description: 'The archived project', schema: ProjectSchema }, example: { params: { project_id: 'acme-legacy' }, body: { reason: 'replaced by acme-web' } } })
  async archiveGlobal(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<ProjectRow> {
    const { project_id } = parseInput(ProjectParams, params, 'params');
    const b = parseInput(ArchiveBody, body ?? {}, 'body');
    return this.run(req, res, { type: 'ArchiveProject', project_id, reason: b.reason ?? null });
  }

  @Post('tenants/:tenant_id/projects/:project_id/archive')
  @AdminWrite()
  @HttpCode(200)
  @ApiContract({ summary: 'Archive a project of this tenant', auth: 'operator', params: TenantProjectParams, body: ArchiveBody, bodyRequired: false, response: { status: 200, description: 'The archived project', schema: ProjectSchema }, example: { params: { tenant_id: 'acme', project_id: 'acme-beta' } } })
  async archiveUnderTenant(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<ProjectRow> {
    const { tenant_id, project_id } = parseInput(TenantProjectParams, params, 'params');
    await this.owned(tenant_id, project_id);
    const b = parseInput(ArchiveBody, body ?? {}, 'body');
    return this.run(req, res, { type: 'ArchiveProject', project_id, reason: b.reason ?? null });
  }
}
