/**
 * Tenant ids: lowercase letters, digits, `-` and `_`, 3 to 63 characters. This is the one rule,
 * used by the control plane, the data plane and every CLI.
 */
export const TENANT_ID_PATTERN = /^[a-z0-9_-]{3,63}$/;
export const TENANT_ID_RULE = 'lowercase letters, digits, "-" and "_", 3 to 63 characters';

export function isTenantId(value: string): boolean {
  return TENANT_ID_PATTERN.test(value);
}

export const tenantStreamId = (tenantId: string): string => `tenant-${tenantId}`;
/** A tenant's quota overrides: their own stream, so quota edits never contend with tenant edits. */
export const quotaStreamId = (tenantId: string): string => `quota-${tenantId}`;
export const operatorStreamId = (operatorId: string): string => `operator-${operatorId}`;
/** Every operator stream id starts with this. */
export const OPERATOR_STREAM_PREFIX = operatorStreamId('');
/** The owner roster: the consistency boundary of the last-active-owner rule (operator.domain.ts). */
export const OWNER_ROSTER_STREAM_ID = 'owner-roster';

/** Project ids follow the tenant-id rule; generated ones look like `prj_3k9x…`. */
export const PROJECT_ID_PATTERN = TENANT_ID_PATTERN;
export const projectStreamId = (projectId: string): string => `project-${projectId}`;
export const apiKeyStreamId = (keyId: string): string => `apikey-${keyId}`;

/** A dedicated shard (docs/adr/0006); the shared shard has no stream. */
export const shardStreamId = (shardId: string): string => `shard-${shardId}`;
/** Every shard stream id starts with this (`shards-roster` does not: the `s` follows `shard`). */
export const SHARD_STREAM_PREFIX = shardStreamId('');
/** A tenant's placement: its own stream, so placement changes never contend with tenant edits. */
export const placementStreamId = (tenantId: string): string => `placement-${tenantId}`;
/** Every placement stream id starts with this. */
export const PLACEMENT_STREAM_PREFIX = placementStreamId('');
/** The shard roster: the consistency boundary of placements against drain and retire (shard.domain.ts). */
export const SHARD_ROSTER_STREAM_ID = 'shards-roster';
