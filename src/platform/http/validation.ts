import { z } from 'zod';
import { AppError, type FieldError } from '../errors/app-error';

/**
 * Validate one part of a request against a zod schema. Object schemas are strict: an unknown
 * field is an error. Every problem is listed with its path, e.g. `body.tenant_id`.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'params' | 'header'): z.infer<S> {
  const r = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (r.success) return r.data;
  const errors: FieldError[] = r.error.issues.map((i) => {
    if (i.code === 'unrecognized_keys') {
      return { field: [where, ...i.path.map(String)].join('.'), message: `unknown field(s): ${i.keys.join(', ')}` };
    }
    return { field: [where, ...i.path.map(String)].join('.'), message: i.message };
  });
  throw new AppError('validation_failed', `${errors.length} invalid field(s): ${errors.map((e) => e.field).join(', ')}`, { errors });
}

/** JSON object metadata: at most 50 keys and 8 KiB serialised, no NUL characters (jsonb refuses them). */
export const metadataSchema = z
  .record(z.string().min(1).max(128), z.json())
  .refine((m) => Object.keys(m).length <= 50, { message: 'at most 50 keys' })
  .refine((m) => JSON.stringify(m).length <= 8192, { message: 'at most 8 KiB when serialised' })
  .refine((m) => !JSON.stringify(m).includes('\\u0000'), { message: 'must not contain NUL characters' });

export const reasonSchema = z.string().trim().min(1).max(500).refine((s) => !s.includes('\u0000'), { message: 'must not contain NUL characters' });

/**
 * Free text in a query parameter: well-formed Unicode without NUL (no PostgreSQL text column can
 * hold one), 1-200 characters unless told otherwise. Query filters use it instead of a bare string.
 */
export const queryText = (max = 200) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => !s.includes('\u0000') && s.isWellFormed(), { message: 'must not contain NUL characters or unpaired surrogates' });
