import { sql } from 'kysely';
import { PROJECTIONS } from '../../../projections';
import type { AppConfig } from '../../platform/config/config';
import type { Database } from '../../platform/db/database';
import { pendingMigrations } from '../../platform/db/migrations';
import { measureLag } from '../../platform/projections/projection-store';
import type { CheckResult } from './check-result';
import { runCrossTenantChecks } from './cross-tenant';
import { runScopeChecks } from './scope';
import { OutboxRepository } from '../../data-plane/outbox/outbox.repository';

export type { CheckResult } from './check-result';

export const CONSISTENCY_CHECK_SETS = ['scope', 'cross_tenant', 'all', 'none'] as const;
export type ConsistencyCheckSet = (typeof CONSISTENCY_CHECK_SETS)[number];

export interface HealthThresholds {
  /** Projection lag: age of the oldest committed event after a projection's checkpoint. */
  readonly maxLagMs: number;
  /** A projection whose checkpoint heartbeat is older than this has no live projector. */
  readonly heartbeatStaleMs: number;
  /** Open (parked) projection dead letters allowed. */
  readonly maxDeadLetters: number;
  /** Dead-lettered outbox jobs allowed. */
  readonly maxOutboxDeadLetters: number;
  /** Open outbox jobs (pending or processing) allowed. */
  readonly maxOutboxBacklog: number;
  /** Age (since it was enqueued) of the oldest open outbox job allowed. */
  readonly maxOutboxAgeMs: number;
  /** Share of memory nodes whose embedding is ready, at least (warning). */
  readonly minEmbeddingReadyRatio: number;
  /** Age of the oldest open write transaction on the server allowed (PostgreSQL only). */
  readonly maxOpenTxMs: number;
  /** How far a tenant's newest flushed telemetry minute may trail its newest memory write (warning). */
  readonly telemetryMaxAgeMs: number;
}

/** Defaults that do not come from the service configuration. */
export const HEALTH_DEFAULTS = {
  maxDeadLetters: 0,
  maxOutboxBacklog: 1000,
  maxOutboxAgeMs: 600_000,
  minEmbeddingReadyRatio: 0.9,
  maxOpenTxMs: 30_000,
  telemetryMaxAgeMs: 120_000,
} as const;

/** Writes newer than this are not yet evidence of traffic: the recorder flushes every 5 s. */
export const TELEMETRY_FLUSH_GRACE_MS = 15_000;
/** Writes older than this are not considered: the shortest telemetry retention is one day. */
export const TELEMETRY_EVIDENCE_WINDOW_MS = 86_400_000;

/** Every threshold, defaulted from the service configuration where it has one. */
export function healthThresholds(config: AppConfig, given: Partial<HealthThresholds> = {}): HealthThresholds {
  const maxDeadLetters = given.maxDeadLetters ?? HEALTH_DEFAULTS.maxDeadLetters;
  return {
    maxLagMs: given.maxLagMs ?? config.projector.readyMaxLagMs,
    heartbeatStaleMs: given.heartbeatStaleMs ?? config.projector.heartbeatStaleMs,
    maxDeadLetters,
    maxOutboxDeadLetters: given.maxOutboxDeadLetters ?? maxDeadLetters,
    maxOutboxBacklog: given.maxOutboxBacklog ?? HEALTH_DEFAULTS.maxOutboxBacklog,
    maxOutboxAgeMs: given.maxOutboxAgeMs ?? HEALTH_DEFAULTS.maxOutboxAgeMs,
    minEmbeddingReadyRatio: given.minEmbeddingReadyRatio ?? HEALTH_DEFAULTS.minEmbeddingReadyRatio,
    maxOpenTxMs: given.maxOpenTxMs ?? HEALTH_DEFAULTS.maxOpenTxMs,
    telemetryMaxAgeMs: given.telemetryMaxAgeMs ?? HEALTH_DEFAULTS.telemetryMaxAgeMs,
  };
}

export interface HealthOptions {
  readonly thresholds: HealthThresholds;
  /** Which consistency checks run after the health checks (default scope). */
  readonly consistencySet?: ConsistencyCheckSet;
  /** For the scope set: OUTBOX_MAX_ATTEMPTS and OUTBOX_CLAIM_TIMEOUT_MS. */
  readonly maxAttempts?: number;
  readonly claimTimeoutMs?: number;
  /** The projections that must be alive (default: every one the service runs, projections/index.ts). */
  readonly projections?: readonly { readonly name: string; readonly version: number }[];
  readonly sampleSize?: number;
  /**
   * Cross-tenant set: run projection_equals_replay (default true). It needs a transaction of its
   * own, so callers already inside one pass false.
   */
  readonly replay?: boolean;
}

