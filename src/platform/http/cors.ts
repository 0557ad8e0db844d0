import type { NextFunction, Request, Response } from 'express';
import { surfaceOf } from '../errors/problem';

/**
 * CORS of the memory API and GET /health, as the open core sends it (contract §1.1): the allowed
 * origin from CORS_ALLOW_ORIGINS (`*`, or an exact match of the request's Origin with `vary:
 * Origin`), and every OPTIONS answered 204 before authentication. The admin API sends no CORS
 * headers (its callers are operators' tools and the console on the same origin).
 */
export function corsMiddleware(allowOrigins: readonly string[]): (req: Request, res: Response, next: NextFunction) => void {
  const any = allowOrigins.includes('*');
  const allowed = new Set(allowOrigins);
  return (req, res, next) => {
    if (surfaceOf(req.path) !== 'contract') {
      next();
      return;
    }
    const origin = req.header('origin');
    if (any) res.setHeader('access-control-allow-origin', '*');
    else {
      res.vary('Origin');
      if (origin !== undefined && allowed.has(origin)) res.setHeader('access-control-allow-origin', origin);
    }
    res.setHeader('access-control-allow-methods', 'GET,POST,OPTIONS');
    res.setHeader('access-control-allow-headers', 'content-type,x-api-key,x-tenant-id,authorization,x-request-id');
    res.setHeader('access-control-expose-headers', 'x-request-id,x-aionis-ignored-fields,retry-after,x-ratelimit-limit,x-ratelimit-remaining,x-ratelimit-reset');
    res.setHeader('access-control-max-age', '600');
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next();
  };
}
