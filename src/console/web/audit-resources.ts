/**
 * The audit trail's resource types, for the audit page's filter: the same list as the audit
 * projection's AUDIT_RESOURCE_TYPES (projections/audit.projection.ts), which the browser bundle
 * cannot import; test/unit/audit.projection.spec.ts checks the two are equal.
 */
export const AUDIT_RESOURCE_TYPES: readonly string[] = ['tenant', 'project', 'api_key', 'operator', 'quota', 'shard_roster', 'shard', 'tenant_placement', 'security', 'dead_letters', 'rules', 'alert_route', 'alert', 'slo_statement_close', 'slo', 'slo_statements', 'operator_session', 'other'];
