import { ALERT_EVENT_TYPES, type AlertFired, type AlertResolved } from '../src/alerting/alert.domain';
import { type ProjectionDefinition, ProjectionError } from '../src/platform/projections/projection';
import { requireSchemaVersion, stringField } from './support';

export interface AlertRow {
  readonly alert_id: string;
  readonly rule: string;
  /** '' for a platform alert (the API shows null). */
  readonly tenant_id: string;
  readonly severity: string;
  readonly state: 'firing' | 'resolved';
  readonly fired_at: string;
  readonly resolved_at: string | null;
  readonly runbook_url: string;
  readonly console_url: string;
  /** The numbers that fired it. */
  readonly numbers: unknown;
  /** The numbers when it resolved. */
  readonly resolved_numbers: unknown;
}

/** rm_alerts: one row per alert (a firing and its resolution), from the alert streams. */
export const alertsProjection: ProjectionDefinition<AlertRow> = {
  name: 'alerts',
  version: 1,
  table: 'rm_alerts',
  primaryKey: 'alert_id',
  columns: {
    alert_id: 'text',
    rule: 'text',
    tenant_id: 'text',
    severity: 'text',
    state: 'text',
    fired_at: 'timestamptz',
    resolved_at: 'timestamptz',
    runbook_url: 'text',
    console_url: 'text',
    numbers: 'jsonb',
    resolved_numbers: 'jsonb',
  },
  ddl: (t) => [
    `CREATE TABLE IF NOT EXISTS ${t} (
      alert_id text PRIMARY KEY,
      rule text NOT NULL,
      tenant_id text NOT NULL,
      severity text NOT NULL,
      state text NOT NULL CHECK (state IN ('firing', 'resolved')),
      fired_at timestamptz NOT NULL,
      resolved_at timestamptz,
      runbook_url text NOT NULL,
      console_url text NOT NULL,
      numbers jsonb NOT NULL,
      resolved_numbers jsonb
    )`,
    `CREATE INDEX IF NOT EXISTS ${t.replace(/\W/g, '_')}_list ON ${t} (fired_at DESC, alert_id DESC)`,
    `CREATE INDEX IF NOT EXISTS ${t.replace(/\W/g, '_')}_open ON ${t} (rule, tenant_id) WHERE state = 'firing'`,
  ],
  handles: ALERT_EVENT_TYPES,
  keyOf: (e) => stringField(e, 'alert_id'),
  evolve(row, e) {
    requireSchemaVersion(e, 1);
    if (e.type === 'AlertFired') {
      if (row) throw new ProjectionError('invariant_violation', `alert ${row.alert_id} fired twice`);
      const d = e.data as AlertFired['data'];
      return {
        alert_id: d.alert_id,
        rule: d.rule,
        tenant_id: d.tenant_id ?? '',
        severity: d.severity,
        state: 'firing',
        fired_at: e.metadata.occurred_at,
        resolved_at: null,
        runbook_url: d.runbook_url,
        console_url: d.console_url,
        numbers: d.numbers ?? {},
        resolved_numbers: null,
      };
    }
    if (!row) throw new ProjectionError('invariant_violation', `${e.type} for an alert that never fired`);
    const d = e.data as AlertResolved['data'];
    return { ...row, state: 'resolved', resolved_at: e.metadata.occurred_at, resolved_numbers: d.numbers ?? {} };
  },
};
