import { HttpException } from '@nestjs/common';
import type { Response } from 'express';
import { sqlStateIn } from '../db/transient';
import { CommandIdReusedError, WrongExpectedRevisionError } from '../event-store/errors';
import { AppError, type ErrorCode } from './app-error';

/** The single mapping from error code to HTTP status. */
export const HTTP_STATUS: { readonly [K in ErrorCode]: number } = {
  validation_failed: 400,
  invalid_json: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  unauthorized: 401,
  auth_throttled: 429,
  forbidden: 403,
  route_not_found: 404,
  method_not_allowed: 405,
  not_found: 404,
  tenant_not_found: 404,
  tenant_already_exists: 409,
  tenant_already_suspended: 409,
  tenant_not_suspended: 409,
  tenant_suspended: 409,
  tenant_not_perf: 422,
  tenant_torn_down: 409,
  project_not_found: 404,
  project_already_exists: 409,
  project_archived: 409,
  project_already_archived: 409,
  project_not_in_tenant: 422,
  api_key_not_found: 404,
  api_key_revoked: 409,
  api_key_expired: 409,
  operator_not_found: 404,
  alert_not_found: 404,
  alert_route_not_found: 404,
  alert_route_already_exists: 409,
  slo_statement_not_computable: 422,
  shard_not_found: 404,
  shard_already_exists: 409,
  shard_ref_not_configured: 422,
  shard_ref_in_use: 409,
  shard_unreachable: 503,
  shards_not_supported: 422,
  shard_in_use: 409,
  shard_not_active: 409,
  shared_shard_immutable: 409,
  operator_already_exists: 409,
  operator_disabled: 409,
  last_owner: 409,
  headers_too_large: 431,
  quota_exceeded: 403,
  concurrency_conflict: 409,
  precondition_failed: 412,
  idempotency_key_reused: 422,
  internal_error: 500,
  service_unavailable: 503,
  invalid_tenant_id: 400,
  invalid_scope: 400,
  identity_mismatch: 403,
  invalid_private_rule_owner: 400,
  invalid_rule_scope_target: 400,
  edge_endpoint_not_found: 400,
  cross_scope_edge: 400,
  edge_self_loop: 400,
  node_id_conflict: 400,
  parent_commit_not_found: 400,
  invalid_aionis_uri: 400,
  conflicting_filters: 400,
  pack_hash_mismatch: 400,
  pack_scope_mismatch: 400,
  pack_edge_reference_missing: 400,
  no_embedding_provider: 400,
  debug_embeddings_requires_return_debug: 400,
  debug_embeddings_not_allowed: 400,
  debug_embeddings_limit_too_high: 400,
  debug_embeddings_too_large: 400,
  tenant_rate_limited_write: 429,
  tenant_rate_limited_recall: 429,
  admin_rate_limited: 429,
  write_backpressure: 429,
  recall_backpressure: 429,
  upstream_embedding_rate_limited: 429,
  upstream_embedding_unavailable: 503,
  upstream_embedding_bad_response: 502,
  rehydrate_no_resolved_nodes: 400,
  nodes_activate_no_resolved_nodes: 400,
  no_tools_allowed: 400,
  rule_not_found_in_scope: 400,
  invalid_rule_if_json: 400,
  invalid_rule_exceptions_json: 400,
  invalid_rule_then_json: 400,
  decision_not_found_in_scope: 400,
  decision_selected_tool_mismatch: 400,
  decision_candidates_mismatch: 400,
  decision_run_id_mismatch: 400,
};

