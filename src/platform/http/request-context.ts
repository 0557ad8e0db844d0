import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Actor } from '../event-store/event-store';

/** Per-request facts every layer may need; attached to the Express request by the first middleware. */
export interface RequestContext {
  readonly requestId: string;
  readonly correlationId: string;
  readonly startedAt: number;
  /** Wall-clock time the request arrived. */
  readonly receivedAt: Date;
  readonly sourceIp: string | null;
  readonly userAgent: string | null;
  actor?: Actor;
  operatorRole?: string;
  /** Set when the operator was authenticated by a console session cookie (not a token): its id digest. */
  sessionHash?: string;
  /** The tenant an authenticated API key speaks for (access log). */
  tenantId?: string;
}

export type ContextRequest = Request & { ctx: RequestContext };

const ID_PATTERN = /^[A-Za-z0-9._:\-]{1,128}$/;

/** Accept a caller's X-Request-Id / X-Correlation-Id when well-formed, otherwise generate one; always echo it. */
export function requestContextMiddleware(req: Request, res: Response, next: NextFunction): void {
  const given = req.header('x-request-id');
  const requestId = given && ID_PATTERN.test(given) ? given : randomUUID();
  const corr = req.header('x-correlation-id');
  const correlationId = corr && ID_PATTERN.test(corr) ? corr : requestId;
  (req as ContextRequest).ctx = {
    requestId,
    correlationId,
    startedAt: performance.now(),
    receivedAt: new Date(),
    sourceIp: req.ip ?? null,
    userAgent: req.header('user-agent')?.slice(0, 512) ?? null,
  };
  res.setHeader('X-Request-Id', requestId);
  next();
}

export function contextOf(req: Request): RequestContext {
  const ctx = (req as Partial<ContextRequest>).ctx;
  if (!ctx) throw new Error('request context middleware did not run');
  return ctx;
}

/** The matched route template (`/v1/admin/control/tenants/:tenant_id`), or `unmatched`; known once the response is finished. */
export function routeOf(req: Request): string {
  const route = (req as Request & { route?: { path?: string } }).route?.path;
  return route ? `${req.baseUrl}${route}` : 'unmatched';
}
