import { createHash } from 'node:crypto';
import { type CallHandler, type ExecutionContext, type INestApplication, Injectable, type NestInterceptor } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import { z } from 'zod';
import { ERROR_CODES } from '../errors/app-error';
import { surfaceOf } from '../errors/problem';
import { parseInput } from './validation';

/**
 * The OpenAPI 3.0.3 document, generated from the zod schemas that validate requests
 * (docs/adr/0004-openapi-from-zod.md). Nest's scanner finds the routes; each handler declares its
 * contract with `@ApiContract` (the same zod objects the handler parses with), and
 * `buildOpenApiDocument` turns every contract into the operation: path, query and header
 * parameters, request body, success and error responses, security and an example request. A
 * route without a contract, or a path parameter the contract does not declare, fails the boot.
 */

export type ApiAuth = 'operator' | 'api_key' | 'none';

/** A schema that becomes a named entry of `components.schemas`. */
export interface NamedSchema {
  readonly component: string;
  readonly schema: z.ZodType;
}
export const named = (component: string, schema: z.ZodType): NamedSchema => ({ component, schema });
type SchemaLike = z.ZodType | NamedSchema;

export interface ResponseDoc {
  readonly status: number;
  readonly description: string;
  /** Body schema (JSON unless `contentType` says otherwise); none for an empty body. */
  readonly schema?: SchemaLike;
  readonly contentType?: string;
  /** Further media types of the same response (e.g. NDJSON), each with its schema. */
  readonly alternatives?: Readonly<Record<string, SchemaLike>>;
}

/** One request the API accepts with the success status: values of the path and query parameters and the body. */
export interface ExampleDoc {
  readonly params?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

export interface ContractDoc {
  readonly summary: string;
  readonly description?: string;
  readonly auth: ApiAuth;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: SchemaLike;
  /** Defaults to true when there is a body schema. */
  readonly bodyRequired?: boolean;
  readonly response: ResponseDoc;
  /** Other documented answers that are not errors of the surface (e.g. readiness's 503 with its own body). */
  readonly otherResponses?: readonly ResponseDoc[];
  /** Error statuses beyond the defaults of the route's surface and method. */
  readonly errors?: readonly number[];
  readonly example?: ExampleDoc;
}

const CONTRACTS = new Map<string, ContractDoc>();
const operationKey = (controller: string, method: string): string => `${controller}_${method}`;

/** Declares the contract of a route; the handler must parse its input with the same schemas. */
export function ApiContract(doc: ContractDoc): MethodDecorator {
  return (target, key, descriptor) => {
    CONTRACTS.set(operationKey((target as { constructor: { name: string } }).constructor.name, String(key)), doc);
    if (descriptor.value) Reflect.defineMetadata(CONTRACT_METADATA, doc, descriptor.value);
  };
}

const CONTRACT_METADATA = 'aionis:api-contract';

/**
 * Global: a query parameter on an admin or operations route whose contract declares no query is a
 * 400 (as an unknown parameter is on the routes that declare one), so every query a route accepts
 * is one its zod schema validates. The memory API keeps the open core's tolerant reader.
 */
@Injectable()
export class UndeclaredQueryInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const req = context.switchToHttp().getRequest<Request>();
      const doc = Reflect.getMetadata(CONTRACT_METADATA, context.getHandler()) as ContractDoc | undefined;
      const names = Object.keys((req.query as Record<string, unknown> | undefined) ?? {});
      if (doc && !doc.query && names.length > 0 && surfaceOf(req.path) === 'admin') parseInput(z.strictObject({}), req.query, 'query');
    }
    return next.handle();
  }
}

// ---- the error bodies ----------------------------------------------------------------------

const FieldErrorSchema = z.object({ field: z.string(), message: z.string() });
/** RFC 7807 problem+json, as problem.ts writes it (admin and operations routes). */
export const ProblemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string(),
    code: z.enum(ERROR_CODES),
    request_id: z.string(),
    errors: z.array(FieldErrorSchema).optional(),
  })
  .describe('RFC 7807 problem details with a stable `code` and the `request_id`; `errors` lists every invalid field.');
/** The open core's error body with the problem members beside it (memory API, `GET /health`). */
export const ContractErrorSchema = z
  .looseObject({
    error: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    request_id: z.string(),
    instance: z.string(),
  })
  .describe("The memory contract's error: `error`, `message`, `details`, `issues`, and the problem+json members.");

const STATUS_TEXT: Record<number, string> = {
  400: 'Invalid request (a field, parameter, header or cursor; all listed)',
  401: 'No valid credential (always the same answer)',
  403: 'Not allowed for this role, key scope or quota',
  404: 'No such resource or route',
  409: 'Conflicts with the current state',
  412: 'If-Match is stale',
  413: 'Body too large',
  415: 'Body is not JSON (UTF-8)',
  422: 'Refused by a rule (e.g. Idempotency-Key reused)',
  429: 'Rate limited or back-pressure (Retry-After)',
  431: 'Request headers too large',
  500: 'A fault of ours; quote the request_id',
  502: 'The embedding provider answered badly',
  503: 'A dependency is unavailable',
};

