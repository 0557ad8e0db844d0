/**
 * The one error taxonomy. Every error a client can see has a stable code; its HTTP status is
 * decided in exactly one place (problem.filter.ts, HTTP_STATUS). Domain and platform code throw
 * AppError, never an HTTP exception.
 */
export const ERROR_CODES = [
  'validation_failed',
  'invalid_json',
  'unsupported_media_type',
  'payload_too_large',
  'unauthorized',
  'auth_throttled',
  'forbidden',
  'route_not_found',
  'method_not_allowed',
  'not_found',
  'tenant_not_found',
  'tenant_already_exists',
  'tenant_already_suspended',
  'tenant_not_suspended',
  'tenant_suspended',
  'tenant_not_perf',
  'tenant_torn_down',
  'project_not_found',
  'project_already_exists',
  'project_archived',
  'project_already_archived',
  'project_not_in_tenant',
  'api_key_not_found',
  'api_key_revoked',
  'api_key_expired',
  'operator_not_found',
  'operator_already_exists',
  'operator_disabled',
  'last_owner',
  'alert_not_found',
  'alert_route_not_found',
  'alert_route_already_exists',
  'slo_statement_not_computable',
  'shard_not_found',
  'shard_already_exists',
  'shard_ref_not_configured',
  'shard_ref_in_use',
  'shard_unreachable',
  'shards_not_supported',
  'shard_in_use',
  'shard_not_active',
  'shared_shard_immutable',
  'headers_too_large',
  'quota_exceeded',
  'concurrency_conflict',
  'precondition_failed',
  'idempotency_key_reused',
  'internal_error',
  'service_unavailable',
  // The memory kernel contract's codes (../shared/reference/aionis-memory-contract.md; docs/kernel-compatibility.md).
  'invalid_tenant_id',
  'invalid_scope',
  'identity_mismatch',
  'invalid_private_rule_owner',
  'invalid_rule_scope_target',
  'edge_endpoint_not_found',
  'cross_scope_edge',
  'edge_self_loop',
  'node_id_conflict',
  'parent_commit_not_found',
  'invalid_aionis_uri',
  'conflicting_filters',
  'pack_hash_mismatch',
  'pack_scope_mismatch',
  'pack_edge_reference_missing',
  'no_embedding_provider',
  'debug_embeddings_requires_return_debug',
  'debug_embeddings_not_allowed',
  'debug_embeddings_limit_too_high',
  'debug_embeddings_too_large',
  'tenant_rate_limited_write',
  'tenant_rate_limited_recall',
  'admin_rate_limited',
  'write_backpressure',
  'recall_backpressure',
  'upstream_embedding_rate_limited',
  'upstream_embedding_unavailable',
  'upstream_embedding_bad_response',
  'rehydrate_no_resolved_nodes',
  'nodes_activate_no_resolved_nodes',
  'no_tools_allowed',
  'rule_not_found_in_scope',
  'invalid_rule_if_json',
  'invalid_rule_exceptions_json',
  'invalid_rule_then_json',
  'decision_not_found_in_scope',
  'decision_selected_tool_mismatch',
  'decision_candidates_mismatch',
  'decision_run_id_mismatch',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface FieldError {
  /** Where: `body.tenant_id`, `query.limit`, `header.if-match`. */
  readonly field: string;
  readonly message: string;
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { readonly errors?: readonly FieldError[]; readonly [k: string]: unknown } = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const notFound = (what: string, id: string, code: ErrorCode = 'not_found'): AppError =>
  new AppError(code, `${what} ${id} does not exist`, { [`${what.toLowerCase().replace(/\s+/g, '_')}_id`]: id });
