import { createHash, type Hash } from 'node:crypto';
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { canonicalJson } from '../event-store/canonical-json';
import type { DB } from '../db/schema';
import type { Checkpoint } from '../event-store/event-store';
import type { DeadLetter } from './fold';
import type { AnyProjection, ColumnKind } from './projection';

type Executor = Kysely<DB> | Transaction<DB>;

/** SQL of the projection engine: read-model rows, checkpoints, dead letters. No business rules. */

export function qualified(def: AnyProjection, schema?: string): string {
  return schema ? `${schema}.${def.table}` : def.table;
}

export async function ensureReadModel(db: Executor, def: AnyProjection, schema?: string): Promise<void> {
  for (const stmt of def.ddl(qualified(def, schema))) await sql.raw(stmt).execute(db);
}

export async function dropReadModel(db: Executor, def: AnyProjection, schema?: string): Promise<void> {
  await sql`DROP TABLE IF EXISTS ${sql.table(qualified(def, schema))}`.execute(db);
}

export interface CheckpointRow {
  readonly version: number;
  readonly position: Checkpoint;
  readonly eventsApplied: number;
}

export async function ensureCheckpoint(db: Executor, def: AnyProjection): Promise<CheckpointRow> {
  await db
    .insertInto('proj_checkpoints')
    .values({ projection: def.name, version: def.version, last_global_position: 0, events_applied: 0 })
    .onConflict((oc) => oc.column('projection').doNothing())
    .execute();
  const row = await readCheckpoint(db, def.name);
  if (!row) throw new Error(`checkpoint of ${def.name} vanished`);
  return row;
}

export async function readCheckpoint(db: Executor, projection: string): Promise<CheckpointRow | undefined> {
  const r = await sql<{ version: number; tx: string; gp: number; applied: number }>`
    SELECT version, last_transaction_id::text AS tx, last_global_position AS gp, events_applied AS applied
    FROM proj_checkpoints WHERE projection = ${projection}`.execute(db);
  const row = r.rows[0];
  return row ? { version: row.version, position: { transactionId: row.tx, globalPosition: row.gp }, eventsApplied: row.applied } : undefined;
}

/** Reset a projection to the start of the log at a new version (read model dropped and recreated by the caller). */
export async function resetCheckpoint(db: Executor, def: AnyProjection): Promise<void> {
  await sql`UPDATE proj_checkpoints SET version = ${def.version}, last_transaction_id = '0'::xid8, last_global_position = 0,
    events_applied = 0, updated_at = now() WHERE projection = ${def.name}`.execute(db);
  await db.deleteFrom('proj_parked_streams').where('projection', '=', def.name).execute();
  await db.deleteFrom('proj_dead_letters').where('projection', '=', def.name).execute();
}

/**
 * Compare-and-set: advance only from `from`. False means another runner moved the checkpoint:
 * the caller's transaction must roll back so nothing is applied twice.
 */
export async function advanceCheckpoint(trx: Executor, projection: string, from: Checkpoint, to: Checkpoint, applied: number): Promise<boolean> {
  const r = await sql<{ projection: string }>`
    UPDATE proj_checkpoints
    SET last_transaction_id = ${to.transactionId}::xid8, last_global_position = ${to.globalPosition},
        events_applied = events_applied + ${applied}, updated_at = now(), heartbeat_at = now()
    WHERE projection = ${projection}
      AND last_transaction_id = ${from.transactionId}::xid8 AND last_global_position = ${from.globalPosition}
    RETURNING projection`.execute(trx);
  return r.rows.length === 1;
}

export async function heartbeat(db: Executor, projection: string, owner: string): Promise<void> {
  await sql`UPDATE proj_checkpoints SET heartbeat_at = now(), owner = ${owner} WHERE projection = ${projection}`.execute(db);
}

function toSql(kind: ColumnKind, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'jsonb':
      return JSON.stringify(value);
    case 'timestamptz':
      return typeof value === 'string' ? value : value instanceof Date ? value.toISOString() : String(value);
    case 'text':
    case 'int':
    case 'bool':
      return value;
  }
}

