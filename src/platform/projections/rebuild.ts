import { randomBytes, randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/database';
import type { DB } from '../db/schema';
import { eventMetadata, newCommandId, systemCommandContext } from '../event-store/command-context';
import { type Actor, type Checkpoint, checkpointOf, formatCheckpoint, type RecordedEvent } from '../event-store/event-store';
import { type PostgresEventStore, readAllBetween, readAllFrom } from '../event-store/postgres-event-store';
import { foldBatch, keysOf } from './fold';
import type { AnyProjection } from './projection';
import { loadParkedStreams, loadRows, readCheckpoint, recordDeadLetters, writeRows } from './projection-store';
import {
  adoptLetters,
  advanceRebuild,
  clearLetters,
  countLetters,
  createTable,
  diffTables,
  findRunningRebuild,
  finishRebuild,
  countEventsBetween,
  headPosition,
  insertRebuild,
  lockCheckpointRow,
  type RebuildRow,
  releaseRebuildLock,
  setCheckpoint,
  shadowLettersName,
  shadowTableOf,
  swapTables,
  tableExists,
  type TableDiff,
  tryRebuildLock,
} from './rebuild-store';

type Executor = Kysely<DB> | Transaction<DB>;

export type RebuildPhase = 'build' | 'diff' | 'swap' | 'done';

export interface RebuildProgress {
  readonly projection: string;
  readonly rebuildId: string;
  readonly phase: RebuildPhase;
  /** Events read by this rebuild so far (including runs before a resume). */
  readonly eventsRead: number;
  /** Global position the shadow has reached, and the head of the log when last measured. */
  readonly position: number;
  readonly head: number;
  /** Events in the log up to `head` (counted, not estimated from positions, which have gaps); once done, the events read. */
  readonly eventsTotal: number;
  /** Rate of this run (not counting the runs before a resume). */
  readonly eventsPerSecond: number;
  /** Seconds to reach the head at the current rate; null before there is a rate. */
  readonly etaSeconds: number | null;
}

export interface RebuildResult {
  readonly rebuild_id: string;
  readonly projection: string;
  readonly version: number;
  readonly resumed: boolean;
  readonly swapped: boolean;
  readonly position: string;
  readonly events_read: number;
  readonly events_applied: number;
  readonly dead_letters: number;
  /** Shadow against live at one position (null when there was no live read model). */
  readonly diff: (TableDiff & { readonly at: string }) | null;
  readonly duration_ms: number;
}

export interface RebuildOptions {
  readonly actor: Actor;
  readonly batchSize?: number;
  /** false: build and diff only, then drop the shadow (nothing live changes). */
  readonly swap?: boolean;
  readonly onProgress?: (p: RebuildProgress) => void;
  /** Pause between build batches, to limit the load a rebuild puts on a busy database. */
  readonly pauseMs?: number;
  /** Test seam: after each committed shadow batch (a test kills the process here). */
  readonly afterBatch?: (eventsRead: number) => Promise<void> | void;
}

export class RebuildBusyError extends Error {
  constructor() {
    super('another projection rebuild is running (one at a time per deployment); wait for it or see `npm run projections:status`');
    this.name = 'RebuildBusyError';
  }
}

/**
 * Blue/green rebuild of one or more projections (docs/architecture.md, runbooks/projection-rebuild.md):
 * build a shadow table from the start of the log while the live one keeps serving, catch up with
 * the live checkpoint, diff the two at one position, then swap them in one short transaction.
 * Resumable (the shadow and its checkpoint commit together), one at a time per deployment (an
 * advisory lock on a dedicated session), and free of side effects: it only writes its shadow, its
 * bookkeeping row and two audit events (started, swapped/compared).
 */
export async function rebuildProjections(database: Database, store: PostgresEventStore, defs: readonly AnyProjection[], opts: RebuildOptions): Promise<RebuildResult[]> {
  const session = await database.openSession();
  try {
    if (!(await tryRebuildLock(session.db))) throw new RebuildBusyError();
    if (database.kind === 'pglite') {
      // One shared session on PGlite: the advisory lock is re-entrant there, so guard in-process too.
      if (pgliteBusy.has(database)) throw new RebuildBusyError();
      pgliteBusy.add(database);
    }
    try {
      const results: RebuildResult[] = [];
      for (const def of defs) results.push(await rebuildOne(session.db, store, def, opts));
      return results;
    } finally {
      pgliteBusy.delete(database);
      await releaseRebuildLock(session.db).catch(() => undefined);
    }
  } finally {
    await session.release();
  }
}

const pgliteBusy = new WeakSet<Database>();

/** Record a rebuild step in the projection's ops stream, inside the step's own transaction. */
async function recordOps(store: PostgresEventStore, trx: Executor, def: AnyProjection, type: string, data: Record<string, unknown>, actor: Actor, correlationId: string): Promise<void> {
  await store.append(`projection-ops-${def.name}`, [{ type, data: { projection: def.name, version: def.version, ...data } }], {
    expectedRevision: 'any',
    tenantId: null,
    trx: trx as Transaction<DB>,
    metadata: eventMetadata(systemCommandContext({ actor, correlationId }), newCommandId()),
  });
}

async function rebuildOne(db: Kysely<DB>, store: PostgresEventStore, def: AnyProjection, opts: RebuildOptions): Promise<RebuildResult> {
  const started = Date.now();
  const batchSize = opts.batchSize ?? 1000;
  const letters = shadowLettersName(def);
  let rb = await findRunningRebuild(db, def.name);
  if (rb && rb.targetVersion !== def.version) {
    // A rebuild for another version of this projection: it can never be swapped in by this code.
    await finishRebuild(db, rb.rebuildId, 'aborted', { reason: `superseded by a rebuild at version ${def.version}` });
    rb = undefined;
  }
  const resumed = rb !== undefined;
  if (!rb) rb = await startRebuild(db, store, def, opts.actor);
  const shadow = rb.shadowTable;
  const rebuildId = rb.rebuildId;
  let position = rb.position;
  let eventsRead = rb.eventsRead;
  let eventsApplied = rb.eventsApplied;
  let head = await headPosition(db);
  let eventsTotal = await countEventsBetween(db, 0, head);
  let headMeasuredAt = Date.now();
  let readThisRun = 0;

  const report = (phase: RebuildPhase) => {
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? readThisRun / secs : 0;
    // The catch-up inside the diff and swap may read a little past the last measured head, and the
    // swap stops at the live checkpoint, which may be short of it: once done, the total is what was read.
    eventsTotal = phase === 'done' ? eventsRead : Math.max(eventsTotal, eventsRead);
    const remaining = eventsTotal - eventsRead;
    opts.onProgress?.({ projection: def.name, rebuildId, phase, eventsRead, position: position.globalPosition, head, eventsTotal, eventsPerSecond: Math.round(rate), etaSeconds: rate > 0 ? Math.ceil(remaining / rate) : null });
  };

  // loadRows/writeRows address the live table by default: point them at the shadow.
  const shadowDef: AnyProjection = { ...def, table: shadow };

  /** Catch the shadow up to `upTo` (a live checkpoint) or, with no live read model, to the gap-safe head. */
  const catchUp = async (trx: Executor | null, upTo: Checkpoint | null, phase: RebuildPhase) => {
    for (;;) {
      const page = upTo ? await readAllBetween(trx ?? db, { after: position, upTo, limit: batchSize }) : await readAllFrom(trx ?? db, { after: position, limit: batchSize });
      if (page.length === 0) return;
      if (trx) await applyShadowPage(trx, page);
      else await db.transaction().execute((t) => applyShadowPage(t, page));
      if (Date.now() - headMeasuredAt > 2000) {
        const newHead = await headPosition(trx ?? db);
        // Only the new range is counted (an index range scan), never the whole log again.
        eventsTotal += await countEventsBetween(trx ?? db, head, newHead);
        head = newHead;
        headMeasuredAt = Date.now();
      }
      report(phase);
      if (!trx) {
        await opts.afterBatch?.(eventsRead);
        if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
      }
      if (page.length < batchSize) return;
    }
  };
  const applyShadowPage = async (trx: Executor, page: readonly RecordedEvent[]) => {
    const last = page[page.length - 1];
    if (!last) return;
    const to = checkpointOf(last);
    const parked = await loadParkedStreams(trx, letters);
    const rows = await loadRows(trx, shadowDef, keysOf(def, page));
    const folded = foldBatch(def, page, rows, parked);
    await writeRows(trx, shadowDef, folded.changes);
    if (folded.deadLetters.length > 0) await recordDeadLetters(trx, letters, folded.deadLetters, folded.newlyParked);
    if (!(await advanceRebuild(trx, rebuildId, position, to, page.length, folded.applied))) throw new Error(`rebuild ${rebuildId} was moved by another process`);
    position = to;
    eventsRead += page.length;
    eventsApplied += folded.applied;
    readThisRun += page.length;
  };

  // 1. Build: follow the live checkpoint (never past it, so the two can be compared at one position).
  for (;;) {
    const live = await readCheckpoint(db, def.name);
    const before = eventsRead;
    await catchUp(null, live?.position ?? null, 'build');
    // Close enough: the rest is applied inside the diff and swap transactions.
    if (eventsRead - before < batchSize) break;
  }
  report('build');

  // 2. Diff at one position, in one snapshot, without blocking anyone: the live rows and the live
  //    checkpoint are committed together, and the shadow is caught up to that checkpoint inside the snapshot.
  const liveTableExists = await tableExists(db, def.table);
  let diff: RebuildResult['diff'] = null;
  if (liveTableExists) {
    diff = await db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        const live = await readCheckpoint(trx, def.name);
        if (live) await catchUp(trx, live.position, 'diff');
        const d = await diffTables(trx, def, def.table, shadow);
        return { ...d, at: formatCheckpoint(live?.position ?? position) };
      });
    report('diff');
  }

  const deadLetters = await countLetters(db, letters);
  if (opts.swap === false) {
    await db.transaction().execute(async (trx) => {
      await sql`DROP TABLE IF EXISTS ${sql.table(shadow)}`.execute(trx);
      await clearLetters(trx, letters);
      const result = { mode: 'diff_only', position: formatCheckpoint(position), events_read: eventsRead, events_applied: eventsApplied, dead_letters: deadLetters, diff };
      await finishRebuild(trx, rebuildId, 'aborted', result);
      await recordOps(store, trx, def, 'ProjectionRebuildCompared', { rebuild_id: rebuildId, ...result }, opts.actor, rebuildId);
    });
    report('done');
    return { rebuild_id: rebuildId, projection: def.name, version: def.version, resumed, swapped: false, position: formatCheckpoint(position), events_read: eventsRead, events_applied: eventsApplied, dead_letters: deadLetters, diff, duration_ms: Date.now() - started };
  }

  // 3. Swap, in one short transaction. Lock order = the projector's (checkpoint row, then table):
  //    a projector batch waits on the row lock; the swapped-in checkpoint is the live one it was
  //    caught up to, so a runner at that position goes on (the new table holds the same state), one
  //    at another position fails its compare-and-set and restarts from it, and one of an older
  //    version stops. Readers wait only for the rename.
  let finalDeadLetters = deadLetters;
  await db.transaction().execute(async (trx) => {
    const hasCheckpoint = await lockCheckpointRow(trx, def.name);
    if (liveTableExists) await sql`LOCK TABLE ${sql.table(def.table)} IN ACCESS EXCLUSIVE MODE`.execute(trx);
    const live = hasCheckpoint ? await readCheckpoint(trx, def.name) : undefined;
    await catchUp(trx, live?.position ?? null, 'swap');
    await swapTables(trx, def.table, shadow);
    await adoptLetters(trx, letters, def.name);
    await setCheckpoint(trx, def, position, eventsApplied);
    finalDeadLetters = await countLetters(trx, def.name);
    const result = { mode: 'swap', position: formatCheckpoint(position), events_read: eventsRead, events_applied: eventsApplied, dead_letters: finalDeadLetters, diff };
    await finishRebuild(trx, rebuildId, 'swapped', result);
    await recordOps(store, trx, def, 'ProjectionRebuildSwapped', { rebuild_id: rebuildId, ...result }, opts.actor, rebuildId);
    // Not a business side effect: tells every instance's caches (e.g. the key verifier) that this read model changed.
    await sql`SELECT pg_notify('aionis_projection_progress', ${def.name})`.execute(trx);
  });
  report('done');
  return {
    rebuild_id: rebuildId,
    projection: def.name,
    version: def.version,
    resumed,
    swapped: true,
    position: formatCheckpoint(position),
    events_read: eventsRead,
    events_applied: eventsApplied,
    dead_letters: finalDeadLetters,
    diff,
    duration_ms: Date.now() - started,
  };
}

async function startRebuild(db: Kysely<DB>, store: PostgresEventStore, def: AnyProjection, actor: Actor): Promise<RebuildRow> {
  const rebuildId = `rb_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const shadow = shadowTableOf(def);
  await db.transaction().execute(async (trx) => {
    await createTable(trx, def, shadow);
    await clearLetters(trx, shadowLettersName(def));
    await insertRebuild(trx, { rebuildId, projection: def.name, targetVersion: def.version, shadowTable: shadow, startedBy: `${actor.type}:${actor.id}` });
    await recordOps(store, trx, def, 'ProjectionRebuildStarted', { rebuild_id: rebuildId, shadow_table: shadow }, actor, randomUUID());
  });
  const row = await findRunningRebuild(db, def.name);
  if (!row) throw new Error(`rebuild ${rebuildId} vanished`);
  return row;
}
