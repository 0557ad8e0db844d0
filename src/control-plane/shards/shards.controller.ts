import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { AppError } from '../../platform/errors/app-error';
import { afterIdCursor, cursorParam } from '../../platform/http/cursor';
import { ApiContract, named, pageOf } from '../../platform/http/openapi';
import { parseInput, reasonSchema } from '../../platform/http/validation';
import { AdminAuthGuard, AdminOwner } from '../operators/admin-auth.guard';
import { commandContext } from '../shared/http';
import { TENANT_ID_PATTERN, TENANT_ID_RULE } from '../shared/ids';
import { INITIAL_PLACEMENT } from './placement.domain';
import { ExecuteShardCommand, type ShardCommandResult, type ShardRequest } from './shard.commands';
import { SHARD_ID_PATTERN, SHARD_ID_RULE, SHARD_STATES, SHARED_SHARD_ID } from './shard.domain';
import { ShardsRepository, TenantPlacementsRepository } from './shards.repository';

const shardId = z.string().regex(SHARD_ID_PATTERN, `must be ${SHARD_ID_RULE}`);
const ShardObject = z.object({
    shard_id: z.string(),
    url_ref: z.string().nullable().describe('the SHARD_URLS entry holding the connection URL (null for the shared shard: DATABASE_URL); the URL itself is never shown'),
    capacity_note: z.string(),
    state: z.enum(SHARD_STATES),
    registered_at: z.string().nullable(),
    updated_at: z.string().nullable(),
    updated_by: z.string().nullable(),
  revision: z.number().int().describe('the stream revision; also the ETag (0 for the shared shard)'),
});
const ShardSchema = named('Shard', ShardObject);
const RegisteredShardSchema = named('RegisteredShard', ShardObject.extend({ migrations_applied: z.array(z.string()).describe("migrations applied to the shard's database by this registration") }));
const PlacementObject = z.object({
    tenant_id: z.string(),
    shard_id: z.string(),
    generation: z.number().int().describe('raised by one at every change; the fence row on the shard holds the generation it serves'),
    previous: z.object({ shard_id: z.string(), generation: z.number().int() }).nullable(),
    reason: z.string().nullable(),
    updated_at: z.string().nullable(),
  revision: z.number().int().describe('the placement stream revision (0: never moved)'),
});
const PlacementSchema = named('TenantPlacement', PlacementObject);

export const RegisterShardBody = z.strictObject({
  shard_id: shardId.refine((s) => s !== SHARED_SHARD_ID, { message: '"shared" is the primary database and is always registered' }),
  url_ref: shardId.optional().describe('the SHARD_URLS entry (default: the shard id)'),
  capacity_note: z.string().trim().max(500).refine((s) => !s.includes('\u0000'), { message: 'must not contain NUL characters' }).optional(),
});
const ReasonBody = z.strictObject({ reason: reasonSchema.optional() });
const ShardParams = z.strictObject({ shard_id: shardId });
const ListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).optional(), cursor: cursorParam.optional() });
const TenantParams = z.strictObject({ tenant_id: z.string().regex(TENANT_ID_PATTERN, `must be ${TENANT_ID_RULE}`) });

type ShardView = z.infer<typeof ShardObject>;
/** The primary database, listed first: it is never registered and never changes. */
const SHARED_VIEW: ShardView = {
  shard_id: SHARED_SHARD_ID,
  url_ref: null,
  capacity_note: 'the primary database (DATABASE_URL, or the embedded database)',
  state: 'active',
  registered_at: null,
  updated_at: null,
  updated_by: null,
  revision: 0,
};

