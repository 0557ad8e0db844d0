import { evolve, NO_TENANT, TENANT_EVENT_TYPES, type Tenant, type TenantEvent, TIERS } from '../src/control-plane/tenants/tenant.domain';
import { type ProjectionDefinition, ProjectionError } from '../src/platform/projections/projection';
import { contextOf, requireSchemaVersion, stringField, withoutExists } from './support';

export type TenantRow = Tenant & { readonly revision: number };

/** rm_tenants: one row per tenant, the same fold the command side uses, plus the stream revision (ETag). */
export const tenantsProjection: ProjectionDefinition<TenantRow> = {
  name: 'tenants',
  version: 1,
  table: 'rm_tenants',
  primaryKey: 'tenant_id',
  columns: {
    tenant_id: 'text',
    display_name: 'text',
    tier: 'text',
    metadata: 'jsonb',
    status: 'text',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
    suspended_at: 'timestamptz',
    suspension_reason: 'text',
    created_by: 'text',
    revision: 'int',
  },
  ddl: (t) => [
    `CREATE TABLE IF NOT EXISTS ${t} (
      tenant_id text PRIMARY KEY,
      display_name text NOT NULL,
      tier text NOT NULL,
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
      status text NOT NULL CHECK (status IN ('active', 'suspended')),
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      suspended_at timestamptz,
      suspension_reason text,
      created_by text NOT NULL,
      revision integer NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS ${t.replace('.', '_')}_status ON ${t} (status, tenant_id)`,
  ],
  handles: TENANT_EVENT_TYPES,
  keyOf: (e) => stringField(e, 'tenant_id'),
  evolve(row, e) {
    requireSchemaVersion(e, 1);
    if (e.type === 'TenantTierChanged' && !(TIERS as readonly string[]).includes(stringField(e, 'to'))) {
      throw new ProjectionError('invalid_event_data', `${e.type} names an unknown tier`);
    }
    const state = row ? { exists: true as const, ...row } : NO_TENANT;
    const next = evolve(state, e as unknown as TenantEvent, contextOf(e));
    if (!next.exists) throw new ProjectionError('invariant_violation', `${e.type} for a tenant that was never created`);
    if (row && next === state) throw new ProjectionError('invariant_violation', `${e.type} did not apply`);
    const { revision: _r, ...tenant } = withoutExists(next) as TenantRow;
    return { ...tenant, revision: e.streamPosition };
  },
};
