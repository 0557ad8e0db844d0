import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { PROJECTIONS } from '../../../projections';
import type { Database } from '../../platform/db/database';
import type { DB } from '../../platform/db/schema';
import { canonicalJson, sha256Hex } from '../../platform/event-store/canonical-json';
import { type Checkpoint, compareCheckpoints, formatCheckpoint, type RecordedEvent } from '../../platform/event-store/event-store';
import { pagesUpTo, readAllBetween } from '../../platform/event-store/postgres-event-store';
import { foldBatch, keysOf } from '../../platform/projections/fold';
import { type AnyProjection, handlesType } from '../../platform/projections/projection';
import { hashReadModel, loadRows, type ModelHash, readCheckpoint, writeRows } from '../../platform/projections/projection-store';

type Executor = Kysely<DB> | Transaction<DB>;

/** The read models an auditor can reproduce from one tenant's export: those with a tenant column. */
export const TENANT_MODELS: readonly AnyProjection[] = PROJECTIONS.filter((p) => 'tenant_id' in p.columns);

export interface TenantStateHashes {
  readonly tenant_id: string;
  readonly position: string;
  /** Per read model: the tenant's rows and the SHA-256 over their canonical JSON in key order. */
  readonly models: Record<string, ModelHash>;
  /** SHA-256 of the canonical JSON of `models`: one value to compare. */
  readonly state_hash: string;
}

export function combineModelHashes(models: Record<string, ModelHash>): string {
  return sha256Hex(canonicalJson(models));
}

/**
 * Fold events (pages in commit order) into fresh tables for `defs`, in `schema` (created by the
 * caller) or unqualified, exactly as the projector would: same fold, same parking of poison events.
 */
export async function foldInto(
  db: Executor,
  defs: readonly AnyProjection[],
  pages: AsyncIterable<readonly RecordedEvent[]>,
  schema?: string,
  /** Told of every event the fold sends to the dead letters (poison or parked behind one). */
  onDeadLetter?: (projection: string, eventId: string) => void,
): Promise<Map<string, AnyProjection>> {
  const tables = new Map<string, AnyProjection>();
  for (const def of defs) {
    const table = schema ? `${schema}.${def.table}` : def.table;
    for (const stmt of def.ddl(table)) await sql.raw(stmt).execute(db);
    tables.set(def.name, { ...def, table });
  }
  const parked = new Map<string, Set<string>>(defs.map((d) => [d.name, new Set<string>()]));
  for await (const page of pages) {
    for (const def of defs) {
      const target = tables.get(def.name)!;
      const p = parked.get(def.name)!;
      const rows = await loadRows(db, target, keysOf(def, page));
      const folded = foldBatch(def, page, rows, p);
      await writeRows(db, target, folded.changes);
      for (const s of folded.newlyParked.keys()) p.add(s);
      for (const l of folded.deadLetters) onDeadLetter?.(def.name, l.event.eventId);
    }
  }
  return tables;
}

export async function tenantHashes(db: Executor, tables: ReadonlyMap<string, AnyProjection>, tenantId: string): Promise<Record<string, ModelHash>> {
  const models: Record<string, ModelHash> = {};
  for (const [name, def] of tables) {
    const h = await hashReadModel(db, def, { tenantId });
    models[name] = h.get(tenantId) ?? { rows: 0, sha256: sha256Hex('') };
  }
  return models;
}

class Rollback extends Error {}

export interface LiveComparison {
  readonly projection: string;
  /** Live rows equal the state at P only when the live checkpoint is at or past P and none of the tenant's events came after P. */
  readonly comparable: boolean;
  readonly reason: string | null;
  readonly live: ModelHash | null;
  readonly matches: boolean | null;
}

/**
 * The tenant's read-model hashes at position P, computed from the live log: every event up to P
 * (all tenants: a leak from another tenant's stream would change the hash) folded into a scratch
 * schema inside a transaction that is rolled back. Also compares with the live read models where
 * that is meaningful (see LiveComparison).
 */
