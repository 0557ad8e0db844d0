import { sql, type Kysely, type Transaction } from 'kysely';
import type { DB } from '../db/schema';
import type { Checkpoint } from '../event-store/event-store';
import type { AnyProjection } from './projection';

type Executor = Kysely<DB> | Transaction<DB>;

/** SQL of blue/green rebuilds: the bookkeeping row, shadow tables, the diff and the swap. No business rules. */

export interface RebuildRow {
  readonly rebuildId: string;
  readonly projection: string;
  readonly targetVersion: number;
  readonly shadowTable: string;
  readonly status: 'running' | 'swapped' | 'failed' | 'aborted';
  readonly position: Checkpoint;
  readonly eventsRead: number;
  readonly eventsApplied: number;
  readonly startedBy: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly finishedAt: string | null;
  readonly result: unknown;
}

/** Shadow tables live next to the live one under a fixed suffix (one rebuild per projection at a time). */
export function shadowTableOf(def: AnyProjection): string {
  return `${def.table}__rb`;
}

/** Dead letters and parked streams of a shadow are kept under this pseudo projection name until the swap. */
export function shadowLettersName(def: AnyProjection): string {
  return `${def.name}#rebuild`;
}

export async function tableExists(db: Executor, table: string): Promise<boolean> {
  const r = await sql<{ ok: boolean }>`SELECT to_regclass(${table}) IS NOT NULL AS ok`.execute(db);
  return r.rows[0]?.ok === true;
}

export async function createTable(db: Executor, def: AnyProjection, table: string): Promise<void> {
  await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(db);
  for (const stmt of def.ddl(table)) await sql.raw(stmt).execute(db);
}

function toRow(r: Record<string, unknown>): RebuildRow {
  const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
  return {
    rebuildId: String(r.rebuild_id),
    projection: String(r.projection),
    targetVersion: Number(r.target_version),
    shadowTable: String(r.shadow_table),
    status: r.status as RebuildRow['status'],
    position: { transactionId: String(r.tx), globalPosition: Number(r.last_global_position) },
    eventsRead: Number(r.events_read),
    eventsApplied: Number(r.events_applied),
    startedBy: String(r.started_by),
    startedAt: iso(r.started_at),
    updatedAt: iso(r.updated_at),
    finishedAt: r.finished_at ? iso(r.finished_at) : null,
    result: typeof r.result === 'string' ? (JSON.parse(r.result) as unknown) : (r.result ?? null),
  };
}

const COLUMNS = sql`rebuild_id, projection, target_version, shadow_table, status, last_transaction_id::text AS tx, last_global_position,
  events_read, events_applied, started_by, started_at, updated_at, finished_at, result`;

export async function findRunningRebuild(db: Executor, projection: string): Promise<RebuildRow | undefined> {
  const r = await sql<Record<string, unknown>>`SELECT ${COLUMNS} FROM proj_rebuilds WHERE projection = ${projection} AND status = 'running'`.execute(db);
  return r.rows[0] ? toRow(r.rows[0]) : undefined;
}

export async function listRebuilds(db: Executor, limit = 20): Promise<RebuildRow[]> {
  const r = await sql<Record<string, unknown>>`SELECT ${COLUMNS} FROM proj_rebuilds ORDER BY started_at DESC, rebuild_id DESC LIMIT ${limit}`.execute(db);
  return r.rows.map(toRow);
}

export async function insertRebuild(db: Executor, row: { rebuildId: string; projection: string; targetVersion: number; shadowTable: string; startedBy: string }): Promise<void> {
  await sql`INSERT INTO proj_rebuilds (rebuild_id, projection, target_version, shadow_table, status, started_by)
    VALUES (${row.rebuildId}, ${row.projection}, ${row.targetVersion}, ${row.shadowTable}, 'running', ${row.startedBy})`.execute(db);
}

/** Compare-and-set the shadow's checkpoint: false means someone else moved it (the caller rolls back). */
export async function advanceRebuild(db: Executor, rebuildId: string, from: Checkpoint, to: Checkpoint, read: number, applied: number): Promise<boolean> {
  const r = await sql<{ id: string }>`
    UPDATE proj_rebuilds SET last_transaction_id = ${to.transactionId}::xid8, last_global_position = ${to.globalPosition},
      events_read = events_read + ${read}, events_applied = events_applied + ${applied}, updated_at = now()
    WHERE rebuild_id = ${rebuildId} AND status = 'running'
      AND last_transaction_id = ${from.transactionId}::xid8 AND last_global_position = ${from.globalPosition}
    RETURNING rebuild_id AS id`.execute(db);
  return r.rows.length === 1;
}

export async function finishRebuild(db: Executor, rebuildId: string, status: 'swapped' | 'failed' | 'aborted', result: unknown): Promise<void> {
  await sql`UPDATE proj_rebuilds SET status = ${status}, finished_at = now(), updated_at = now(), result = ${JSON.stringify(result)}::jsonb
    WHERE rebuild_id = ${rebuildId}`.execute(db);
}

export async function clearLetters(db: Executor, name: string): Promise<void> {
  await db.deleteFrom('proj_dead_letters').where('projection', '=', name).execute();
  await db.deleteFrom('proj_parked_streams').where('projection', '=', name).execute();
}