const TITLES: { readonly [K in ErrorCode]: string } = {
  validation_failed: 'The request is not valid',
  invalid_json: 'The body is not valid JSON',
  unsupported_media_type: 'Unsupported media type',
  payload_too_large: 'The body is too large',
  unauthorized: 'Authentication required',
  auth_throttled: 'Too many failed authentications from this address',
  forbidden: 'Not allowed',
  route_not_found: 'No such endpoint',
  method_not_allowed: 'Method not allowed',
  not_found: 'Not found',
  tenant_not_found: 'Tenant not found',
  tenant_already_exists: 'Tenant already exists',
  tenant_already_suspended: 'Tenant is already suspended',
  tenant_not_suspended: 'Tenant is not suspended',
  tenant_suspended: 'Tenant is suspended',
  tenant_not_perf: 'Tenant was not created for perf runs',
  tenant_torn_down: 'Tenant was torn down',
  project_not_found: 'Project not found',
  project_already_exists: 'Project already exists',
  project_archived: 'Project is archived',
  project_already_archived: 'Project is already archived',
  project_not_in_tenant: 'Project belongs to another tenant',
  api_key_not_found: 'API key not found',
  api_key_revoked: 'API key is revoked',
  api_key_expired: 'API key has expired',
  operator_not_found: 'Operator not found',
  alert_not_found: 'Alert not found',
  alert_route_not_found: 'Alert route not found',
  alert_route_already_exists: 'Alert route already exists',
  slo_statement_not_computable: 'SLO statement cannot be computed',
  shard_not_found: 'Shard not found',
  shard_already_exists: 'Shard already exists',
  shard_ref_not_configured: 'The shard reference is not configured',
  shard_ref_in_use: 'The shard reference is used by another shard',
  shard_unreachable: 'The shard database is unreachable',
  shards_not_supported: 'Dedicated shards need PostgreSQL',
  shard_in_use: 'The shard still holds tenants',
  shard_not_active: 'The shard takes no new placements',
  shared_shard_immutable: 'The shared shard cannot be changed',
  operator_already_exists: 'Operator already exists',
  operator_disabled: 'Operator is disabled',
  last_owner: 'The last owner cannot be removed',
  headers_too_large: 'Request headers are too large',
  quota_exceeded: 'Quota exceeded',
  concurrency_conflict: 'Conflicting concurrent change',
  precondition_failed: 'Precondition failed',
  idempotency_key_reused: 'Idempotency key reused for a different request',
  internal_error: 'Internal error',
  service_unavailable: 'Service unavailable',
  invalid_tenant_id: 'Invalid tenant id',
  invalid_scope: 'Invalid scope',
  identity_mismatch: 'An identity field contradicts the API key',
  invalid_private_rule_owner: 'A private rule needs an owner',
  invalid_rule_scope_target: 'An agent or team rule needs its target',
  edge_endpoint_not_found: 'An edge names a node that does not exist',
  cross_scope_edge: 'An edge crosses scopes',
  edge_self_loop: 'An edge links a node to itself',
  node_id_conflict: 'The node id exists in another scope',
  parent_commit_not_found: 'The parent commit is not in this scope',
  invalid_aionis_uri: 'Invalid aionis:// URI',
  conflicting_filters: 'Filters contradict the URI',
  pack_hash_mismatch: 'The pack does not match its hash',
  pack_scope_mismatch: 'The pack belongs to another tenant or scope',
  pack_edge_reference_missing: 'A pack edge names a node the pack does not hold',
  no_embedding_provider: 'No embedding provider is configured',
  debug_embeddings_requires_return_debug: 'include_embeddings needs return_debug',
  debug_embeddings_not_allowed: 'Debug embeddings need an operator token',
  debug_embeddings_limit_too_high: 'Debug embeddings allow a limit of at most 20',
  debug_embeddings_too_large: 'The debug embeddings are too large',
  tenant_rate_limited_write: 'Too many write requests',
  tenant_rate_limited_recall: 'Too many recall requests',
  admin_rate_limited: 'Too many admin requests for this tenant',
  write_backpressure: 'Too many writes in flight',
  recall_backpressure: 'Too many recalls in flight',
  upstream_embedding_rate_limited: 'The embedding provider is rate limiting',
  upstream_embedding_unavailable: 'The embedding provider is unavailable',
  upstream_embedding_bad_response: 'The embedding provider answered badly',
  rehydrate_no_resolved_nodes: 'No node to rehydrate was found',
  nodes_activate_no_resolved_nodes: 'No node to activate was found',
  no_tools_allowed: 'No candidate tool is allowed by the policy',
  rule_not_found_in_scope: 'The rule node is not in this scope',
  invalid_rule_if_json: 'The rule condition is not a JSON object',
  invalid_rule_exceptions_json: 'The rule exceptions are not an array',
  invalid_rule_then_json: 'The rule policy patch is not valid',
  decision_not_found_in_scope: 'The decision is not in this scope',
  decision_selected_tool_mismatch: 'The decision selected another tool',
  decision_candidates_mismatch: 'The decision had other candidates',
  decision_run_id_mismatch: 'The decision belongs to another run',
};

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance: string;
  readonly code: ErrorCode;
  readonly request_id: string;
  readonly [extra: string]: unknown;
}

/** Turn anything thrown into an AppError; `internal` tells the caller to log it as a server fault. */
export function toAppError(err: unknown): { error: AppError; internal: boolean } {
  if (err instanceof AppError) return { error: err, internal: false };
  if (err instanceof WrongExpectedRevisionError) {
    return { error: new AppError('concurrency_conflict', 'the resource was changed concurrently; retry', { actual_revision: err.actual }), internal: false };
  }
  if (err instanceof CommandIdReusedError) {
    return { error: new AppError('idempotency_key_reused', 'this Idempotency-Key was already used for another resource'), internal: false };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const code: ErrorCode =
      status === 404 ? 'route_not_found' : status === 405 ? 'method_not_allowed' : status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : status < 500 ? 'validation_failed' : 'internal_error';
    return { error: new AppError(code, status === 404 ? 'no endpoint matches this method and path' : err.message), internal: status >= 500 };
  }
  // The database refused a connection or rolled a transaction back (after the retries of the
  // write path and the pool): a transient fault of ours, not the client's; retry shortly.
  const sqlstate = sqlStateIn(err);
  if (sqlstate !== undefined) {
    return { error: new AppError('service_unavailable', `the database is busy (SQLSTATE ${sqlstate}); retry shortly`, { retry_after_ms: 1000 }), internal: true };
  }
  // body-parser errors carry a `type` and a status.
  const bp = err as { type?: string; status?: number; message?: string };
  if (bp && typeof bp === 'object' && bp.type === 'entity.parse.failed') {
    const unstorable = /NUL character or an unpaired surrogate|not a finite number/.test(bp.message ?? '');
    return {
      error: new AppError('invalid_json', unstorable ? `the request body cannot be stored: ${bp.message ?? ''}` : 'the request body is not valid JSON'),
      internal: false,
    };
  }
  if (bp && typeof bp === 'object' && (bp.type === 'entity.too.deep' || bp.type === 'entity.not.utf8')) return { error: new AppError('invalid_json', bp.message ?? 'the request body cannot be read'), internal: false };
  if (bp && typeof bp === 'object' && bp.type === 'entity.too.large') return { error: new AppError('payload_too_large', 'the request body exceeds the size limit'), internal: false };
  if (bp && typeof bp === 'object' && (bp.type === 'encoding.unsupported' || bp.type === 'charset.unsupported')) {
    return { error: new AppError('unsupported_media_type', bp.message ?? 'unsupported encoding'), internal: false };
  }
  return { error: new AppError('internal_error', 'an unexpected error occurred; quote the request_id when reporting it'), internal: true };
}

