import { spawnSync } from 'node:child_process';
import Ajv from 'ajv';
import { join } from 'node:path';

/**
 * Reading the service's own OpenAPI document in tests: the operations it lists (so a new endpoint
 * is covered by every test that iterates them), their example requests, and validation with a
 * real OpenAPI validator (@seriousme/openapi-schema-validator, run in a child process because it
 * is an ES module).
 */

export interface Parameter {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header';
  readonly required?: boolean;
  readonly schema?: Record<string, unknown>;
  readonly example?: string;
}

export interface Operation {
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  readonly path: string;
  readonly operationId: string;
  readonly parameters: readonly Parameter[];
  readonly requestBody?: { required?: boolean; content: Record<string, { schema?: unknown; example?: unknown }> };
  readonly responses: Record<string, unknown>;
  readonly security: readonly Record<string, unknown>[];
}

export type OpenApiDocument = { openapi: string; paths: Record<string, Record<string, Omit<Operation, 'method' | 'path'>>>; components: Record<string, Record<string, unknown>> };

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

export function operationsOf(doc: OpenApiDocument): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (op) out.push({ ...op, parameters: op.parameters ?? [], security: op.security ?? [], method, path });
    }
  }
  return out;
}

export const label = (op: Pick<Operation, 'method' | 'path'>): string => `${op.method.toUpperCase()} ${op.path}`;

/** The documented success status: the operation's first 2xx response. */
export function successStatus(op: Operation): number {
  const s = Object.keys(op.responses).find((k) => /^2\d\d$/.test(k));
  if (!s) throw new Error(`${label(op)} documents no success response`);
  return Number(s);
}

export type AuthKind = 'operator' | 'api_key' | 'none';
export function authOf(op: Operation): AuthKind {
  const names = op.security.flatMap((s) => Object.keys(s));
  if (names.includes('operatorToken')) return 'operator';
  if (names.includes('apiKey')) return 'api_key';
  return 'none';
}

/** Percent-encodes every byte of a string's UTF-8 form (or of raw bytes). */
export const percentEncode = (value: string | Uint8Array): string =>
  [...(typeof value === 'string' ? Buffer.from(value, 'utf8') : value)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');

/** The path with its parameters filled in (percent-encoded). */
export function fillPath(path: string, values: Readonly<Record<string, string>>): string {
  return path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for path parameter ${name} of ${path}`);
    return encodeURIComponent(v);
  });
}

/** Validation by @seriousme/openapi-schema-validator: `{valid, version, errors}`. */
export function validateDocument(doc: unknown): { valid: boolean; version: string; errors: unknown[] } {
  const r = spawnSync(process.execPath, [join(__dirname, '..', '..', 'scripts', 'validate-openapi.mjs')], { input: JSON.stringify(doc), encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`the validator failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { valid: boolean; version: string; errors: unknown[] };
}

/** Every `$ref` in the document, with whether it resolves inside the document. */
export function unresolvedRefs(doc: unknown): string[] {
  const missing: string[] = [];
  const resolve = (ref: string): boolean => {
    if (!ref.startsWith('#/')) return false;
    let node: unknown = doc;
    for (const part of ref.slice(2).split('/')) {
      const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
      if (!node || typeof node !== 'object' || !(key in node)) return false;
      node = (node as Record<string, unknown>)[key];
    }
    return true;
  };
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === '$ref' && typeof x === 'string' && !resolve(x)) missing.push(x);
        else walk(x);
      }
    }
  };
  walk(doc);
  return missing;
}

/**
 * A validator of response bodies against the document's schemas (OpenAPI 3.0 schema objects:
 * `nullable` is understood; formats are not checked). Returns the problems, or [] when it conforms.
 */
export function responseChecker(doc: OpenApiDocument): (schema: unknown, body: unknown) => string[] {
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema({ components: doc.components }, 'doc');
  return (schema, body) => {
    const rewritten = JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"doc#/components/')) as object;
    const validate = ajv.compile(rewritten);
    return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''}`);
  };
}
