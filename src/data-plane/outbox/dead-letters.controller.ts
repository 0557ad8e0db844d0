import { Body, Controller, Get, HttpCode, Inject, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { z } from 'zod';
import { AdminAuthGuard, AdminWrite } from '../../control-plane/operators/admin-auth.guard';
import { TENANT_ID_PATTERN } from '../../control-plane/shared/ids';
import { EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { contextOf } from '../../platform/http/request-context';
import { parseInput, reasonSchema } from '../../platform/http/validation';
import { ProjectionsService } from '../../platform/projections/projections.service';
import { MemoryRepository } from '../memory/memory.repository';
import { DeadLetters, embeddingReadiness, REPLAY_LIMIT_DEFAULT, REPLAY_LIMIT_MAX } from './dead-letters';
import { OUTBOX_JOB_TYPES, OutboxRepository } from './outbox.repository';
import { afterUuidCursor, cursorParam } from '../../platform/http/cursor';
import { ApiContract, objectResponse } from '../../platform/http/openapi';

const ListQuery = z.strictObject({
  tenant_id: z.string().regex(TENANT_ID_PATTERN).optional(),
  type: z.enum(OUTBOX_JOB_TYPES).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: cursorParam.optional(),
});
const ReadinessQuery = z.strictObject({
  tenant_id: z.string().regex(TENANT_ID_PATTERN),
  scope: z.string().min(1).max(256).regex(/^[^\u0000]*$/).optional(),
});
const count = z.number().int().min(0);
const ReadinessResponse = z.object({
  tenant_id: z.string(),
  scope: z.string().nullable(),
  all_ready: z.boolean(),
  nodes: z.object({ ready: count, pending: count, failed: count, total: count }),
  outbox: z.object({ pending: count, retrying: count, processing: count, dead_letter: count, done: count, discarded: count }),
});
export const DeadLetterOperationBody = z.strictObject({
  ids: z.array(z.uuid()).min(1).max(REPLAY_LIMIT_MAX).optional(),
  tenant_id: z.string().regex(TENANT_ID_PATTERN).optional(),
  type: z.enum(OUTBOX_JOB_TYPES).optional(),
  reason: reasonSchema,
  dry_run: z.boolean().optional(),
  limit: z.number().int().min(1).max(REPLAY_LIMIT_MAX).optional(),
  allow_all_tenants: z.boolean().optional(),
});

/** The operator workflow for derived work that failed for good: look, replay (dry run first), or discard. */
@ApiTags('dead-letters')
@Controller('v1/admin/control/dead-letters')
@UseGuards(AdminAuthGuard)
export class DeadLettersController {
  private readonly deadLetters: DeadLetters;

  constructor(
    private readonly outbox: OutboxRepository,
    private readonly memory: MemoryRepository,
    @Inject(EVENT_STORE) store: EventStore,
    private readonly projections: ProjectionsService,
  ) {
    this.deadLetters = new DeadLetters(outbox, memory, store);
  }

  @Get()
  @ApiContract({ summary: 'Dead-lettered outbox jobs (filters: tenant, type, time) and counts by tenant', auth: 'operator', query: ListQuery, response: { status: 200, description: 'A page of dead letters and counts by tenant', schema: z.object({ items: z.array(objectResponse("a dead-lettered job")), counts_by_tenant: z.record(z.string(), z.number()), next_cursor: z.string().nullable() }) }, example: { query: { tenant_id: 'acme', type: 'embed_nodes' } } })
  async list(@Query() query: unknown) {
    const q = parseInput(ListQuery, query, 'query');
    const limit = q.limit ?? 100;
    const after = q.cursor ? afterUuidCursor.decode(q.cursor).after : undefined;
    const r = await this.deadLetters.list({
      limit: limit + 1,
      ...(q.tenant_id ? { tenantId: q.tenant_id } : {}),
      ...(q.type ? { type: q.type } : {}),
      ...(q.from ? { from: q.from } : {}),
      ...(q.to ? { to: q.to } : {}),
      ...(after && /^[0-9a-f-]{36}$/.test(after) ? { afterId: after } : {}),
    });
    const page = r.items.slice(0, limit);
    const last = page.at(-1);
    return { items: page, counts_by_tenant: r.counts_by_tenant, next_cursor: r.items.length > limit && last ? afterUuidCursor.encode({ after: last.job_id }) : null };
  }

  /**
   * After a replay: are the tenant's nodes ready again? Counts only (no memory content), for an
   * operator without the tenant's key; every operator role may read it.
   */
  @Get('readiness')
  @ApiContract({
    summary: "A tenant's embedding readiness: nodes by embedding status (optionally one scope) and its outbox jobs by status",
    auth: 'operator',
    query: ReadinessQuery,
    response: { status: 200, description: 'Counts only: all_ready, nodes by embedding status, outbox jobs by status', schema: ReadinessResponse },
    example: { query: { tenant_id: 'acme' } },
  })
  async readiness(@Query() query: unknown) {
    const q = parseInput(ReadinessQuery, query, 'query');
    const [nodes, outbox] = await Promise.all([this.memory.embeddingStatusCounts(q.tenant_id, q.scope), this.outbox.tenantStatus(q.tenant_id)]);
    return { tenant_id: q.tenant_id, scope: q.scope ?? null, ...embeddingReadiness(nodes, outbox) };
  }

  private async operate(kind: 'replay' | 'discard', req: Request, body: unknown) {
    const b = parseInput(DeadLetterOperationBody, body, 'body');
    const ctx = contextOf(req);
    if (!ctx.actor) throw new Error('no actor');
    const request = {
      ...(b.ids ? { ids: b.ids } : {}),
      ...(b.tenant_id ? { tenantId: b.tenant_id } : {}),
      ...(b.type ? { type: b.type } : {}),
      reason: b.reason,
      dryRun: b.dry_run ?? false,
      limit: b.limit ?? REPLAY_LIMIT_DEFAULT,
      allowAllTenants: b.allow_all_tenants ?? false,
    };
    const ids = { requestId: ctx.requestId, correlationId: ctx.correlationId };
    const { position, ...result } = kind === 'replay' ? await this.deadLetters.replay(request, ctx.actor, ids) : await this.deadLetters.discard(request, ctx.actor, ids);
    if (position) await this.projections.waitFor('audit', position, 2000);
    return result;
  }

  @Post('replay')
  @AdminWrite()
  @HttpCode(200)
  @ApiContract({ summary: 'Replay dead-lettered jobs (by ids, or tenant + type; dry_run first; limit default 50, max 500; reason required)', auth: 'operator', body: DeadLetterOperationBody, response: { status: 200, description: 'What was (or would be) replayed', schema: objectResponse("{dry_run, matched, ...}") }, example: { body: { tenant_id: 'acme', type: 'embed_nodes', reason: 'provider is back', dry_run: true } } })
  replay(@Req() req: Request, @Body() body: unknown) {
    return this.operate('replay', req, body);
  }

  @Post('discard')
  @AdminWrite()
  @HttpCode(200)
  @ApiContract({ summary: 'Discard dead-lettered jobs for good (reason required); the nodes stay failed', auth: 'operator', body: DeadLetterOperationBody, response: { status: 200, description: 'What was (or would be) discarded', schema: objectResponse("{dry_run, matched, ...}") }, example: { body: { tenant_id: 'acme', reason: 'nodes were rewritten', dry_run: true } } })
  discard(@Req() req: Request, @Body() body: unknown) {
    return this.operate('discard', req, body);
  }
}
