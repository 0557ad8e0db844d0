import { isUtf8 } from 'node:buffer';
import express, { type NextFunction, type Request, type Response } from 'express';
import { AppError } from '../errors/app-error';
import { toAppError, writeError } from '../errors/problem';
import { contextOf } from './request-context';

function fail(req: Request, res: Response, err: unknown): void {
  const { error } = toAppError(err);
  writeError(res, error, contextOf(req).requestId, req.originalUrl.split('?')[0] ?? '/', req.header('accept'));
}

/** Marks a body whose JSON is valid but cannot be stored (PostgreSQL jsonb refuses these). */
export class UnstorableStringError extends SyntaxError {}

/**
 * JSON.parse reviver: strings (values and keys) must be well-formed Unicode without NUL, which
 * jsonb cannot hold, and numbers must be finite (`1e999` parses to Infinity, which JSON cannot
 * write back: it would be stored as null, or fail a hash). Caught here, at the edge, instead of
 * failing later as a server error or changing what was sent.
 */
function rejectUnstorableStrings(key: string, value: unknown): unknown {
  if (key.includes('\u0000') || !key.isWellFormed()) throw new UnstorableStringError('a key contains a NUL character or an unpaired surrogate');
  if (typeof value === 'string' && (value.includes('\u0000') || !value.isWellFormed())) {
    throw new UnstorableStringError('a string contains a NUL character or an unpaired surrogate');
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new UnstorableStringError(`the number at "${key}" is out of range (not a finite number)`);
  return value;
}

/**
 * A URL whose path or query decodes to a NUL character is refused (400) before any route: no
 * database text column can hold it, so it could only fail later as a server error.
 */
export function urlGuardMiddleware(req: Request, res: Response, next: NextFunction): void {
  if (/%00/i.test(req.originalUrl)) {
    fail(req, res, new AppError('validation_failed', 'the URL contains a NUL character (%00)', { errors: [{ field: 'url', message: 'must not contain %00' }] }));
    return;
  }
  next();
}

/** JSON nested deeper than this is refused before parsing: every later walk over the value stays shallow. */
export const MAX_JSON_DEPTH = 100;

/** A body refused on its raw bytes (depth, encoding); body-parser reports it with this status and type. */
export class RawBodyError extends Error {
  readonly status = 400;
  readonly expose = true;
  constructor(
    readonly type: 'entity.too.deep' | 'entity.not.utf8',
    message: string,
  ) {
    super(message);
  }
}

/** Deepest nesting of arrays and objects in a JSON text, counted on its bytes (strings skipped). */
export function jsonDepth(buf: Uint8Array, stopAbove: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

function checkRawBody(_req: Request, _res: Response, buf: Buffer): void {
  if (!isUtf8(buf)) throw new RawBodyError('entity.not.utf8', 'the request body is not valid UTF-8');
  if (jsonDepth(buf, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw new RawBodyError('entity.too.deep', `the request body is nested deeper than ${MAX_JSON_DEPTH} levels`);
}

/**
 * JSON bodies only: a body with another content type is a 415, malformed JSON, invalid UTF-8 or
 * nesting deeper than MAX_JSON_DEPTH a 400, an oversized body a 413, each in the error shape of its
 * route (body-parser's own errors never reach the client raw). The memory API accepts bodies up to
 * `memoryLimit` (the contract's 5 MiB); every other route up to `limit`.
 */
export function jsonBodyMiddleware(limit: string, memoryLimit: string = limit): (req: Request, res: Response, next: NextFunction) => void {
  const options = { strict: true, type: ['application/json', 'application/*+json'], reviver: rejectUnstorableStrings, verify: checkRawBody };
  const parse = express.json({ ...options, limit });
  const parseMemory = express.json({ ...options, limit: memoryLimit });
  return (req, res, next) => {
    const hasBody = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && ['POST', 'PUT', 'PATCH', 'DELETE'].includes(req.method)) {
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (type !== 'application/json' && !/^application\/[a-z0-9.+-]*\+json$/.test(type)) {
        fail(req, res, new AppError('unsupported_media_type', `send JSON with Content-Type: application/json (got "${type || 'none'}")`));
        return;
      }
      // JSON is UTF-8 (RFC 8259 §8.1): another charset would be transcoded before the UTF-8 check.
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        fail(req, res, new AppError('unsupported_media_type', `JSON bodies are UTF-8 (got charset "${charset}")`));
        return;
      }
    }
    const parser = req.path.startsWith('/v1/memory/') ? parseMemory : parse;
    parser(req, res, (err?: unknown) => {
      if (err) fail(req, res, err);
      else next();
    });
  };
}
