import { Controller, Get, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { AUDIT_RESOURCE_TYPES, type AuditRow } from '../../../projections/audit.projection';
import { parseInput, queryText } from '../../platform/http/validation';
import { AdminAuthGuard } from '../operators/admin-auth.guard';
import { TENANT_ID_PATTERN } from '../shared/ids';
import { type AuditFilter, AuditRepository } from './audit.repository';
import { auditCursor, cursorParam } from '../../platform/http/cursor';
import { ApiContract, named } from '../../platform/http/openapi';

const AuditEntrySchema = named(
  'AuditEvent',
  z.looseObject({
    event_id: z.string(),
    position: z.string(),
    stream: z.string(),
    type: z.string(),
    tenant_id: z.string().nullable(),
    actor: z.looseObject({ type: z.string(), id: z.string() }),
    occurred_at: z.string(),
    request_id: z.string().nullable(),
    resource: z.looseObject({ type: z.string().nullable(), id: z.string().nullable() }),
    data: z.record(z.string(), z.unknown()),
    hash: z.string(),
  }),
);
const AuditPageSchema = z.object({ items: z.array(AuditEntrySchema.schema), next_cursor: z.string().nullable(), has_more: z.boolean() });

const AuditQuery = z.strictObject({
  tenant_id: z.string().regex(TENANT_ID_PATTERN).optional(),
  actor_id: queryText().optional(),
  type: z.string().regex(/^[A-Za-z]{1,80}(,[A-Za-z]{1,80}){0,19}$/, 'one or more event types, comma-separated').optional(),
  resource_type: z.enum(AUDIT_RESOURCE_TYPES).optional(),
  resource_id: queryText().optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  request_id: queryText(128).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  cursor: cursorParam.optional(),
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
@Controller('v1/admin/control/audit-events')
@UseGuards(AdminAuthGuard)
export class AuditController {
  constructor(private readonly audit: AuditRepository) {}

  @Get()
  @ApiContract({ summary: 'Audit events in commit order; filters; cursor pages; Accept: application/x-ndjson streams the whole selection', auth: 'operator', query: AuditQuery, response: { status: 200, description: 'A page of events; with Accept: application/x-ndjson, the whole selection as NDJSON', schema: AuditPageSchema, alternatives: { 'application/x-ndjson': z.string().describe('one audit event (JSON) per line') } }, example: { query: { tenant_id: 'acme', type: 'TenantCreated,TenantUpdated', limit: '50' } } })
  async list(@Req() req: Request, @Res() res: Response, @Query() query: unknown): Promise<void> {
    const q = parseInput(AuditQuery, query, 'query');
    const after = q.cursor
      ? (() => {
          const c = auditCursor.decode(q.cursor);
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
    const next = last ? auditCursor.encode({ tx: String(last.transaction_id), gp: String(last.global_position) }) : (q.cursor ?? null);
    res.status(200).json({ items: page.map(entry), next_cursor: next, has_more: rows.length > limit });
  }
}
