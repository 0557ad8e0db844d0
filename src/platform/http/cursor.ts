import { z } from 'zod';
import { AppError } from '../errors/app-error';

/**
 * The one cursor codec of every list endpoint. A cursor is opaque to clients: base64url of a small
 * JSON object. Each kind of cursor has a strict zod schema, so a cursor a client made up (NUL
 * characters, a non-numeric position, an unknown key, a number out of range, broken base64 or
 * JSON) is a 400 `validation_failed` at the edge and never reaches SQL. Cursors are not signed:
 * they only say where a page starts, and every value in them is checked as strictly as a query
 * parameter would be (docs/api.md, Pagination).
 */

/** Text a cursor may carry: an id as this API issues them (visible ASCII, no NUL, bounded). */
export const cursorText = z.string().regex(/^[\x21-\x7e]{1,200}$/, 'not an id this API issued');
/** A non-negative integer position, written as a decimal string, that JavaScript holds exactly. */
export const cursorPosition = z
  .string()
  .regex(/^\d{1,16}$/, 'not a position')
  .refine((s) => Number(s) <= Number.MAX_SAFE_INTEGER, { message: 'position out of range' });

/** The query parameter every list endpoint takes: base64url, at most 512 characters. */
export const cursorParam = z
  .string()
  .max(512)
  .regex(/^[A-Za-z0-9_-]*$/, 'must be a cursor this API returned (base64url)')
  .describe('Opaque: the `next_cursor` of the previous page.');

export interface CursorCodec<T> {
  encode(value: T): string;
  /** The decoded cursor, or a 400 `validation_failed` naming `query.cursor`. */
  decode(cursor: string): T;
}

const invalid = (why: string): AppError =>
  new AppError('validation_failed', 'the cursor is not one this API issued', { errors: [{ field: 'query.cursor', message: `invalid cursor: ${why}` }] });

export function cursorCodec<Shape extends Record<string, z.ZodType<string, string>>>(shape: Shape): CursorCodec<z.output<z.ZodObject<Shape>>> {
  const strict = z.strictObject(shape);
  return {
    encode: (value) => Buffer.from(JSON.stringify(strict.parse(value)), 'utf8').toString('base64url'),
    decode: (cursor) => {
      if (!/^[A-Za-z0-9_-]{1,512}$/.test(cursor)) throw invalid('not base64url');
      const bytes = Buffer.from(cursor, 'base64url');
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch {
        throw invalid('not JSON');
      }
      const r = strict.safeParse(json);
      if (!r.success) throw invalid(r.error.issues.map((i) => `${i.path.join('.') || '(cursor)'}: ${i.message}`).join('; '));
      return r.data;
    },
  };
}

/** Keyset after an id (tenants, projects, API keys, operators, dead letters). */
export const afterIdCursor = cursorCodec({ after: cursorText });
/** The audit trail's position: transaction id and global position of the last event returned. */
export const auditCursor = cursorCodec({ tx: cursorPosition, gp: cursorPosition });
/** A scope's commit chain: the sequence number of the last commit returned. */
export const commitSeqCursor = cursorCodec({ seq: cursorPosition });
/** Keyset after a job id (dead letters; a uuid column). */
export const afterUuidCursor = cursorCodec({ after: z.guid() });