const isWrite = (method: string): boolean => ['post', 'put', 'patch', 'delete'].includes(method);

function defaultErrors(doc: ContractDoc, method: string): number[] {
  // 429: the admin rate limit (admin_rate_limited) and failed authentications per address (auth_throttled); 503: a busy database (service_unavailable)
  if (doc.auth === 'operator') return [400, 401, 403, 404, ...(isWrite(method) ? [409, 412, 413, 415, 422] : []), 429, 500, 503];
  if (doc.auth === 'api_key') return [400, 401, 403, 429, ...(isWrite(method) ? [413, 415] : []), 500, 503];
  return [500];
}

// ---- zod to OpenAPI 3.0 --------------------------------------------------------------------

type Json = Record<string, unknown>;
const REF_PREFIX = '#/components/schemas/';

class SchemaSet {
  readonly schemas: Record<string, Json> = {};

  /** The OpenAPI 3.0 schema of a zod schema; shared or recursive parts become components. */
  convert(schema: SchemaLike, io: 'input' | 'output'): Json {
    if ('component' in schema) {
      if (!this.schemas[schema.component]) this.schemas[schema.component] = this.inline(schema.schema, io);
      return { $ref: `${REF_PREFIX}${schema.component}` };
    }
    return this.inline(schema, io);
  }

  private inline(schema: z.ZodType, io: 'input' | 'output'): Json {
    const js = z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'any', io }) as Json;
    const defs = { ...((js.definitions as Json | undefined) ?? {}), ...((js.$defs as Json | undefined) ?? {}) };
    delete js.definitions;
    delete js.$defs;
    delete js.$schema;
    // Each local definition gets a component name from its content, so equal definitions share one.
    const names: Record<string, string> = {};
    for (const [local, def] of Object.entries(defs)) {
      names[local] = /^__schema\d+$/.test(local) ? `Def${createHash('sha256').update(JSON.stringify(def)).digest('hex').slice(0, 12)}` : local;
    }
    const rewrite = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(rewrite);
      if (!v || typeof v !== 'object') return v;
      const out: Json = {};
      for (const [k, x] of Object.entries(v as Json)) {
        if (k === '$ref' && typeof x === 'string') {
          const local = /^#\/(?:definitions|\$defs)\/(.+)$/.exec(x)?.[1];
          out[k] = local !== undefined && names[local] ? `${REF_PREFIX}${names[local]}` : x;
        } else out[k] = rewrite(x);
      }
      return out;
    };
    for (const [local, def] of Object.entries(defs)) {
      const name = names[local]!;
      if (!this.schemas[name]) this.schemas[name] = rewrite(def) as Json;
    }
    return rewrite(js) as Json;
  }
}

// ---- the document ----------------------------------------------------------------------------

const SECURITY_SCHEMES = {
  operatorToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'opaque',
    description: "An operator's token (opaque, `aio_admin_…`): `Authorization: Bearer <token>`.",
  },
  adminToken: { type: 'apiKey', in: 'header', name: 'X-Admin-Token', description: "An operator's token in X-Admin-Token (same as the bearer form)." },
  apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'A tenant API key (opaque).' },
  apiKeyBearer: { type: 'http', scheme: 'bearer', bearerFormat: 'opaque', description: 'A tenant API key as `Authorization: Bearer <key>`.' },
} as const;

const SECURITY: Record<ApiAuth, Json[]> = {
  operator: [{ operatorToken: [] }, { adminToken: [] }],
  api_key: [{ apiKey: [] }, { apiKeyBearer: [] }],
  none: [],
};

const COMMAND_HEADERS = [
  {
    name: 'If-Match',
    in: 'header',
    required: false,
    description: 'The ETag (revision) last seen; a stale one is 412 and writes nothing. Malformed is 400.',
    schema: { type: 'string', pattern: '^\\s*(?:W/)?"?\\d{1,15}"?\\s*$' },
  },
  {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description: 'A retry with the same key returns the first outcome and writes nothing again. Malformed is 400.',
    schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
  },
];

const TENANT_HEADER = {
  name: 'X-Tenant-Id',
  in: 'header',
  required: false,
  description: "Optional: a tenant named here (or as tenant_id) must be the key's own, else 403 identity_mismatch.",
  schema: { type: 'string' },
};

