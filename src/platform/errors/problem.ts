import { HttpException } from '@nestjs/common';
import type { Response } from 'express';
import { CommandIdReusedError, WrongExpectedRevisionError } from '../event-store/errors';
import { AppError, type ErrorCode } from './app-error';

/** The single mapping from error code to HTTP status. */
export const HTTP_STATUS: { readonly [K in ErrorCode]: number } = {
  validation_failed: 400,
  invalid_json: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  unauthorized: 401,
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
  operator_already_exists: 409,
  operator_disabled: 409,
  last_owner: 409,
  headers_too_large: 431,
  tenant_mismatch: 403,
  edge_endpoint_not_found: 422,
  quota_exceeded: 403,
  concurrency_conflict: 409,
  precondition_failed: 412,
  idempotency_key_reused: 422,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
};

const TITLES: { readonly [K in ErrorCode]: string } = {
  validation_failed: 'The request is not valid',
  invalid_json: 'The body is not valid JSON',
  unsupported_media_type: 'Unsupported media type',
  payload_too_large: 'The body is too large',
  unauthorized: 'Authentication required',
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
  operator_already_exists: 'Operator already exists',
  operator_disabled: 'Operator is disabled',
  last_owner: 'The last owner cannot be removed',
  headers_too_large: 'Request headers are too large',
  tenant_mismatch: 'The tenant in the request is not the key’s tenant',
  edge_endpoint_not_found: 'An edge names a node that does not exist',
  quota_exceeded: 'Quota exceeded',
  concurrency_conflict: 'Conflicting concurrent change',
  precondition_failed: 'Precondition failed',
  idempotency_key_reused: 'Idempotency key reused for a different request',
  rate_limited: 'Too many requests',
  internal_error: 'Internal error',
  service_unavailable: 'Service unavailable',
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
  // body-parser errors carry a `type` and a status.
  const bp = err as { type?: string; status?: number; message?: string };
  if (bp && typeof bp === 'object' && bp.type === 'entity.parse.failed') {
    const unstorable = /NUL character or an unpaired surrogate/.test(bp.message ?? '');
    return {
      error: new AppError('invalid_json', unstorable ? `the request body cannot be stored: ${bp.message ?? ''}` : 'the request body is not valid JSON'),
      internal: false,
    };
  }
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

export function writeProblem(res: Response, problem: Problem): void {
  if (problem.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
  if (problem.code === 'rate_limited') {
    if (typeof problem.retry_after === 'number') res.setHeader('Retry-After', String(problem.retry_after));
    if (typeof problem.limit === 'number') res.setHeader('X-RateLimit-Limit', String(problem.limit));
    res.setHeader('X-RateLimit-Remaining', '0');
    if (typeof problem.reset === 'number') res.setHeader('X-RateLimit-Reset', String(problem.reset));
  }
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
}
