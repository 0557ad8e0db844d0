import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from '../../platform/db/database';
import { BUCKETS, type Rollup } from './telemetry';

export interface RollupRow {
  readonly t: Date;
  readonly total: number;
  readonly status_2xx: number;
  readonly status_4xx: number;
  readonly status_429: number;
  readonly status_5xx: number;
  readonly latency_sum_ms: number;
  readonly buckets: (number | string)[];
}

/**
 * telemetry_rollups (per-minute rollups of authenticated memory requests, additive upserts) and
 * the on-call dashboard's reads of one tenant: its status and keys (control-plane read models),
 * and the size of its memory.
 */
@Injectable()
export class TelemetryRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async addRollup(e: { tenant: string; project: string; key: string; endpoint: string; minute: string; rollup: Rollup }): Promise<void> {
    const r = e.rollup;
    await sql`
      INSERT INTO telemetry_rollups AS t (tenant_id, project_key, key_id, endpoint, minute, total, status_2xx, status_4xx, status_429, status_5xx, latency_sum_ms, buckets)
      VALUES (${e.tenant}, ${e.project}, ${e.key}, ${e.endpoint}, ${e.minute}::timestamptz, ${r.total}, ${r.status_2xx}, ${r.status_4xx}, ${r.status_429}, ${r.status_5xx},
              ${r.latency_sum_ms}, ${sql.val(r.buckets)}::bigint[])
      ON CONFLICT (tenant_id, minute, endpoint, project_key, key_id) DO UPDATE SET
        total = t.total + EXCLUDED.total, status_2xx = t.status_2xx + EXCLUDED.status_2xx, status_4xx = t.status_4xx + EXCLUDED.status_4xx,
        status_429 = t.status_429 + EXCLUDED.status_429, status_5xx = t.status_5xx + EXCLUDED.status_5xx,
        latency_sum_ms = t.latency_sum_ms + EXCLUDED.latency_sum_ms,
        buckets = ARRAY(SELECT a + b FROM unnest(t.buckets, EXCLUDED.buckets) AS u(a, b))`.execute(this.database.db);
  }

  async tenantsWithRollups(): Promise<string[]> {
    const r = await sql<{ tenant_id: string }>`SELECT DISTINCT tenant_id FROM telemetry_rollups`.execute(this.database.db);
    return r.rows.map((x) => x.tenant_id);
  }

  /** Delete the tenant's rollups of minutes before `horizon` (an ISO instant). */
  async pruneBefore(tenantId: string, horizon: string): Promise<number> {
    const r = await sql<{ n: number }>`
      WITH gone AS (DELETE FROM telemetry_rollups WHERE tenant_id = ${tenantId} AND minute < ${horizon}::timestamptz RETURNING 1)
      SELECT count(*)::int AS n FROM gone`.execute(this.database.db);
    return Number(r.rows[0]?.n ?? 0);
  }

  /** The database clock (the clock the rollups' minutes and the SLO statements use). */
  async now(): Promise<number> {
    const r = await sql<{ now: Date | string }>`SELECT clock_timestamp() AS now`.execute(this.database.db);
    return new Date(r.rows[0]?.now ?? Date.now()).getTime();
  }

  async rollups(tenantId: string, seconds: number, endpoint?: string): Promise<RollupRow[]> {
    const r = await sql<RollupRow>`
      SELECT minute AS t, total, status_2xx, status_4xx, status_429, status_5xx, latency_sum_ms, buckets
      FROM telemetry_rollups
      WHERE tenant_id = ${tenantId} AND minute >= clock_timestamp() - make_interval(secs => ${seconds}) ${endpoint ? sql`AND endpoint = ${endpoint}` : sql``}
      ORDER BY minute`.execute(this.database.db);
    return r.rows;
  }

  /**
   * Per tenant with traffic in the longest window: for each window (minutes back from now), the
   * requests, the 5xx among them and the latency histogram (BUCKETS sums). One scan of the longest
   * window; what the SLO alert evaluator reads.
   */
  async windowAggregates(windows: Readonly<Record<string, number>>): Promise<{ tenant_id: string; windows: Record<string, { total: number; status_5xx: number; buckets: number[] }> }[]> {
    const names = Object.keys(windows);
    const longest = Math.max(...Object.values(windows));
    const cols = names.flatMap((w, wi) => {
      const inside = sql`minute >= clock_timestamp() - make_interval(mins => ${windows[w]!})`;
      return [
        sql`coalesce(sum(total) FILTER (WHERE ${inside}), 0)::bigint AS ${sql.ref(`w${wi}_total`)}`,
        sql`coalesce(sum(status_5xx) FILTER (WHERE ${inside}), 0)::bigint AS ${sql.ref(`w${wi}_5xx`)}`,
        ...Array.from({ length: BUCKETS }, (_, b) => sql`coalesce(sum(buckets[${sql.lit(b + 1)}]) FILTER (WHERE ${inside}), 0)::bigint AS ${sql.ref(`w${wi}_b${b}`)}`),
      ];
    });
    const r = await sql<Record<string, string | number>>`
      SELECT tenant_id, ${sql.join(cols)} FROM telemetry_rollups
      WHERE minute >= clock_timestamp() - make_interval(mins => ${longest}) GROUP BY tenant_id ORDER BY tenant_id`.execute(this.database.db);
    return r.rows.map((row) => ({
      tenant_id: String(row.tenant_id),
      windows: Object.fromEntries(
        names.map((w, wi) => [
          w,
          { total: Number(row[`w${wi}_total`]), status_5xx: Number(row[`w${wi}_5xx`]), buckets: Array.from({ length: BUCKETS }, (_, b) => Number(row[`w${wi}_b${b}`])) },
        ]),
      ),
    }));
  }

  /** Every tenant's rollups of the last `seconds`, summed (counts and histogram buckets): the overview's one pass. */
  async totalsByTenant(seconds: number): Promise<{ tenant_id: string; total: number; status_2xx: number; status_4xx: number; status_429: number; status_5xx: number; latency_sum_ms: number; buckets: (number | string)[] }[]> {
    const r = await sql<{ tenant_id: string; total: number; status_2xx: number; status_4xx: number; status_429: number; status_5xx: number; latency_sum_ms: number; buckets: (number | string)[] }>`
      WITH w AS (SELECT * FROM telemetry_rollups WHERE minute >= clock_timestamp() - make_interval(secs => ${seconds})),
      b AS (SELECT tenant_id, i, sum(v)::bigint AS v FROM w, unnest(w.buckets) WITH ORDINALITY AS u(v, i) GROUP BY tenant_id, i)
      SELECT t.tenant_id, t.total, t.status_2xx, t.status_4xx, t.status_429, t.status_5xx, t.latency_sum_ms,
             ARRAY(SELECT b.v FROM b WHERE b.tenant_id = t.tenant_id ORDER BY b.i) AS buckets
      FROM (SELECT tenant_id, sum(total)::bigint AS total, sum(status_2xx)::bigint AS status_2xx, sum(status_4xx)::bigint AS status_4xx,
                   sum(status_429)::bigint AS status_429, sum(status_5xx)::bigint AS status_5xx, sum(latency_sum_ms)::float8 AS latency_sum_ms
            FROM w GROUP BY tenant_id) t`.execute(this.database.db);
    return r.rows;
  }

  /**
   * One tenant's rollups of [start, end), summed (counts and histogram buckets), with the number of
   * distinct minutes that have any: what an SLO statement reads (no clock involved, so the same
   * rows always give the same totals).
   */
  async periodTotals(tenantId: string, start: string, end: string): Promise<{ total: number; status_2xx: number; status_4xx: number; status_429: number; status_5xx: number; buckets: number[]; minutes_with_rollups: number }> {
    const r = await sql<Record<string, string | number | null>>`
      SELECT coalesce(sum(total), 0)::bigint AS total, coalesce(sum(status_2xx), 0)::bigint AS status_2xx, coalesce(sum(status_4xx), 0)::bigint AS status_4xx,
             coalesce(sum(status_429), 0)::bigint AS status_429, coalesce(sum(status_5xx), 0)::bigint AS status_5xx, count(DISTINCT minute)::bigint AS minutes,
             ${sql.join(Array.from({ length: BUCKETS }, (_, b) => sql`coalesce(sum(buckets[${sql.lit(b + 1)}]), 0)::bigint AS ${sql.ref(`b${b}`)}`))}
      FROM telemetry_rollups WHERE tenant_id = ${tenantId} AND minute >= ${start}::timestamptz AND minute < ${end}::timestamptz`.execute(this.database.db);
    const row = r.rows[0] ?? {};
    const n = (k: string) => Number(row[k] ?? 0);
    return {
      total: n('total'),
      status_2xx: n('status_2xx'),
      status_4xx: n('status_4xx'),
      status_429: n('status_429'),
      status_5xx: n('status_5xx'),
      buckets: Array.from({ length: BUCKETS }, (_, b) => n(`b${b}`)),
      minutes_with_rollups: n('minutes'),
    };
  }

  async tenantStatus(tenantId: string): Promise<string | null> {
    const r = await sql<{ status: string }>`SELECT status FROM rm_tenants WHERE tenant_id = ${tenantId}`.execute(this.database.db);
    return r.rows[0]?.status ?? null;
  }

  async keyCounts(tenantId: string): Promise<{ active: number; revoked: number }> {
    const r = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM rm_api_keys WHERE tenant_id = ${tenantId} GROUP BY status`.execute(this.database.db);
    const by = Object.fromEntries(r.rows.map((x) => [x.status, Number(x.n)]));
    return { active: by.active ?? 0, revoked: by.revoked ?? 0 };
  }

  /** Nodes from the tenant's counter; edges and commits counted (the dashboard is not a hot path). */
  async memorySize(tenantId: string): Promise<{ nodes: number; edges: number; commits: number }> {
    const r = await sql<{ nodes: number | null; edges: number; commits: number }>`
      SELECT (SELECT nodes FROM memory_tenant_counters WHERE tenant_id = ${tenantId}) AS nodes,
             (SELECT count(*)::int FROM memory_edges WHERE tenant_id = ${tenantId}) AS edges,
             (SELECT count(*)::int FROM memory_commits WHERE tenant_id = ${tenantId}) AS commits`.execute(this.database.db);
    const row = r.rows[0];
    return { nodes: Number(row?.nodes ?? 0), edges: Number(row?.edges ?? 0), commits: Number(row?.commits ?? 0) };
  }
}
