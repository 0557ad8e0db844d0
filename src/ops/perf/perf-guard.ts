import { randomBytes } from 'node:crypto';
import { isPerfTenant, type Metadata, PERF_MARKER, PERF_TENANT_PREFIX, type TenantStatus } from '../../control-plane/tenants/tenant.domain';

/**
 * The operating rule, enforced: perf and stress runs use an isolated tenant and scope. The
 * `default` scope (smoke and local checks only) and every tenant not created for perf are
 * refused before any load is sent.
 *
 * A tenant is "created for perf" when its id starts with `perf-` and its TenantCreated event
 * carried metadata {"purpose":"perf"} (the tenant decider keeps that marker fixed after creation).
 * The guard checks both what the read model says now and what the creation event said.
 */
export const PERF_SCOPE_PREFIX = 'perf-';
export const RESERVED_SCOPE = 'default';

export type PerfRefusal = 'default_scope' | 'scope_not_perf' | 'tenant_not_found' | 'tenant_not_perf' | 'marker_not_at_creation' | 'tenant_not_active';

export class PerfGuardError extends Error {
  constructor(
    readonly reason: PerfRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'PerfGuardError';
  }
}

/** The tenant as the read model (GET /v1/admin/control/tenants/:id) shows it. */
export interface PerfTenantView {
  readonly tenant_id: string;
  readonly metadata: Metadata;
  readonly status: TenantStatus;
}

/** The data of the tenant's TenantCreated event (first event of `tenant-<id>`). */
export interface TenantCreation {
  readonly type: string;
  readonly data: { readonly tenant_id?: unknown; readonly metadata?: unknown };
}

export function newPerfTenantId(): string {
  return `${PERF_TENANT_PREFIX}${randomBytes(6).toString('hex')}`;
}

export function newPerfScope(): string {
  return `${PERF_SCOPE_PREFIX}${randomBytes(4).toString('hex')}`;
}

/** Why this scope may not take perf load, or null. */
export function scopeRefusal(scope: string): PerfGuardError | null {
  if (scope === RESERVED_SCOPE) return new PerfGuardError('default_scope', `the "${RESERVED_SCOPE}" scope is reserved for smoke and local checks: perf runs use their own scope`);
  if (!scope.startsWith(PERF_SCOPE_PREFIX)) return new PerfGuardError('scope_not_perf', `scope "${scope}" is not a perf scope (it must start with "${PERF_SCOPE_PREFIX}")`);
  return null;
}

/** Why this tenant may not take perf load, or null. */
export function tenantRefusal(tenantId: string, view: PerfTenantView | undefined, creation: TenantCreation | undefined): PerfGuardError | null {
  if (!view) return new PerfGuardError('tenant_not_found', `tenant ${tenantId} does not exist`);
  if (view.tenant_id !== tenantId || !isPerfTenant(view)) {
    return new PerfGuardError('tenant_not_perf', `tenant ${tenantId} was not created for perf (its id must start with "${PERF_TENANT_PREFIX}" and it must carry metadata ${JSON.stringify(PERF_MARKER)})`);
  }
  const createdMetadata = creation?.data.metadata as Record<string, unknown> | undefined;
  if (!creation || creation.type !== 'TenantCreated' || creation.data.tenant_id !== tenantId || createdMetadata?.purpose !== PERF_MARKER.purpose) {
    return new PerfGuardError('marker_not_at_creation', `tenant ${tenantId}: its TenantCreated event does not carry ${JSON.stringify(PERF_MARKER)}`);
  }
  if (view.status !== 'active') return new PerfGuardError('tenant_not_active', `tenant ${tenantId} is ${view.status} (torn down or suspended): create a new perf tenant`);
  return null;
}

/** Throw unless this tenant and scope may take perf load. */
export function assertPerfTarget(target: { tenantId: string; scope: string; view: PerfTenantView | undefined; creation: TenantCreation | undefined }): void {
  const refusal = scopeRefusal(target.scope) ?? tenantRefusal(target.tenantId, target.view, target.creation);
  if (refusal) throw refusal;
}
