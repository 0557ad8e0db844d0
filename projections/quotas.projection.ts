import { evolve, QUOTA_EVENT_TYPES, type QuotaEvent, type QuotaState, type TenantQuota } from '../src/control-plane/quotas/quota.domain';
import { type ProjectionDefinition, ProjectionError } from '../src/platform/projections/projection';
import { evolveAggregateRow, stringField } from './support';

export type TenantQuotaRow = TenantQuota & { readonly revision: number };

/**
 * rm_tenant_quotas: one row per tenant that ever had quota overrides (the same fold the command
 * side uses), plus the quota stream revision (the ETag of the quota resource). A cleared set
 * keeps its row with `{}` so the revision stays visible.
 */
export const quotasProjection: ProjectionDefinition<TenantQuotaRow> = {
  name: 'quotas',
  version: 1,
  table: 'rm_tenant_quotas',
  primaryKey: 'tenant_id',
  columns: {
    tenant_id: 'text',
    overrides: 'jsonb',
    revision: 'int',
    updated_at: 'timestamptz',
    updated_by: 'text',
  },
  ddl: (t) => [
    `CREATE TABLE IF NOT EXISTS ${t} (
      tenant_id text PRIMARY KEY,
      overrides jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(overrides) = 'object'),
      revision integer NOT NULL,
      updated_at timestamptz NOT NULL,
      updated_by text NOT NULL
    )`,
  ],
  handles: QUOTA_EVENT_TYPES,
  keyOf: (e) => stringField(e, 'tenant_id'),
  evolve(row, e) {
    const tenantId = stringField(e, 'tenant_id');
    if (row && row.tenant_id !== tenantId) throw new ProjectionError('invariant_violation', `${e.type} for tenant ${tenantId} applied to the row of ${row.tenant_id}`);
    if (e.type === 'TenantQuotaOverridesSet') {
      const overrides = (e.data as { overrides?: unknown }).overrides;
      if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
        throw new ProjectionError('invalid_event_data', `${e.type} has no overrides object`);
      }
    }
    return evolveAggregateRow<TenantQuotaRow, QuotaState, QuotaEvent>(row, e, evolve, 'quota');
  },
};
