import type { Request } from 'express';
import { idempotencyKey, ifMatchRevision } from '../../platform/http/command-headers';
import { contextOf } from '../../platform/http/request-context';
import type { CommandContext } from './command-handling';

/** HTTP helpers shared by the control-plane controllers. */

export function commandContext(req: Request): CommandContext {
  const ctx = contextOf(req);
  if (!ctx.actor) throw new Error('command without an authenticated actor');
  return {
    actor: ctx.actor,
    requestId: ctx.requestId,
    correlationId: ctx.correlationId,
    causationId: null,
    idempotencyKey: idempotencyKey(req),
    expectedRevision: ifMatchRevision(req),
    sourceIp: ctx.sourceIp,
    userAgent: ctx.userAgent,
    now: () => new Date(),
    requestedAt: ctx.receivedAt,
  };
}

