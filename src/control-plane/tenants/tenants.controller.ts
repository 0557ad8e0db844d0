import { Body, Controller, Get, HttpCode, Param, Patch, Post, Put, Query, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { TenantRow } from '../../../projections/tenants.projection';
import { AppError } from '../../platform/errors/app-error';
import { commandContext } from '../shared/http';
import { metadataSchema, parseInput, reasonSchema } from '../../platform/http/validation';
import { AdminAuthGuard, AdminWrite } from '../operators/admin-auth.guard';
import { TENANT_ID_PATTERN, TENANT_ID_RULE } from '../shared/ids';
import { ExecuteTenantCommand, type TenantCommandResult } from './tenant.commands';
import { type TenantCommand, TIERS } from './tenant.domain';
import { GetTenantQuery, ListTenantsQuery } from './tenant.queries';
import { afterIdCursor, cursorParam } from '../../platform/http/cursor';
import { ApiContract, named, pageOf } from '../../platform/http/openapi';

/** The wire shape of a tenant (documented members; the read-model row). */
export const TenantSchema = named(
  'Tenant',
  z.looseObject({
    tenant_id: z.string(),
    display_name: z.string(),
    tier: z.enum(TIERS),
    status: z.enum(['active', 'suspended']),
    metadata: z.record(z.string(), z.unknown()),
    created_at: z.string(),
    updated_at: z.string(),
    revision: z.number().int().describe('the stream revision; also the ETag'),
  }),
);

const tenantId = z.string().regex(TENANT_ID_PATTERN, `must be ${TENANT_ID_RULE}`);
const displayName = z.string().trim().min(1).max(200).refine((s) => !s.includes('\u0000'), { message: 'must not contain NUL characters' });

export const CreateTenantBody = z.strictObject({
  tenant_id: tenantId,
  display_name: displayName.optional(),
  tier: z.enum(TIERS).optional(),
  metadata: metadataSchema.optional(),
});
export const UpdateTenantBody = z
  .strictObject({ display_name: displayName.optional(), metadata: metadataSchema.optional() })
  .refine((b) => b.display_name !== undefined || b.metadata !== undefined, { message: 'give display_name and/or metadata' });
export const StatusChangeBody = z.strictObject({ reason: reasonSchema.optional() });
export const ChangeTierBody = z.strictObject({ tier: z.enum(TIERS) });
const ListQuery = z.strictObject({
  status: z.enum(['active', 'suspended']).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  cursor: cursorParam.optional(),
});
const TenantParams = z.strictObject({ tenant_id: tenantId });

/** The wire shape of a tenant: the read-model row (revision doubles as the ETag). */
function view(t: TenantRow): TenantRow {
  return { ...t };
}

export { commandContext };

@ApiTags('tenants')
@Controller('v1/admin/control/tenants')
@UseGuards(AdminAuthGuard)
export class TenantsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  private async run(req: Request, res: Response, command: TenantCommand): Promise<TenantRow> {
    const result: TenantCommandResult = await this.commands.execute(new ExecuteTenantCommand(command, commandContext(req)));
    if (!result.state.exists) throw new Error('command left no tenant');
    const { exists: _e, ...tenant } = result.state;
    res.setHeader('ETag', `"${result.revision}"`);
    if (!result.readModelCurrent) res.setHeader('X-Aionis-Read-Model', 'stale');
    return { ...tenant, revision: result.revision };
  }

  @Post()
  @AdminWrite()
  @HttpCode(201)
  @ApiContract({ summary: 'Create a tenant (409 if the id exists)', auth: 'operator', body: CreateTenantBody, response: { status: 201, description: 'The tenant (ETag, Location)', schema: TenantSchema }, example: { body: { tenant_id: 'globex', display_name: 'Globex Corp', tier: 'growth' } } })
  async create(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown): Promise<TenantRow> {
    const b = parseInput(CreateTenantBody, body, 'body');
    const t = await this.run(req, res, {
      type: 'CreateTenant',
      tenant_id: b.tenant_id,
      display_name: b.display_name ?? b.tenant_id,
      tier: b.tier ?? 'starter',
      metadata: b.metadata ?? {},
    });
    res.setHeader('Location', `/v1/admin/control/tenants/${t.tenant_id}`);
    return view(t);
  }

  @Get()
  @ApiContract({ summary: 'List tenants (filter by status; cursor pagination)', auth: 'operator', query: ListQuery, response: { status: 200, description: 'A page of tenants', schema: pageOf(TenantSchema.schema) }, example: { query: { status: 'active', limit: '20' } } })
  async list(@Query() query: unknown): Promise<{ items: TenantRow[]; next_cursor: string | null }> {
    const q = parseInput(ListQuery, query, 'query');
    const limit = q.limit ?? 50;
    const after = q.cursor ? afterIdCursor.decode(q.cursor).after : undefined;
    const rows = await this.queries.execute(new ListTenantsQuery({ limit: limit + 1, ...(q.status ? { status: q.status } : {}), ...(after !== undefined ? { after } : {}) }));
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { items: page.map(view), next_cursor: rows.length > limit && last ? afterIdCursor.encode({ after: last.tenant_id }) : null };
  }

  @Get(':tenant_id')
  @ApiContract({ summary: 'Get a tenant; the ETag is its stream revision', auth: 'operator', params: TenantParams, response: { status: 200, description: 'The tenant (ETag)', schema: TenantSchema }, example: { params: { tenant_id: 'acme' } } })
  async get(@Param() params: unknown, @Res({ passthrough: true }) res: Response): Promise<TenantRow> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const t = await this.queries.execute(new GetTenantQuery(tenant_id));
    if (!t) throw new AppError('tenant_not_found', `tenant ${tenant_id} does not exist`, { tenant_id });
    res.setHeader('ETag', `"${t.revision}"`);
    return view(t);
  }

  @Patch(':tenant_id')
  @AdminWrite()
  @ApiContract({ summary: 'Update display name and/or metadata (If-Match supported)', auth: 'operator', params: TenantParams, body: UpdateTenantBody, response: { status: 200, description: 'The tenant (ETag)', schema: TenantSchema }, example: { params: { tenant_id: 'acme' }, body: { display_name: 'Acme Corporation' } } })
  async update(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<TenantRow> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const b = parseInput(UpdateTenantBody, body, 'body');
    return view(
      await this.run(req, res, {
        type: 'UpdateTenant',
        tenant_id,
        ...(b.display_name !== undefined ? { display_name: b.display_name } : {}),
        ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
      }),
    );
  }

  @Put(':tenant_id/tier')
  @AdminWrite()
  @ApiContract({ summary: 'Change the tenant tier (If-Match supported; no event if the tier is unchanged)', auth: 'operator', params: TenantParams, body: ChangeTierBody, response: { status: 200, description: 'The tenant (ETag)', schema: TenantSchema }, example: { params: { tenant_id: 'acme' }, body: { tier: 'enterprise' } } })
  async changeTier(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<TenantRow> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const b = parseInput(ChangeTierBody, body, 'body');
    return view(await this.run(req, res, { type: 'ChangeTenantTier', tenant_id, tier: b.tier }));
  }

  @Post(':tenant_id/suspend')
  @AdminWrite()
  @HttpCode(200)
  @ApiContract({ summary: 'Suspend a tenant (409 if already suspended)', auth: 'operator', params: TenantParams, body: StatusChangeBody, bodyRequired: false, response: { status: 200, description: 'The suspended tenant', schema: TenantSchema }, example: { params: { tenant_id: 'acme' }, body: { reason: 'unpaid invoice' } } })
  async suspend(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<TenantRow> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const b = parseInput(StatusChangeBody, body ?? {}, 'body');
    return view(await this.run(req, res, { type: 'SuspendTenant', tenant_id, reason: b.reason ?? null }));
  }

  @Post(':tenant_id/reactivate')
  @AdminWrite()
  @HttpCode(200)
  @ApiContract({ summary: 'Reactivate a suspended tenant (409 if not suspended)', auth: 'operator', params: TenantParams, body: StatusChangeBody, bodyRequired: false, response: { status: 200, description: 'The active tenant', schema: TenantSchema }, example: { params: { tenant_id: 'acme' }, body: { reason: 'invoice paid' } } })
  async reactivate(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<TenantRow> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const b = parseInput(StatusChangeBody, body ?? {}, 'body');
    return view(await this.run(req, res, { type: 'ReactivateTenant', tenant_id, reason: b.reason ?? null }));
  }
}
