import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import { AppError } from '../errors/app-error';
import { surfaceOf } from '../errors/problem';

/**
 * The two command headers of the admin API (docs/api.md, Revisions and Idempotency), parsed in one
 * place. A malformed value is a 400 on every write route, whether or not the route uses it.
 */

/** If-Match: `"7"`, `W/"7"` or `7`; null when absent. */
export function ifMatchRevision(req: Request): number | null {
  const h = req.header('if-match');
  if (h === undefined) return null;
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(h);
  if (!m) throw new AppError('validation_failed', 'If-Match must be an ETag this API returned, e.g. "3"', { errors: [{ field: 'header.if-match', message: 'not a revision ETag' }] });
  return Number(m[1]);
}

/** Idempotency-Key: 1-255 visible ASCII characters; null when absent. */
export function idempotencyKey(req: Request): string | null {
  const k = req.header('idempotency-key');
  if (k === undefined) return null;
  if (!/^[\x21-\x7e]{1,255}$/.test(k)) {
    throw new AppError('validation_failed', 'Idempotency-Key must be 1-255 visible ASCII characters', { errors: [{ field: 'header.idempotency-key', message: 'invalid' }] });
  }
  return k;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Global: on every admin write route (POST, PUT, PATCH, DELETE outside the memory contract), a
 * malformed If-Match or Idempotency-Key is refused after authentication and before the handler,
 * so no route can forget to check them. The memory API (`/v1/memory/*`) follows the open core's
 * contract, which has neither header.
 */
@Injectable()
export class CommandHeadersInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const req = context.switchToHttp().getRequest<Request>();
      if (WRITES.has(req.method) && surfaceOf(req.path) === 'admin') {
        ifMatchRevision(req);
        idempotencyKey(req);
      }
    }
    return next.handle();
  }
}
