import { evolve, TENANT_EVENT_TYPES, type Tenant, type TenantEvent, type TenantState, TIERS } from '../src/control-plane/tenants/tenant.domain';
import { type ProjectionDefinition, ProjectionError } from '../src/platform/projections/projection';
import { evolveAggregateRow, stringField } from './support';

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
    if (e.type === 'TenantTierChanged' && !(TIERS as readonly string[]).includes(stringField(e, 'to'))) {
      throw new ProjectionError('invalid_event_data', `${e.type} names an unknown tier`);
    }
    return evolveAggregateRow<TenantRow, TenantState, TenantEvent>(row, e, evolve, 'tenant');
  },
};
