import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from '../platform/db/database';
import type { AlertRoute } from './alert-route.domain';

const json = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));
const iso = (v: unknown): string => new Date(v as string).toISOString();

type Row = Omit<AlertRoute, 'created_at' | 'updated_at'> & { created_at: Date | string; updated_at: Date | string; revision: number };
export type StoredAlertRoute = AlertRoute & { readonly revision: number };

const view = (r: Row): StoredAlertRoute => ({
  ...r,
  severities: json(r.severities),
  tenant_ids: json(r.tenant_ids),
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
  revision: Number(r.revision),
});

/** rm_alert_routes (the alert_routes projection's read model). SQL only. */
@Injectable()
export class AlertRoutesRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async list(after: string | undefined, limit: number): Promise<StoredAlertRoute[]> {
    const r = await sql<Row>`SELECT * FROM rm_alert_routes ${after ? sql`WHERE route_id > ${after}` : sql``} ORDER BY rm_alert_routes.route_id LIMIT ${limit}`.execute(this.database.db);
    return r.rows.map(view);
  }

  async get(routeId: string): Promise<StoredAlertRoute | undefined> {
    const r = await sql<Row>`SELECT * FROM rm_alert_routes WHERE route_id = ${routeId}`.execute(this.database.db);
    return r.rows[0] ? view(r.rows[0]) : undefined;
  }

  async enabled(): Promise<StoredAlertRoute[]> {
    const r = await sql<Row>`SELECT * FROM rm_alert_routes WHERE enabled ORDER BY rm_alert_routes.route_id`.execute(this.database.db);
    return r.rows.map(view);
  }
}