export async function countLetters(db: Executor, name: string): Promise<number> {
  const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM proj_dead_letters WHERE projection = ${name} AND status = 'parked'`.execute(db);
  return r.rows[0]?.n ?? 0;
}

/** Lock the live checkpoint row: the projector takes the same lock first in every batch, so it waits. */
export async function lockCheckpointRow(db: Executor, projection: string): Promise<boolean> {
  const r = await sql<{ projection: string }>`SELECT projection FROM proj_checkpoints WHERE projection = ${projection} FOR UPDATE`.execute(db);
  return r.rows.length === 1;
}

export interface TableDiff {
  readonly live_rows: number;
  readonly shadow_rows: number;
  readonly only_live: number;
  readonly only_shadow: number;
  readonly changed: number;
  /** Up to 10 differing primary keys. */
  readonly sample: { key: string; difference: 'only_live' | 'only_shadow' | 'changed' }[];
}

/** Row-by-row difference of two tables of one projection, in the caller's snapshot. */
export async function diffTables(db: Executor, def: AnyProjection, live: string, shadow: string): Promise<TableDiff> {
  const pk = sql.ref(def.primaryKey);
  const l = sql.table(live);
  const s = sql.table(shadow);
  const differing = sql`
    SELECT coalesce(l.${pk}, s.${pk})::text AS key,
      CASE WHEN s.${pk} IS NULL THEN 'only_live' WHEN l.${pk} IS NULL THEN 'only_shadow' ELSE 'changed' END AS difference
    FROM ${l} AS l FULL JOIN ${s} AS s ON s.${pk} = l.${pk}
    WHERE l.${pk} IS NULL OR s.${pk} IS NULL OR to_jsonb(l) IS DISTINCT FROM to_jsonb(s)`;
  const counts = await sql<{ only_live: number; only_shadow: number; changed: number }>`
    SELECT count(*) FILTER (WHERE difference = 'only_live')::int AS only_live,
           count(*) FILTER (WHERE difference = 'only_shadow')::int AS only_shadow,
           count(*) FILTER (WHERE difference = 'changed')::int AS changed
    FROM (${differing}) AS d`.execute(db);
  const sample = await sql<{ key: string; difference: 'only_live' | 'only_shadow' | 'changed' }>`SELECT * FROM (${differing}) AS d ORDER BY key LIMIT 10`.execute(db);
  const sizes = await sql<{ live: number; shadow: number }>`SELECT (SELECT count(*) FROM ${l})::int AS live, (SELECT count(*) FROM ${s})::int AS shadow`.execute(db);
  const c = counts.rows[0];
  return {
    live_rows: sizes.rows[0]?.live ?? 0,
    shadow_rows: sizes.rows[0]?.shadow ?? 0,
    only_live: c?.only_live ?? 0,
    only_shadow: c?.only_shadow ?? 0,
    changed: c?.changed ?? 0,
    sample: sample.rows,
  };
}

/**
 * The swap itself (inside the caller's transaction, which holds the live table's lock): drop the
 * live table, rename the shadow into its place and give its indexes the live names, so the next
 * shadow can be created under the same names again.
 */
export async function swapTables(db: Executor, live: string, shadow: string): Promise<void> {
  await sql`DROP TABLE IF EXISTS ${sql.table(live)}`.execute(db);
  await sql`ALTER TABLE ${sql.table(shadow)} RENAME TO ${sql.table(live)}`.execute(db);
  const idx = await sql<{ name: string }>`
    SELECT i.relname AS name FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
    WHERE x.indrelid = to_regclass(${live})`.execute(db);
  for (const { name } of idx.rows) {
    if (name.startsWith(`${shadow}_`)) await sql`ALTER INDEX ${sql.table(name)} RENAME TO ${sql.table(`${live}_${name.slice(shadow.length + 1)}`)}`.execute(db);
  }
}

/** Move the shadow's dead letters and parked streams under the live projection's name (the old ones go). */
export async function adoptLetters(db: Executor, from: string, to: string): Promise<void> {
  await clearLetters(db, to);
  await sql`UPDATE proj_dead_letters SET projection = ${to} WHERE projection = ${from}`.execute(db);
  await sql`UPDATE proj_parked_streams SET projection = ${to} WHERE projection = ${from}`.execute(db);
}

/** Point the live checkpoint at the shadow's position and version (creating it if the projection never ran). */
export async function setCheckpoint(db: Executor, def: AnyProjection, position: Checkpoint, applied: number): Promise<void> {
  await sql`
    INSERT INTO proj_checkpoints (projection, version, last_transaction_id, last_global_position, events_applied)
    VALUES (${def.name}, ${def.version}, ${position.transactionId}::xid8, ${position.globalPosition}, ${applied})
    ON CONFLICT (projection) DO UPDATE SET version = EXCLUDED.version, last_transaction_id = EXCLUDED.last_transaction_id,
      last_global_position = EXCLUDED.last_global_position, events_applied = EXCLUDED.events_applied, updated_at = now()`.execute(db);
}

/** Namespace of the rebuild lock: one rebuild at a time across the whole deployment. */
const REBUILD_LOCK_NAMESPACE = 0x41_49_52;

export async function tryRebuildLock(db: Executor): Promise<boolean> {
  const r = await sql<{ ok: boolean }>`SELECT pg_try_advisory_lock(${REBUILD_LOCK_NAMESPACE}, 0) AS ok`.execute(db);
  return r.rows[0]?.ok === true;
}

export async function releaseRebuildLock(db: Executor): Promise<void> {
  await sql`SELECT pg_advisory_unlock(${REBUILD_LOCK_NAMESPACE}, 0)`.execute(db);
}

/** Events with a global position in (after, upTo]. */
export async function countEventsBetween(db: Executor, after: number, upTo: number): Promise<number> {
  if (upTo <= after) return 0;
  const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE global_position > ${after} AND global_position <= ${upTo}`.execute(db);
  return r.rows[0]?.n ?? 0;
}

export async function headPosition(db: Executor): Promise<number> {
  const r = await sql<{ head: number | null }>`SELECT max(global_position) AS head FROM es_events`.execute(db);
  return Number(r.rows[0]?.head ?? 0);
}
