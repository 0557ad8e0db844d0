import { evolve, PLACEMENT_EVENT_TYPES, type PlacementEvent, type PlacementState, type TenantPlacement } from '../src/control-plane/shards/placement.domain';
import { type ProjectionDefinition, ProjectionError } from '../src/platform/projections/projection';
import { evolveAggregateRow, stringField } from './support';

export type TenantPlacementRow = TenantPlacement & { readonly revision: number };

/**
 * rm_tenant_placements: one row per tenant that ever moved (the same fold the command side uses).
 * No row = the tenant is on the shared shard at generation 1.
 */
export const tenantPlacementsProjection: ProjectionDefinition<TenantPlacementRow> = {
  name: 'tenant_placements',
  version: 1,
  table: 'rm_tenant_placements',
  primaryKey: 'tenant_id',
  columns: {
    tenant_id: 'text',
    shard_id: 'text',
    generation: 'int',
    previous: 'jsonb',
    reason: 'text',
    updated_at: 'timestamptz',
    updated_by: 'text',
    revision: 'int',
  },
  ddl: (t) => [
    `CREATE TABLE IF NOT EXISTS ${t} (
      tenant_id text PRIMARY KEY,
      shard_id text NOT NULL,
      generation bigint NOT NULL CHECK (generation >= 2),
      previous jsonb NOT NULL,
      reason text NOT NULL,
      updated_at timestamptz NOT NULL,
      updated_by text NOT NULL,
      revision integer NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS ${t.replace('.', '_')}_shard ON ${t} (shard_id, tenant_id)`,
  ],
  handles: PLACEMENT_EVENT_TYPES,
  keyOf: (e) => stringField(e, 'tenant_id'),
  evolve(row, e) {
    const tenantId = stringField(e, 'tenant_id');
    if (row && row.tenant_id !== tenantId) throw new ProjectionError('invariant_violation', `${e.type} for tenant ${tenantId} applied to the row of ${row.tenant_id}`);
    const generation = (e.data as { generation?: unknown }).generation;
    if (typeof generation !== 'number' || !Number.isInteger(generation) || generation < 2) throw new ProjectionError('invalid_event_data', `${e.type} has no generation of at least 2`);
    return evolveAggregateRow<TenantPlacementRow, PlacementState, PlacementEvent>(row, e, evolve, 'placement');
  },
};
