import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { contextOf } from '../http/request-context';
import { toAppError, writeError } from './problem';

/** Every error leaves the service with a stable code and the request id, in the shape of its surface (problem.ts writeError). */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    const { error, internal } = toAppError(exception);
    const requestId = (() => {
      try {
        return contextOf(req).requestId;
      } catch {
        return 'unknown';
      }
    })();
    if (internal) {
      // request_id comes from the request's logger binding (access-log.ts); a database error's SQLSTATE names its cause (40P01 deadlock, 53300 too many connections, ...).
      this.logger.error({
        msg: 'unhandled error',
        method: req.method,
        path: req.path,
        code: error.code,
        sqlstate: (exception as { code?: unknown } | null)?.code ?? null,
        err: exception instanceof Error ? exception : new Error(String(exception)),
      });
    }
    if (res.headersSent) return;
    writeError(res, error, requestId, req.originalUrl.split('?')[0] ?? '/', req.header('accept'));
  }
}