export async function stateHashAt(database: Database, tenantId: string, position: Checkpoint): Promise<TenantStateHashes & { live: LiveComparison[] }> {
  let out: (TenantStateHashes & { live: LiveComparison[] }) | undefined;
  await database.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const head = await sql<{ tx: string | null; gp: number | null }>`
        SELECT transaction_id::text AS tx, global_position AS gp FROM es_events
        WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY transaction_id DESC, global_position DESC LIMIT 1`.execute(trx);
      const h = head.rows[0];
      if (!h?.tx || compareCheckpoints({ transactionId: h.tx, globalPosition: Number(h.gp) }, position) < 0) {
        throw new Error(`position ${formatCheckpoint(position)} is beyond the head of the log`);
      }
      const schema = `aionis_scratch_${randomBytes(6).toString('hex')}`;
      await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(trx);
      const tables = await foldInto(trx, TENANT_MODELS, pagesUpTo(trx, { upTo: position, limit: 2000 }), schema);
      const models = await tenantHashes(trx, tables, tenantId);
      const laterOwn = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM es_events WHERE tenant_id = ${tenantId}
          AND (transaction_id, global_position) > (${position.transactionId}::xid8, ${position.globalPosition}::bigint)`.execute(trx);
      const live: LiveComparison[] = [];
      for (const def of TENANT_MODELS) {
        const cp = await readCheckpoint(trx, def.name);
        let reason: string | null = null;
        if (!cp) reason = 'projection never ran';
        else if (cp.version !== def.version) reason = `live version ${cp.version}, code version ${def.version}`;
        else if (compareCheckpoints(cp.position, position) < 0) {
          // The stored checkpoint trails a projector that skipped batches it does not handle: the
          // live rows are still the state at P when nothing in between concerns this read model.
          const between = await readAllBetween(trx, { after: cp.position, upTo: position, limit: 10_000 });
          if (between.length === 10_000 || between.some((e) => handlesType(def, e.type))) reason = `live checkpoint ${formatCheckpoint(cp.position)} is before P`;
        }
        else if ((laterOwn.rows[0]?.n ?? 0) > 0) reason = `${laterOwn.rows[0]?.n} event(s) of the tenant after P`;
        if (reason) {
          live.push({ projection: def.name, comparable: false, reason, live: null, matches: null });
          continue;
        }
        const lh = (await hashReadModel(trx, def, { tenantId })).get(tenantId) ?? { rows: 0, sha256: sha256Hex('') };
        live.push({ projection: def.name, comparable: true, reason: null, live: lh, matches: lh.sha256 === models[def.name]?.sha256 });
      }
      out = { tenant_id: tenantId, position: formatCheckpoint(position), models, state_hash: combineModelHashes(models), live };
      throw new Rollback();
    })
    .catch((err: unknown) => {
      if (!(err instanceof Rollback)) throw err;
    });
  if (!out) throw new Error('state hash produced no result');
  return out;
}

/** Resolve `--position`: the export manifest's "<transaction id>:<global position>", or a global position of an existing event. */
export async function resolvePosition(db: Executor, raw: string): Promise<Checkpoint> {
  if (raw.includes(':')) {
    const [tx, gp] = raw.split(':');
    if (!/^\d{1,20}$/.test(tx ?? '') || !/^\d{1,16}$/.test(gp ?? '')) throw new Error(`invalid position "${raw}"`);
    return { transactionId: BigInt(tx!).toString(), globalPosition: Number(gp) };
  }
  if (!/^\d{1,16}$/.test(raw)) throw new Error(`invalid position "${raw}" (expected <transaction id>:<global position> or a global position)`);
  const r = await sql<{ tx: string }>`SELECT transaction_id::text AS tx FROM es_events WHERE global_position = ${Number(raw)}`.execute(db);
  const tx = r.rows[0]?.tx;
  if (!tx) throw new Error(`no event at global position ${raw}`);
  return { transactionId: tx, globalPosition: Number(raw) };
}