@ApiTags('shards')
@Controller('v1/admin/control/shards')
@UseGuards(AdminAuthGuard)
export class ShardsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly shards: ShardsRepository,
  ) {}

  private async run(req: Request, res: Response, request: ShardRequest): Promise<ShardView & { migrations_applied: readonly string[] }> {
    const r: ShardCommandResult = await this.commands.execute(new ExecuteShardCommand(request, commandContext(req)));
    if (!r.state.exists) throw new Error('shard command left no shard');
    res.setHeader('ETag', `"${r.revision}"`);
    if (!r.readModelCurrent) res.setHeader('X-Aionis-Read-Model', 'stale');
    const { exists: _e, ...shard } = r.state;
    return { ...shard, revision: r.revision, migrations_applied: r.migrationsApplied };
  }

  @Post()
  @AdminOwner()
  @HttpCode(201)
  @ApiContract({
    summary: "Register a dedicated shard (owner): its database (SHARD_URLS entry url_ref) must answer; the service's migrations are applied to it. PostgreSQL only",
    auth: 'operator',
    body: RegisterShardBody,
    response: { status: 201, description: 'The shard (ETag, Location) and the migrations applied', schema: RegisteredShardSchema },
    example: { body: { shard_id: 'dedicated-1', url_ref: 'dedicated-1', capacity_note: 'm6i.2xlarge, 500 GB; for enterprise tenants' } },
  })
  async register(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    const b = parseInput(RegisterShardBody, body, 'body');
    const shard = await this.run(req, res, { type: 'RegisterShard', shard_id: b.shard_id, url_ref: b.url_ref ?? b.shard_id, capacity_note: b.capacity_note ?? '' });
    res.setHeader('Location', `/v1/admin/control/shards/${shard.shard_id}`);
    return shard;
  }

  @Get()
  @ApiContract({ summary: 'List shards: the shared shard first, then the registered ones (cursor pagination)', auth: 'operator', query: ListQuery, response: { status: 200, description: 'A page of shards', schema: pageOf(ShardSchema.schema) }, example: { query: { limit: '20' } } })
  async list(@Query() query: unknown) {
    const q = parseInput(ListQuery, query, 'query');
    const limit = q.limit ?? 100;
    const after = q.cursor ? afterIdCursor.decode(q.cursor).after : undefined;
    // The shared shard comes first; a cursor after it ("shared") starts the registered ones from the beginning.
    const rows: ShardView[] = await this.shards.list(after === SHARED_SHARD_ID ? undefined : after, limit + 1);
    const all = after === undefined ? [SHARED_VIEW, ...rows] : rows;
    const items = all.slice(0, limit);
    const last = items.at(-1);
    return { items, next_cursor: all.length > limit && last ? afterIdCursor.encode({ after: last.shard_id }) : null };
  }

  @Get(':shard_id')
  @ApiContract({ summary: 'One shard (`shared` is the primary database)', auth: 'operator', params: ShardParams, response: { status: 200, description: 'The shard (ETag)', schema: ShardSchema }, example: { params: { shard_id: 'shared' } } })
  async get(@Param() params: unknown, @Res({ passthrough: true }) res: Response): Promise<ShardView> {
    const { shard_id } = parseInput(ShardParams, params, 'params');
    const shard: ShardView | undefined = shard_id === SHARED_SHARD_ID ? SHARED_VIEW : await this.shards.get(shard_id);
    if (!shard) throw new AppError('shard_not_found', `shard ${shard_id} does not exist`, { shard_id });
    res.setHeader('ETag', `"${shard.revision}"`);
    return shard;
  }

  @Post(':shard_id/drain')
  @AdminOwner()
  @HttpCode(200)
  @ApiContract({ summary: 'Drain a shard (owner): no new placements on it; tenants already placed stay until moved (no event if already draining)', auth: 'operator', params: ShardParams, body: ReasonBody, response: { status: 200, description: 'The shard (ETag)', schema: ShardSchema }, example: { params: { shard_id: 'dedicated-1' }, body: { reason: 'hardware refresh' } } })
  async drain(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<ShardView> {
    const { shard_id } = parseInput(ShardParams, params, 'params');
    const b = parseInput(ReasonBody, body ?? {}, 'body');
    const { migrations_applied: _m, ...shard } = await this.run(req, res, { type: 'DrainShard', shard_id, reason: b.reason ?? null });
    return shard;
  }

  @Post(':shard_id/retire')
  @AdminOwner()
  @HttpCode(200)
  @ApiContract({ summary: 'Retire a shard (owner): refused (409 shard_in_use) while any tenant is placed on it (no event if already retired)', auth: 'operator', params: ShardParams, body: ReasonBody, response: { status: 200, description: 'The shard (ETag)', schema: ShardSchema }, example: { params: { shard_id: 'dedicated-1' }, body: { reason: 'replaced by dedicated-2' } } })
  async retire(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param() params: unknown, @Body() body: unknown): Promise<ShardView> {
    const { shard_id } = parseInput(ShardParams, params, 'params');
    const b = parseInput(ReasonBody, body ?? {}, 'body');
    const { migrations_applied: _m, ...shard } = await this.run(req, res, { type: 'RetireShard', shard_id, reason: b.reason ?? null });
    return shard;
  }
}

@ApiTags('shards')
@Controller('v1/admin/control/tenants')
@UseGuards(AdminAuthGuard)
export class PlacementController {
  constructor(private readonly placements: TenantPlacementsRepository) {}

  @Get(':tenant_id/placement')
  @ApiContract({ summary: "The tenant's placement: its shard and generation (`shared`, 1 until it is first moved); the ETag is the placement revision", auth: 'operator', params: TenantParams, response: { status: 200, description: 'The placement (ETag)', schema: PlacementSchema }, example: { params: { tenant_id: 'acme' } } })
  async get(@Param() params: unknown, @Res({ passthrough: true }) res: Response): Promise<z.infer<typeof PlacementObject>> {
    const { tenant_id } = parseInput(TenantParams, params, 'params');
    const p = await this.placements.find(tenant_id);
    if (p === null) throw new AppError('tenant_not_found', `tenant ${tenant_id} does not exist`, { tenant_id });
    const view = p
      ? { tenant_id, shard_id: p.shard_id, generation: p.generation, previous: p.previous, reason: p.reason, updated_at: p.updated_at, revision: p.revision }
      : { tenant_id, ...INITIAL_PLACEMENT, previous: null, reason: null, updated_at: null, revision: 0 };
    res.setHeader('ETag', `"${view.revision}"`);
    return view;
  }
}
