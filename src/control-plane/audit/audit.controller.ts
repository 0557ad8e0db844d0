import { Controller, Get, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { AuditRow } from '../../../projections/audit.projection';
import { decodeCursor, encodeCursor, parseInput } from '../../platform/http/validation';
import { AdminAuthGuard } from '../operators/admin-auth.guard';
import { TENANT_ID_PATTERN } from '../shared/ids';
import { type AuditFilter, AuditRepository } from './audit.repository';

const AuditQuery = z.strictObject({
  tenant_id: z.string().regex(TENANT_ID_PATTERN).optional(),
  actor_id: z.string().min(1).max(200).optional(),
  type: z.string().regex(/^[A-Za-z]{1,80}(,[A-Za-z]{1,80}){0,19}$/, 'one or more event types, comma-separated').optional(),
  resource_type: z.enum(['tenant', 'project', 'api_key', 'operator', 'quota', 'security', 'dead_letters', 'other']).optional(),
  resource_id: z.string().min(1).max(200).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  request_id: z.string().min(1).max(128).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  cursor: z.string().max(512).optional(),
});

function entry(r: AuditRow) {
  return {
    event_id: r.event_id,
    position: `${r.transaction_id}:${r.global_position}`,
    stream: r.stream_id,
    stream_position: r.stream_position,
    type: r.type,
    tenant_id: r.tenant_id,
    actor: { type: r.actor_type, id: r.actor_id, display: r.actor_display },
    occurred_at: r.occurred_at,
    recorded_at: r.recorded_at,
    request_id: r.request_id,
    correlation_id: r.correlation_id,
    source_ip: r.source_ip,
    user_agent: r.user_agent,
    resource: { type: r.resource_type, id: r.resource_id },
    data: r.data,
    hash: r.hash,
  };
}

/**
 * The audit trail: every control-plane event with its actor, time, request id and resource,
 * credential digests removed. Readable by every role, auditors included.
 */
@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/admin/control/audit-events')
@UseGuards(AdminAuthGuard)
export class AuditController {
  constructor(private readonly audit: AuditRepository) {}

  @Get()
  @ApiOperation({ summary: 'Audit events in commit order; filters; cursor pages; Accept: application/x-ndjson streams the whole selection' })
  @ApiProduces('application/json', 'application/x-ndjson')
  async list(@Req() req: Request, @Res() res: Response, @Query() query: unknown): Promise<void> {
    const q = parseInput(AuditQuery, query, 'query');
    const after = q.cursor
      ? (() => {
          const c = decodeCursor(q.cursor, ['tx', 'gp'] as const);
          return { transactionId: Number(c.tx), globalPosition: Number(c.gp) };
        })()
      : undefined;
    const filter: Omit<AuditFilter, 'limit' | 'after'> = {
      ...(q.tenant_id ? { tenantId: q.tenant_id } : {}),
      ...(q.actor_id ? { actorId: q.actor_id } : {}),
      ...(q.type ? { types: q.type.split(',') } : {}),
      ...(q.resource_type ? { resourceType: q.resource_type } : {}),
      ...(q.resource_id ? { resourceId: q.resource_id } : {}),
      ...(q.from ? { from: q.from } : {}),
      ...(q.to ? { to: q.to } : {}),
      ...(q.request_id ? { requestId: q.request_id } : {}),
    };
    if ((req.header('accept') ?? '').includes('application/x-ndjson')) {
      // Export: the whole selection, streamed page by page in commit order.
      res.status(200).type('application/x-ndjson');
      let cursor = after;
      for (;;) {
        const rows = await this.audit.page({ ...filter, limit: 1000, ...(cursor ? { after: cursor } : {}) });
        for (const r of rows) res.write(`${JSON.stringify(entry(r))}\n`);
        const last = rows.at(-1);
        if (!last || rows.length < 1000) break;
        cursor = { transactionId: last.transaction_id, globalPosition: last.global_position };
      }
      res.end();
      return;
    }
    const limit = q.limit ?? 100;
    const rows = await this.audit.page({ ...filter, limit: limit + 1, ...(after ? { after } : {}) });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    // The cursor is the last position returned: events committed later sort after it, so pages never skip or repeat.
    const next = last ? encodeCursor({ tx: String(last.transaction_id), gp: String(last.global_position) }) : (q.cursor ?? null);
    res.status(200).json({ items: page.map(entry), next_cursor: next, has_more: rows.length > limit });
  }
}