function parametersOf(set: SchemaSet, where: 'path' | 'query', schema: z.ZodObject | undefined, examples: Readonly<Record<string, string>> | undefined): Json[] {
  if (!schema) return [];
  const js = set.convert(schema, 'input');
  const props = (js.properties as Record<string, Json> | undefined) ?? {};
  const required = new Set((js.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
      ...(examples?.[name] !== undefined ? { example: examples[name] } : {}),
    };
  });
}

function responseOf(set: SchemaSet, r: ResponseDoc): Json {
  const content: Json = {};
  if (r.schema) content[r.contentType ?? 'application/json'] = { schema: set.convert(r.schema, 'output') };
  for (const [type, s] of Object.entries(r.alternatives ?? {})) content[type] = { schema: set.convert(s, 'output') };
  return { description: r.description, ...(Object.keys(content).length > 0 ? { content } : {}) };
}

function operationOf(set: SchemaSet, doc: ContractDoc, path: string, method: string, base: Json): Json {
  const declared = new Set(Object.keys(doc.params?.shape ?? {}));
  for (const m of path.matchAll(/\{([^}]+)\}/g)) {
    if (!declared.has(m[1]!)) throw new Error(`OpenAPI: ${method.toUpperCase()} ${path} does not declare its path parameter ${m[1]}`);
  }
  const errorBody = surfaceOf(path) === 'contract' ? named('ContractError', ContractErrorSchema) : named('Problem', ProblemSchema);
  const errorType = errorBody.component === 'Problem' ? 'application/problem+json' : 'application/json';
  const responses: Json = { [String(doc.response.status)]: responseOf(set, doc.response) };
  for (const r of doc.otherResponses ?? []) responses[String(r.status)] = responseOf(set, r);
  for (const status of [...new Set([...defaultErrors(doc, method), ...(doc.errors ?? [])])].sort()) {
    if (responses[String(status)]) continue;
    responses[String(status)] = { description: STATUS_TEXT[status] ?? 'Error', content: { [errorType]: { schema: set.convert(errorBody, 'output') } } };
  }
  const parameters = [
    ...parametersOf(set, 'path', doc.params, doc.example?.params),
    ...parametersOf(set, 'query', doc.query, doc.example?.query),
    ...(doc.auth === 'operator' && isWrite(method) ? COMMAND_HEADERS : []),
    ...(doc.auth === 'api_key' && surfaceOf(path) === 'contract' ? [TENANT_HEADER] : []),
  ];
  return {
    operationId: base.operationId,
    ...(base.tags ? { tags: base.tags } : {}),
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(doc.body
      ? {
          requestBody: {
            required: doc.bodyRequired ?? true,
            content: { 'application/json': { schema: set.convert(doc.body, 'input'), ...(doc.example?.body !== undefined ? { example: doc.example.body } : {}) } },
          },
        }
      : {}),
    responses,
    security: SECURITY[doc.auth],
  };
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** The whole document, from the routes Nest knows and their contracts. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const scanned = SwaggerModule.createDocument(app, new DocumentBuilder().build(), {
    operationIdFactory: (controller: string, method: string) => operationKey(controller, method),
  });
  const set = new SchemaSet();
  const paths: Record<string, Json> = {};
  for (const [path, item] of Object.entries(scanned.paths)) {
    for (const method of METHODS) {
      const base = (item as Record<string, Json | undefined>)[method];
      if (!base) continue;
      const doc = CONTRACTS.get(String(base.operationId));
      if (!doc) throw new Error(`OpenAPI: ${method.toUpperCase()} ${path} (${String(base.operationId)}) has no @ApiContract`);
      (paths[path] ??= {})[method] = operationOf(set, doc, path, method, base);
    }
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Aionis Hosted API',
      version: '1',
      description:
        'The control plane (admin; operator tokens), operations, and the memory API (`/v1/memory/*`; tenant API keys). ' +
        'Admin and operations errors are RFC 7807 problem+json with a stable `code` and the `request_id`; the memory API answers ' +
        "the open core's JSON error body. Conventions: docs/api.md.",
    },
    tags: [...new Set(Object.values(paths).flatMap((i) => Object.values(i).flatMap((o) => ((o as Json).tags as string[] | undefined) ?? [])))].sort().map((name) => ({ name })),
    paths: paths as OpenAPIObject['paths'],
    components: { securitySchemes: SECURITY_SCHEMES as unknown as NonNullable<OpenAPIObject['components']>['securitySchemes'], schemas: set.schemas },
  } as OpenAPIObject;
}

// ---- shared response shapes ----------------------------------------------------------------

/** A response object whose members are not all listed (documented loosely; more may appear). */
export const objectResponse = (description: string) => z.looseObject({}).describe(description);
/** `{items, next_cursor}`: a page of a list endpoint (docs/api.md, Pagination). */
export const pageOf = (item: z.ZodType) => z.object({ items: z.array(item), next_cursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last page') });
