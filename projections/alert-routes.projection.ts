import { ALERT_ROUTE_EVENT_TYPES, type AlertRoute, type AlertRouteEvent, type AlertRouteState, evolve } from '../src/alerting/alert-route.domain';
import type { ProjectionDefinition } from '../src/platform/projections/projection';
import { evolveAggregateRow, stringField } from './support';

export type AlertRouteRow = AlertRoute & { readonly revision: number };

/** rm_alert_routes: one row per alert route, the same fold the command side uses. */
export const alertRoutesProjection: ProjectionDefinition<AlertRouteRow> = {
  name: 'alert_routes',
  version: 1,
  table: 'rm_alert_routes',
  primaryKey: 'route_id',
  columns: {
    route_id: 'text',
    kind: 'text',
    url: 'text',
    severities: 'jsonb',
    tenant_ids: 'jsonb',
    include_platform: 'bool',
    enabled: 'bool',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
    updated_by: 'text',
    revision: 'int',
  },
  ddl: (t) => [
    `CREATE TABLE IF NOT EXISTS ${t} (
      route_id text PRIMARY KEY,
      kind text NOT NULL,
      url text NOT NULL,
      severities jsonb NOT NULL,
      tenant_ids jsonb NOT NULL,
      include_platform boolean NOT NULL,
      enabled boolean NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      updated_by text NOT NULL,
      revision integer NOT NULL
    )`,
  ],
  handles: ALERT_ROUTE_EVENT_TYPES,
  keyOf: (e) => stringField(e, 'route_id'),
  evolve: (row, e) => evolveAggregateRow<AlertRouteRow, AlertRouteState, AlertRouteEvent>(row, e, evolve, 'alert route'),
};
