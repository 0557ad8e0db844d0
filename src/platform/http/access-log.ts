import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { Logger as Pino } from 'pino';
import { pinoHttp } from 'pino-http';
import { withRequestLogger } from '../telemetry/logging';
import { contextOf, routeOf } from './request-context';

/** The fields of an access-log line (docs/observability.md). Absent facts are null, never missing. */
export interface AccessLogFields {
  readonly kind: 'access';
  readonly method: string;
  readonly route: string;
  readonly path: string;
  readonly status: number;
  readonly latency_ms: number;
  readonly tenant_id: string | null;
  readonly key_id: string | null;
  readonly operator_id: string | null;
  readonly correlation_id: string;
  readonly ip: string | null;
  /** The response was not finished: the client went away first. */
  readonly aborted: boolean;
}

export function accessFields(req: Request, res: Response): AccessLogFields {
  const ctx = contextOf(req);
  const params = req.params as Record<string, unknown> | undefined;
  const routeTenant = typeof params?.tenant_id === 'string' ? params.tenant_id : null;
  return {
    kind: 'access',
    method: req.method,
    route: routeOf(req),
    path: req.path,
    status: res.statusCode,
    latency_ms: Math.round((performance.now() - ctx.startedAt) * 100) / 100,
    tenant_id: ctx.tenantId ?? routeTenant,
    key_id: ctx.actor?.type === 'api_key' ? ctx.actor.id : null,
    operator_id: ctx.actor?.type === 'operator' ? ctx.actor.id : null,
    correlation_id: ctx.correlationId,
    ip: ctx.sourceIp,
    aborted: !res.writableFinished,
  };
}

/** 5xx error, 4xx warn, the rest info. */
export function accessLevel(status: number): 'error' | 'warn' | 'info' {
  return status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
}

/**
 * Exactly one access-log line per request, written when the response finishes (or the client goes
 * away), through pino-http. Mounted right after the request context, before body parsing, so that
 * requests refused by the body parser or the URL guard are logged too. Only the fields above are
 * written: no headers, no body.
 */
export function accessLogMiddleware(root: Pino): (req: Request, res: Response, next: NextFunction) => void {
  const fields = (req: IncomingMessage, res: ServerResponse) => accessFields(req as Request, res as Response);
  return pinoHttp({
    logger: root,
    genReqId: (req) => contextOf(req as Request).requestId,
    customAttributeKeys: { reqId: 'request_id' },
    quietReqLogger: true,
    quietResLogger: true,
    customLogLevel: (_req, res) => accessLevel(res.statusCode),
    customSuccessObject: fields,
    customErrorObject: fields,
    customSuccessMessage: () => 'request completed',
    customErrorMessage: () => 'request failed',
  });
}

/**
 * Nest `Logger` calls made while handling a request carry its `request_id`. Mounted after body
 * parsing, whose stream callbacks would otherwise lose the async context.
 */
export function requestLoggerMiddleware(req: Request, _res: Response, next: NextFunction): void {
  const log = (req as Request & { log?: Pino }).log;
  if (log) withRequestLogger(log, next);
  else next();
}