function fromSql(kind: ColumnKind, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'timestamptz':
      return value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString();
    case 'int':
      return typeof value === 'number' ? value : Number(value);
    case 'jsonb':
      return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
    case 'text':
    case 'bool':
      return value;
  }
}

export function normaliseRow(def: AnyProjection, raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [col, kind] of Object.entries(def.columns) as [string, ColumnKind][]) out[col] = fromSql(kind, raw[col]);
  return out;
}

export async function loadRows(db: Executor, def: AnyProjection, keys: readonly string[], schema?: string): Promise<Map<string, Record<string, unknown>>> {
  const rows = new Map<string, Record<string, unknown>>();
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    const r = await sql<Record<string, unknown>>`
      SELECT * FROM ${sql.table(qualified(def, schema))} WHERE ${sql.ref(def.primaryKey)} = ANY(${sql.val(chunk)}::text[])`.execute(db);
    for (const raw of r.rows) {
      const row = normaliseRow(def, raw);
      rows.set(String(row[def.primaryKey]), row);
    }
  }
  return rows;
}

export async function writeRows(db: Executor, def: AnyProjection, changes: ReadonlyMap<string, Record<string, unknown> | null>, schema?: string): Promise<void> {
  const table = sql.table(qualified(def, schema));
  const cols = Object.keys(def.columns);
  const upserts: Record<string, unknown>[] = [];
  const deletes: string[] = [];
  for (const [key, row] of changes) {
    if (row === null) deletes.push(key);
    else upserts.push(row);
  }
  if (deletes.length > 0) {
    await sql`DELETE FROM ${table} WHERE ${sql.ref(def.primaryKey)} = ANY(${sql.val(deletes)}::text[])`.execute(db);
  }
  const colList = sql.join(cols.map((c) => sql.ref(c)));
  const updates = sql.join(cols.filter((c) => c !== def.primaryKey).map((c) => sql`${sql.ref(c)} = EXCLUDED.${sql.ref(c)}`));
  // Chunk to stay under the bind-parameter limit.
  const perChunk = Math.max(1, Math.floor(30_000 / cols.length));
  for (let i = 0; i < upserts.length; i += perChunk) {
    const chunk = upserts.slice(i, i + perChunk);
    const values = sql.join(
      chunk.map((row) => {
        const cells: RawBuilder<unknown>[] = cols.map((c) => {
          const kind = def.columns[c] as ColumnKind;
          const v = toSql(kind, row[c]);
          return kind === 'jsonb' ? sql`${v}::jsonb` : kind === 'timestamptz' ? sql`${v}::timestamptz` : sql`${v}`;
        });
        return sql`(${sql.join(cells)})`;
      }),
    );
    await sql`INSERT INTO ${table} (${colList}) VALUES ${values}
      ON CONFLICT (${sql.ref(def.primaryKey)}) DO UPDATE SET ${updates}`.execute(db);
  }
}

export async function loadParkedStreams(db: Executor, projection: string): Promise<Set<string>> {
  const rows = await db.selectFrom('proj_parked_streams').select('stream_id').where('projection', '=', projection).execute();
  return new Set(rows.map((r) => r.stream_id));
}

export async function recordDeadLetters(db: Executor, projection: string, letters: readonly DeadLetter[], parked: ReadonlyMap<string, number>): Promise<void> {
  for (let i = 0; i < letters.length; i += 500) {
    const chunk = letters.slice(i, i + 500);
    await db
      .insertInto('proj_dead_letters')
      .values(
        chunk.map((l) => ({
          projection,
          global_position: l.event.globalPosition,
          transaction_id: l.event.transactionId,
          stream_id: l.event.streamId,
          event_id: l.event.eventId,
          event_type: l.event.type,
          category: l.category,
          error: l.error.slice(0, 4000),
          status: 'parked',
        })),
      )
      .onConflict((oc) => oc.columns(['projection', 'event_id']).doNothing())
      .execute();
  }
  for (const [streamId, position] of parked) {
    await db
      .insertInto('proj_parked_streams')
      .values({ projection, stream_id: streamId, parked_at_position: position })
      .onConflict((oc) => oc.columns(['projection', 'stream_id']).doNothing())
      .execute();
  }
}

