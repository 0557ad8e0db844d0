import type { Request } from 'express';
import { z } from 'zod';
import { AppError } from '../../platform/errors/app-error';
import { contextOf } from '../../platform/http/request-context';
import type { CommandContext } from './command-handling';

/** HTTP helpers shared by the control-plane controllers. */

/** If-Match: `"7"`, `W/"7"` or `7`. */
function expectedRevision(req: Request): number | null {
  const h = req.header('if-match');
  if (h === undefined) return null;
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(h);
  if (!m) throw new AppError('validation_failed', 'If-Match must be an ETag this API returned, e.g. "3"', { errors: [{ field: 'header.if-match', message: 'not a revision ETag' }] });
  return Number(m[1]);
}

function idempotencyKey(req: Request): string | null {
  const k = req.header('idempotency-key');
  if (k === undefined) return null;
  if (!/^[\x21-\x7e]{1,255}$/.test(k)) {
    throw new AppError('validation_failed', 'Idempotency-Key must be 1-255 visible ASCII characters', { errors: [{ field: 'header.idempotency-key', message: 'invalid' }] });
  }
  return k;
}

export function commandContext(req: Request): CommandContext {
  const ctx = contextOf(req);
  if (!ctx.actor) throw new Error('command without an authenticated actor');
  return {
    actor: ctx.actor,
    requestId: ctx.requestId,
    correlationId: ctx.correlationId,
    causationId: null,
    idempotencyKey: idempotencyKey(req),
    expectedRevision: expectedRevision(req),
    sourceIp: ctx.sourceIp,
    userAgent: ctx.userAgent,
    now: () => new Date(),
    requestedAt: ctx.receivedAt,
  };
}


/** A zod schema as JSON Schema for the OpenAPI document. */
export const jsonSchema = (s: z.ZodType): Record<string, unknown> => z.toJSONSchema(s, { unrepresentable: 'any' }) as Record<string, unknown>;