export function problemOf(error: AppError, requestId: string, instance: string): Problem {
  const { errors, ...rest } = error.details;
  return {
    type: `urn:aionis:problem:${error.code}`,
    title: TITLES[error.code],
    status: HTTP_STATUS[error.code],
    detail: error.message,
    instance,
    code: error.code,
    request_id: requestId,
    ...rest,
    ...(errors ? { errors } : {}),
  };
}

/**
 * The memory API (`/v1/memory/*`) and `GET /health` follow the open core's contract, whose clients
 * read `error`, `message`, `details` and `issues` from an `application/json` body. Every other
 * route speaks RFC 7807 problem+json.
 */
export type ErrorSurface = 'contract' | 'admin';
export const surfaceOf = (path: string): ErrorSurface => (path === '/health' || path === '/v1/memory' || path.startsWith('/v1/memory/') ? 'contract' : 'admin');

/** Where the contract names the same failure differently, it says it its way (one code per failure). */
const CONTRACT_CODE: Partial<Record<ErrorCode, string>> = { validation_failed: 'invalid_request', invalid_json: 'invalid_request' };

export interface ContractError {
  /** The open core's members. */
  readonly error: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
  readonly issues?: readonly { path: string; message: string }[];
  /** Ours, as in problem+json. */
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  readonly request_id: string;
  readonly instance: string;
}

/** `body.nodes.0.salience` -> `nodes.0.salience`; a whole-body rule -> "". */
const issuePath = (field: string): string => field.replace(/^(body|query|params|header)(\.|$)/, '');

export function contractErrorOf(error: AppError, requestId: string, instance: string): ContractError {
  const { errors, ...rest } = error.details;
  const code = CONTRACT_CODE[error.code] ?? error.code;
  const issues = errors?.map((e) => ({ path: issuePath(e.field), message: e.message })) ?? (code === 'invalid_request' ? [{ path: '', message: error.message }] : undefined);
  return {
    error: code,
    message: error.message,
    ...(Object.keys(rest).length > 0 ? { details: rest } : {}),
    ...(issues ? { issues } : {}),
    type: `urn:aionis:problem:${code}`,
    title: TITLES[error.code],
    status: HTTP_STATUS[error.code],
    detail: error.message,
    code,
    request_id: requestId,
    instance,
  };
}

/** Headers every error of a kind carries, on both surfaces. */
function errorHeaders(res: Response, error: AppError): void {
  const status = HTTP_STATUS[error.code];
  if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
  const d = error.details;
  // Retry-After is whole seconds (never an HTTP date): the open core's client reads a number.
  if (typeof d.retry_after_ms === 'number') res.setHeader('Retry-After', String(Math.max(1, Math.ceil(d.retry_after_ms / 1000))));
  else if (status === 429) res.setHeader('Retry-After', '1');
  if (error.code === 'tenant_rate_limited_write' || error.code === 'tenant_rate_limited_recall' || error.code === 'admin_rate_limited') {
    if (typeof d.limit === 'number') res.setHeader('X-RateLimit-Limit', String(d.limit));
    res.setHeader('X-RateLimit-Remaining', '0');
    if (typeof d.reset === 'number') res.setHeader('X-RateLimit-Reset', String(d.reset));
  }
}

/**
 * Answer with an error in the shape of the route's surface. On the contract surface the body is
 * `application/json` unless the client asked for `application/problem+json` in Accept.
 */
export function writeError(res: Response, error: AppError, requestId: string, path: string, accept: string | undefined): void {
  errorHeaders(res, error);
  const status = HTTP_STATUS[error.code];
  if (surfaceOf(path) === 'contract') {
    const wantsProblem = /application\/problem\+json/i.test(accept ?? '');
    res.status(status).type(wantsProblem ? 'application/problem+json' : 'application/json').send(JSON.stringify(contractErrorOf(error, requestId, path)));
    return;
  }
  res.status(status).type('application/problem+json').send(JSON.stringify(problemOf(error, requestId, path)));
}
