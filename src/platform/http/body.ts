import express, { type NextFunction, type Request, type Response } from 'express';
import { AppError } from '../errors/app-error';
import { problemOf, toAppError, writeProblem } from '../errors/problem';
import { contextOf } from './request-context';

function fail(req: Request, res: Response, err: unknown): void {
  const { error } = toAppError(err);
  writeProblem(res, problemOf(error, contextOf(req).requestId, req.originalUrl.split('?')[0] ?? '/'));
}

/** Marks a body whose JSON is valid but cannot be stored (PostgreSQL jsonb refuses these). */
export class UnstorableStringError extends SyntaxError {}

/**
 * JSON.parse reviver: strings (values and keys) must be well-formed Unicode without NUL, which
 * jsonb cannot hold. Caught here, at the edge, instead of failing later as a server error.
 */
function rejectUnstorableStrings(key: string, value: unknown): unknown {
  if (key.includes('\u0000') || !key.isWellFormed()) throw new UnstorableStringError('a key contains a NUL character or an unpaired surrogate');
  if (typeof value === 'string' && (value.includes('\u0000') || !value.isWellFormed())) {
    throw new UnstorableStringError('a string contains a NUL character or an unpaired surrogate');
  }
  return value;
}

/**
 * JSON bodies only: a body with another content type is a 415, malformed JSON a 400, an oversized
 * body a 413, all as problem+json (body-parser's own errors never reach the client raw).
 */
export function jsonBodyMiddleware(limit: string): (req: Request, res: Response, next: NextFunction) => void {
  const parse = express.json({ limit, strict: true, type: ['application/json', 'application/*+json'], reviver: rejectUnstorableStrings });
  return (req, res, next) => {
    const hasBody = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && ['POST', 'PUT', 'PATCH', 'DELETE'].includes(req.method)) {
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (type !== 'application/json' && !/^application\/[a-z0-9.+-]*\+json$/.test(type)) {
        fail(req, res, new AppError('unsupported_media_type', `send JSON with Content-Type: application/json (got "${type || 'none'}")`));
        return;
      }
    }
    parse(req, res, (err?: unknown) => {
      if (err) fail(req, res, err);
      else next();
    });
  };
}