interface Ctx {
  readonly database: Database;
  readonly t: HealthThresholds;
  readonly projections: readonly { readonly name: string; readonly version: number }[];
  readonly sampleSize: number;
}

interface Found {
  readonly count: number;
  readonly sample: unknown[];
  /** What was measured, appended to the check's description. */
  readonly measured: string;
}

interface HealthDef {
  readonly name: string;
  readonly severity: 'error' | 'warning';
  readonly detail: string;
  readonly run: (ctx: Ctx) => Promise<Found>;
}

interface CheckpointRow {
  projection: string;
  version: number;
  tx: string;
  gp: number;
  owner: string | null;
  heartbeat_age_ms: number | null;
}

async function checkpoints(ctx: Ctx): Promise<Map<string, CheckpointRow>> {
  const r = await sql<CheckpointRow>`
    SELECT projection, version, last_transaction_id::text AS tx, last_global_position AS gp, owner,
           (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::bigint AS heartbeat_age_ms
    FROM proj_checkpoints`.execute(ctx.database.db);
  return new Map(r.rows.map((row) => [row.projection, { ...row, heartbeat_age_ms: row.heartbeat_age_ms === null ? null : Number(row.heartbeat_age_ms) }]));
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/**
 * The health checks of a deployment, read-only, against its database. Each is a named check with
 * a threshold; a dead projector (no checkpoint, or a stale heartbeat) fails projectors_alive and
 * is never read as zero lag.
 */
const CHECKS: readonly HealthDef[] = [
  {
    name: 'migrations_current',
    severity: 'error',
    detail: 'every schema migration this code knows is applied',
    run: async (ctx) => {
      const pending = await pendingMigrations(ctx.database.db);
      return { count: pending.length, sample: pending.slice(0, ctx.sampleSize).map((m) => ({ pending_migration: m })), measured: pending.length ? `pending: ${pending.join(', ')}` : 'current' };
    },
  },
  {
    name: 'projectors_alive',
    severity: 'error',
    detail: 'every projection has a checkpoint row and a projector heartbeat newer than --heartbeat-stale-ms',
    run: async (ctx) => {
      const stored = await checkpoints(ctx);
      const bad = ctx.projections.flatMap((def) => {
        const row = stored.get(def.name);
        if (!row) return [{ projection: def.name, problem: 'no_checkpoint' }];
        if (row.heartbeat_age_ms === null) return [{ projection: def.name, problem: 'never_heartbeat', owner: row.owner }];
        if (row.heartbeat_age_ms > ctx.t.heartbeatStaleMs) return [{ projection: def.name, problem: 'heartbeat_stale', heartbeat_age_ms: row.heartbeat_age_ms, owner: row.owner }];
        return [];
      });
      const ages = ctx.projections.map((d) => stored.get(d.name)?.heartbeat_age_ms ?? null);
      const oldest = ages.some((a) => a === null) ? 'none' : `${Math.max(0, ...(ages as number[]))} ms`;
      return { count: bad.length, sample: bad.slice(0, ctx.sampleSize), measured: `${ctx.projections.length} projections, oldest heartbeat ${oldest} (max ${ctx.t.heartbeatStaleMs} ms)` };
    },
  },
  {
    name: 'projection_lag',
    severity: 'error',
    detail: 'every projection has a checkpoint and is behind the log by at most --max-lag-ms (age of the oldest committed event after its checkpoint)',
    run: async (ctx) => {
      const stored = await checkpoints(ctx);
      const bad: Record<string, unknown>[] = [];
      let worst = 0;
      for (const def of ctx.projections) {
        const row = stored.get(def.name);
        if (!row) {
          bad.push({ projection: def.name, problem: 'no_checkpoint', lag_ms: null });
          continue;
        }
        const lag = await measureLag(ctx.database.db, { transactionId: row.tx, globalPosition: row.gp });
        worst = Math.max(worst, lag.ms);
        if (lag.ms > ctx.t.maxLagMs) bad.push({ projection: def.name, problem: 'lagging', lag_events: lag.events, lag_ms: lag.ms });
      }
      const unknown = bad.filter((b) => b.problem === 'no_checkpoint').length;
      const measured = unknown > 0 && unknown === ctx.projections.length ? 'lag unknown: no checkpoint' : `worst lag ${worst} ms${unknown ? `, unknown for ${unknown} without a checkpoint` : ''}`;
      return { count: bad.length, sample: bad.slice(0, ctx.sampleSize), measured: `${measured} (max ${ctx.t.maxLagMs} ms)` };
    },
  },
  {
    name: 'projection_versions_current',
    severity: 'warning',
    detail: "every projection's stored version is this code's version (otherwise the next projector start rebuilds it)",
    run: async (ctx) => {
      const stored = await checkpoints(ctx);
      const bad = ctx.projections.flatMap((def) => {
        const row = stored.get(def.name);
        return row && row.version !== def.version ? [{ projection: def.name, stored_version: row.version, code_version: def.version }] : [];
      });
      return { count: bad.length, sample: bad.slice(0, ctx.sampleSize), measured: bad.length ? `${bad.length} differ` : 'current' };
    },
  },
  {
    name: 'projection_dead_letters',
    severity: 'error',
    detail: 'open (parked) projection dead letters are at most --max-dead-letters',
    run: async (ctx) => {
      const r = await sql<{ projection: string; n: number; oldest: Date }>`
        SELECT projection, count(*)::int AS n, min(created_at) AS oldest FROM proj_dead_letters WHERE status = 'parked' GROUP BY projection ORDER BY projection`.execute(ctx.database.db);
      const open = r.rows.reduce((s, x) => s + x.n, 0);
      const over = open > ctx.t.maxDeadLetters;
      return { count: over ? open : 0, sample: over ? r.rows.slice(0, ctx.sampleSize) : [], measured: `${open} open (max ${ctx.t.maxDeadLetters})` };
    },
  },
  {
    name: 'outbox_backlog',
    severity: 'error',
    detail: 'open outbox jobs (pending or processing) are at most --max-outbox-backlog',
    run: async (ctx) => {
      const rows = await new OutboxRepository(ctx.database).openByTenant();
      const open = rows.reduce((s, x) => s + x.n, 0);
      const over = open > ctx.t.maxOutboxBacklog;
      return { count: over ? open : 0, sample: over ? rows.slice(0, ctx.sampleSize) : [], measured: `${open} open (max ${ctx.t.maxOutboxBacklog})` };
    },
  },
  {
    name: 'outbox_oldest_age',
    severity: 'error',
    detail: 'no open outbox job (pending or processing) was enqueued longer than --max-outbox-age-ms ago',
    run: async (ctx) => {
      const { count: n, oldestMs: oldest, sample } = await new OutboxRepository(ctx.database).overdue(ctx.t.maxOutboxAgeMs, ctx.sampleSize);
      return { count: n, sample, measured: `oldest ${oldest === null || oldest === undefined ? 'none' : `${Number(oldest)} ms`} (max ${ctx.t.maxOutboxAgeMs} ms)` };
    },
  },
  {
    name: 'outbox_dead_letters',
    severity: 'error',
    detail: 'dead-lettered outbox jobs (replay or discard them) are at most --max-outbox-dead-letters',
    run: async (ctx) => {
      const byTenant = new Map<string, number>();
      for (const d of await new OutboxRepository(ctx.database).deadLettersByTenantAndType()) byTenant.set(d.tenant_id, (byTenant.get(d.tenant_id) ?? 0) + d.n);
      const rows = [...byTenant].map(([tenant_id, n]) => ({ tenant_id, n })).sort((a, b) => b.n - a.n || (a.tenant_id < b.tenant_id ? -1 : 1));
      const dead = rows.reduce((s, x) => s + x.n, 0);
      const over = dead > ctx.t.maxOutboxDeadLetters;
      return { count: over ? dead : 0, sample: over ? rows.slice(0, ctx.sampleSize) : [], measured: `${dead} dead-lettered (max ${ctx.t.maxOutboxDeadLetters})` };
    },
  },
  {
    name: 'telemetry_flushed',
    severity: 'warning',
    detail:
      "telemetry is being flushed: for every tenant with a memory write between 15 s and 24 h ago, its newest telemetry minute covers up to at most --telemetry-max-age-ms before its newest such write",
    run: async (ctx) => {
      // Evidence of traffic: every memory commit is an authenticated POST /v1/memory/write, which the recorder counts.
      const violations = sql<Record<string, unknown>>`
        WITH traffic AS (
          SELECT tenant_id, max(created_at) AS last_write FROM memory_commits
          WHERE created_at <= clock_timestamp() - make_interval(secs => ${TELEMETRY_FLUSH_GRACE_MS / 1000})
            AND created_at > clock_timestamp() - make_interval(secs => ${TELEMETRY_EVIDENCE_WINDOW_MS / 1000})
          GROUP BY tenant_id),
        tel AS (SELECT tenant_id, max(minute) + interval '1 minute' AS covered_until FROM telemetry_rollups GROUP BY tenant_id)
        SELECT w.tenant_id, w.last_write, tel.covered_until,
               (extract(epoch FROM w.last_write - tel.covered_until) * 1000)::bigint AS trailing_ms
        FROM traffic w LEFT JOIN tel ON tel.tenant_id = w.tenant_id
        WHERE tel.covered_until IS NULL OR w.last_write - tel.covered_until > make_interval(secs => ${ctx.t.telemetryMaxAgeMs / 1000})`;
      const count = await sql<{ n: number; tenants: number }>`
        SELECT (SELECT count(*)::int FROM (${violations}) AS v) AS n,
               (SELECT count(DISTINCT tenant_id)::int FROM memory_commits
                 WHERE created_at <= clock_timestamp() - make_interval(secs => ${TELEMETRY_FLUSH_GRACE_MS / 1000})
                   AND created_at > clock_timestamp() - make_interval(secs => ${TELEMETRY_EVIDENCE_WINDOW_MS / 1000})) AS tenants`.execute(ctx.database.db);
      const n = num(count.rows[0]?.n);
      const sample = n > 0 ? (await sql<Record<string, unknown>>`SELECT * FROM (${violations}) AS v ORDER BY tenant_id LIMIT ${ctx.sampleSize}`.execute(ctx.database.db)).rows : [];
      const tenants = num(count.rows[0]?.tenants);
      return { count: n, sample, measured: tenants === 0 ? 'no memory writes between 15 s and 24 h ago: nothing to compare' : `${tenants} tenant(s) with writes, ${n} without flushed telemetry` };
    },
  },
  {
    name: 'embedding_ready_ratio',
    severity: 'warning',
    detail: "the share of memory nodes whose embedding is 'ready' is at least --min-embedding-ready-ratio (1 when there are no nodes)",
    run: async (ctx) => {
      const r = await sql<{ total: number; ready: number; pending: number; failed: number }>`
        SELECT count(*)::int AS total, count(*) FILTER (WHERE embedding_status = 'ready')::int AS ready,
               count(*) FILTER (WHERE embedding_status = 'pending')::int AS pending, count(*) FILTER (WHERE embedding_status = 'failed')::int AS failed
        FROM memory_nodes`.execute(ctx.database.db);
      const row = r.rows[0] ?? { total: 0, ready: 0, pending: 0, failed: 0 };
      const ratio = row.total === 0 ? 1 : row.ready / row.total;
      const under = ratio < ctx.t.minEmbeddingReadyRatio;
      return {
        count: under ? row.total - row.ready : 0,
        sample: under ? [{ ...row, ratio: Math.round(ratio * 10_000) / 10_000 }] : [],
        measured: `${row.ready}/${row.total} ready (min ratio ${ctx.t.minEmbeddingReadyRatio})`,
      };
    },
  },
  {
    name: 'oldest_open_transaction',
    severity: 'error',
    detail:
      'no write transaction (pg_stat_activity.backend_xid set, any database of the server: transaction ids are server-wide and an open one stalls every log reader) has been open longer than --max-open-tx-ms',
    run: async (ctx) => {
      if (ctx.database.kind === 'pglite') return { count: 0, sample: [], measured: 'n/a embedded' };
      const r = await sql<{ pid: number; datname: string | null; usename: string | null; application_name: string | null; state: string | null; age_ms: number }>`
        SELECT pid, datname, usename, application_name, state, (extract(epoch FROM clock_timestamp() - xact_start) * 1000)::bigint AS age_ms
        FROM pg_stat_activity
        WHERE backend_xid IS NOT NULL AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
        ORDER BY xact_start`.execute(ctx.database.db);
      const rows = r.rows.map((x) => ({ ...x, age_ms: Number(x.age_ms) }));
      const old = rows.filter((x) => x.age_ms > ctx.t.maxOpenTxMs);
      return { count: old.length, sample: old.slice(0, ctx.sampleSize), measured: `oldest ${rows[0] ? `${rows[0].age_ms} ms` : 'none'} (max ${ctx.t.maxOpenTxMs} ms)` };
    },
  },
];

/** Names of the health checks, in the order they run (the consistency set's checks follow them). */
export const HEALTH_CHECKS: readonly string[] = CHECKS.map((c) => c.name);

/** Run the health checks, then the chosen consistency set. Read-only. */
export async function runHealthChecks(database: Database, opts: HealthOptions): Promise<CheckResult[]> {
  const ctx: Ctx = { database, t: opts.thresholds, projections: opts.projections ?? PROJECTIONS, sampleSize: opts.sampleSize ?? 5 };
  const results: CheckResult[] = [];
  for (const c of CHECKS) {
    const found = await c.run(ctx);
    results.push({ name: c.name, severity: c.severity, pass: found.count === 0, count: found.count, sample: found.sample, detail: `${c.detail}: ${found.measured}` });
  }
  const set = opts.consistencySet ?? 'scope';
  if (set === 'scope' || set === 'all') {
    results.push(...(await runScopeChecks(database, { maxAttempts: opts.maxAttempts, claimTimeoutMs: opts.claimTimeoutMs, sampleSize: opts.sampleSize })));
  }
  if (set === 'cross_tenant' || set === 'all') results.push(...(await runCrossTenantChecks(database, opts.sampleSize, { replay: opts.replay ?? true })));
  return results;
}
