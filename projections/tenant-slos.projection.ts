import { evolve, SLO_EVENT_TYPES, type SloEvent, type SloState, type TenantSlo } from '../src/alerting/slo-override.domain';
import type { ProjectionDefinition } from '../src/platform/projections/projection';
import { evolveAggregateRow, stringField } from './support';

export type TenantSloRow = TenantSlo & { readonly revision: number };

/** rm_tenant_slos: one row per tenant that ever had SLO overrides, plus the stream revision (ETag). */
export const tenantSlosProjection: ProjectionDefinition<TenantSloRow> = {
  name: 'tenant_slos',
  version: 1,
  table: 'rm_tenant_slos',
  primaryKey: 'tenant_id',
  columns: { tenant_id: 'text', overrides: 'jsonb', revision: 'int', updated_at: 'timestamptz', updated_by: 'text' },
  ddl: (t) => [
    `CREATE TABLE IF NOT EXISTS ${t} (
      tenant_id text PRIMARY KEY,
      overrides jsonb NOT NULL DEFAULT '{}'::jsonb,
      revision integer NOT NULL,
      updated_at timestamptz NOT NULL,
      updated_by text NOT NULL
    )`,
  ],
  handles: SLO_EVENT_TYPES,
  keyOf: (e) => stringField(e, 'tenant_id'),
  evolve: (row, e) => evolveAggregateRow<TenantSloRow, SloState, SloEvent>(row, e, evolve, 'tenant SLO'),
};
