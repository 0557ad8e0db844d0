import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from '../platform/db/database';

export interface AlertView {
  readonly alert_id: string;
  readonly rule: string;
  readonly tenant_id: string | null;
  readonly severity: string;
  readonly state: 'firing' | 'resolved';
  readonly fired_at: string;
  readonly resolved_at: string | null;
  readonly runbook_url: string;
  readonly console_url: string;
  readonly numbers: Record<string, unknown>;
  readonly resolved_numbers: Record<string, unknown> | null;
}

export interface AlertFilter {
  readonly state?: 'firing' | 'resolved';
  readonly tenantId?: string;
  readonly rule?: string;
  /** Keyset: the (fired_at, alert_id) of the last row of the previous page (newest first). */
  readonly after?: { readonly firedAt: string; readonly alertId: string };
  readonly limit: number;
}

const json = (v: unknown): unknown => (typeof v === 'string' ? (JSON.parse(v) as unknown) : v);
const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string).toISOString());

interface Row {
  alert_id: string;
  rule: string;
  tenant_id: string;
  severity: string;
  state: 'firing' | 'resolved';
  fired_at: Date | string;
  resolved_at: Date | string | null;
  runbook_url: string;
  console_url: string;
  numbers: unknown;
  resolved_numbers: unknown;
}

const view = (r: Row): AlertView => ({
  alert_id: r.alert_id,
  rule: r.rule,
  tenant_id: r.tenant_id === '' ? null : r.tenant_id,
  severity: r.severity,
  state: r.state,
  fired_at: iso(r.fired_at)!,
  resolved_at: iso(r.resolved_at),
  runbook_url: r.runbook_url,
  console_url: r.console_url,
  numbers: (json(r.numbers) ?? {}) as Record<string, unknown>,
  resolved_numbers: (json(r.resolved_numbers) ?? null) as Record<string, unknown> | null,
});

/** rm_alerts (the alerts projection's read model). SQL only. */
@Injectable()
export class AlertsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async list(f: AlertFilter): Promise<AlertView[]> {
    const where = [sql`true`];
    if (f.state) where.push(sql`state = ${f.state}`);
    if (f.tenantId) where.push(sql`tenant_id = ${f.tenantId}`);
    if (f.rule) where.push(sql`rule = ${f.rule}`);
    if (f.after) where.push(sql`(fired_at, alert_id) < (${f.after.firedAt}::timestamptz, ${f.after.alertId})`);
    const r = await sql<Row>`
      SELECT * FROM rm_alerts WHERE ${sql.join(where, sql` AND `)}
      ORDER BY rm_alerts.fired_at DESC, rm_alerts.alert_id DESC LIMIT ${f.limit}`.execute(this.database.db);
    return r.rows.map(view);
  }

  async get(alertId: string): Promise<AlertView | undefined> {
    const r = await sql<Row>`SELECT * FROM rm_alerts WHERE alert_id = ${alertId}`.execute(this.database.db);
    return r.rows[0] ? view(r.rows[0]) : undefined;
  }

  /** Every firing alert (the evaluator's view of what is open). */
  async firing(): Promise<AlertView[]> {
    const r = await sql<Row>`SELECT * FROM rm_alerts WHERE state = 'firing' ORDER BY rm_alerts.fired_at`.execute(this.database.db);
    return r.rows.map(view);
  }

  /** How many alerts of each rule and severity are firing now (for aionis_alerts_firing). */
  async firingCounts(): Promise<{ rule: string; severity: string; firing: number }[]> {
    const r = await sql<{ rule: string; severity: string; n: string | number }>`
      SELECT rule, severity, count(*) AS n FROM rm_alerts WHERE state = 'firing' GROUP BY rule, severity`.execute(this.database.db);
    return r.rows.map((x) => ({ rule: x.rule, severity: x.severity, firing: Number(x.n) }));
  }

  /** How many alerts are firing per tenant (platform alerts have none), all of them: the console overview's column. */
  async firingByTenant(): Promise<{ tenant_id: string; firing: number }[]> {
    const r = await sql<{ tenant_id: string; firing: number }>`
      SELECT tenant_id, count(*)::int AS firing FROM rm_alerts WHERE state = 'firing' AND tenant_id <> '' GROUP BY tenant_id`.execute(this.database.db);
    return r.rows.map((x) => ({ tenant_id: x.tenant_id, firing: Number(x.firing) }));
  }

  /** The last resolution of each rule and subject resolved since `since`. */
  async resolvedSince(since: string): Promise<{ rule: string; tenant_id: string | null; resolved_at: string }[]> {
    const r = await sql<{ rule: string; tenant_id: string; resolved_at: Date | string }>`
      SELECT rule, tenant_id, max(resolved_at) AS resolved_at FROM rm_alerts
      WHERE state = 'resolved' AND resolved_at >= ${since}::timestamptz GROUP BY rule, tenant_id`.execute(this.database.db);
    return r.rows.map((x) => ({ rule: x.rule, tenant_id: x.tenant_id === '' ? null : x.tenant_id, resolved_at: iso(x.resolved_at)! }));
  }
}