/** Lag: events behind the head, and how long ago the oldest unapplied committed event was recorded. */
export async function measureLag(db: Executor, position: Checkpoint): Promise<{ events: number; ms: number }> {
  const r = await sql<{ head: number | null; oldest: Date | null; now: Date }>`
    SELECT (SELECT max(global_position) FROM es_events) AS head,
           (SELECT recorded_at FROM es_events
             WHERE (transaction_id, global_position) > (${position.transactionId}::xid8, ${position.globalPosition}::bigint)
             ORDER BY transaction_id, global_position LIMIT 1) AS oldest,
           clock_timestamp() AS now`.execute(db);
  const row = r.rows[0];
  if (!row?.oldest) return { events: 0, ms: 0 };
  const events = Math.max(1, (row.head ?? 0) - position.globalPosition);
  return { events, ms: Math.max(0, new Date(row.now).getTime() - new Date(row.oldest).getTime()) };
}

export interface DeadLetterView {
  readonly id: number;
  readonly projection: string;
  readonly globalPosition: number;
  readonly streamId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly category: string;
  readonly error: string;
  readonly status: string;
  readonly createdAt: string;
}

export async function listDeadLetters(db: Executor, projection?: string, limit = 100): Promise<DeadLetterView[]> {
  let q = db.selectFrom('proj_dead_letters').selectAll().orderBy('id').limit(limit);
  if (projection) q = q.where('projection', '=', projection);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id,
    projection: r.projection,
    globalPosition: r.global_position,
    streamId: r.stream_id,
    eventId: r.event_id,
    eventType: r.event_type,
    category: r.category,
    error: r.error,
    status: r.status,
    createdAt: new Date(r.created_at).toISOString(),
  }));
}

export interface ModelHash {
  readonly rows: number;
  /** SHA-256 over the canonical JSON of every row, one per line, in primary-key order. */
  readonly sha256: string;
}

/** The tenant a read-model row belongs to ('_global' for models without a tenant column). */
export function rowTenant(def: AnyProjection, row: Record<string, unknown>): string {
  if (!('tenant_id' in def.columns)) return '_global';
  const t = row.tenant_id;
  return typeof t === 'string' ? t : '_global';
}

/**
 * Hash a read model per tenant, from its normalised rows (so PostgreSQL and PGlite, or a live
 * table and a scratch copy, hash the same content the same way). Pages by primary key.
 */
export async function hashReadModel(db: Executor, def: AnyProjection, opts: { schema?: string; table?: string; tenantId?: string } = {}): Promise<Map<string, ModelHash>> {
  const table = sql.table(opts.table ?? qualified(def, opts.schema));
  const hashes = new Map<string, { rows: number; hash: Hash }>();
  const tenantFilter = opts.tenantId !== undefined && 'tenant_id' in def.columns ? sql`AND tenant_id = ${opts.tenantId}` : sql``;
  let after: string | null = null;
  for (;;) {
    const r: { rows: Record<string, unknown>[] } = await sql<Record<string, unknown>>`
      SELECT * FROM ${table} WHERE (${after}::text IS NULL OR ${sql.ref(def.primaryKey)}::text COLLATE "C" > ${after}) ${tenantFilter}
      ORDER BY ${sql.ref(def.primaryKey)}::text COLLATE "C" LIMIT 2000`.execute(db);
    for (const raw of r.rows) {
      const row = normaliseRow(def, raw);
      const tenant = rowTenant(def, row);
      let h = hashes.get(tenant);
      if (!h) hashes.set(tenant, (h = { rows: 0, hash: createHash('sha256') }));
      h.rows += 1;
      h.hash.update(`${canonicalJson(row)}\n`);
    }
    const last = r.rows[r.rows.length - 1];
    if (!last || r.rows.length < 2000) break;
    after = String(last[def.primaryKey]);
  }
  return new Map([...hashes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([t, h]) => [t, { rows: h.rows, sha256: h.hash.digest('hex') }]));
}
