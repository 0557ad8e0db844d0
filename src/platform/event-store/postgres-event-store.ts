import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/database';
import type { DB } from '../db/schema';
import { canonicalJson, sha256Hex } from './canonical-json';
import {
  CommandIdReusedError,
  DuplicateCommandRaceError,
  StreamTenantMismatchError,
  WrongExpectedRevisionError,
} from './errors';
import {
  type AppendOptions,
  type AppendResult,
  type Checkpoint,
  checkpointOf,
  EVENTS_CHANNEL,
  type EventMetadata,
  type EventStore,
  GENESIS_HASH,
  type NewEvent,
  type ReadAllOptions,
  type RecordedEvent,
  type StreamAppend,
  type SubscribeOptions,
  START,
  type Subscription,
} from './event-store';
import { CatchUpSubscription } from './subscription';

export interface EventStoreObserver {
  onAppend?(streamId: string, count: number, durationMs: number, outcome: 'ok' | 'conflict' | 'duplicate' | 'error'): void;
}

/** The fields covered by an event's hash, in the shape they are canonicalised. */
export function hashedEnvelope(e: {
  streamId: string;
  streamPosition: number;
  tenantId: string | null;
  eventId: string;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: EventMetadata;
  recordedAt: string;
}): string {
  return canonicalJson({
    stream_id: e.streamId,
    stream_position: e.streamPosition,
    tenant_id: e.tenantId,
    event_id: e.eventId,
    type: e.type,
    schema_version: e.schemaVersion,
    data: e.data,
    metadata: e.metadata,
    recorded_at: e.recordedAt,
  });
}

/** hash = SHA-256(prev_hash || "\n" || canonical JSON of the envelope). */
export function chainHash(prevHash: string, envelope: string): string {
  return sha256Hex(`${prevHash}\n${envelope}`);
}

type Executor = Kysely<DB> | Transaction<DB>;

interface EventRow {
  global_position: number;
  transaction_id: string;
  stream_id: string;
  stream_position: number;
  tenant_id: string | null;
  event_id: string;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: unknown;
  recorded_at: Date;
  prev_hash: string;
  hash: string;
}

function toRecorded(r: EventRow): RecordedEvent {
  return {
    globalPosition: r.global_position,
    transactionId: r.transaction_id,
    streamId: r.stream_id,
    streamPosition: r.stream_position,
    tenantId: r.tenant_id,
    eventId: r.event_id,
    type: r.type,
    schemaVersion: r.schema_version,
    data: r.data,
    metadata: r.metadata as EventMetadata,
    recordedAt: r.recorded_at.toISOString(),
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

const EVENT_COLUMNS = sql`global_position, transaction_id::text AS transaction_id, stream_id, stream_position, tenant_id,
  event_id::text AS event_id, type, schema_version, data, metadata, recorded_at, prev_hash, hash`;

/**
 * Event store on a PostgreSQL table (see docs/architecture.md). Runs unchanged on pg and PGlite.
 * - Optimistic concurrency through a per-stream row locked for the append.
 * - Idempotency by command id, recorded in the same transaction.
 * - Gap-safe global reads: only transactions older than every running one are visible.
 */
export class PostgresEventStore implements EventStore {
  private readonly wakers = new Set<() => void>();
  private unlisten: Promise<() => Promise<void>> | undefined;

  constructor(
    private readonly database: Database,
    private readonly observer: EventStoreObserver = {},
  ) {}

  async append(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<AppendResult> {
    if (events.length === 0) throw new Error('append: no events');
    if (streamId.length === 0 || streamId.length > 200) throw new Error('append: stream id must be 1..200 characters');
    const started = performance.now();
    const commandId = options.metadata.command_id;
    try {
      let result: AppendResult;
      if (options.trx) {
        result = await this.appendIn(options.trx, streamId, events, options);
      } else {
        try {
          result = await this.database.db.transaction().execute((trx) => this.appendIn(trx, streamId, events, options));
        } catch (err) {
          // Lost a race against the same command: the winner's result is the answer.
          if (err instanceof DuplicateCommandRaceError && commandId) {
            const first = await this.findCommand(this.database.db, commandId, streamId);
            if (first) result = first;
            else throw err;
          } else throw err;
        }
      }
      this.observer.onAppend?.(streamId, events.length, performance.now() - started, result.duplicate ? 'duplicate' : 'ok');
      return result;
    } catch (err) {
      this.observer.onAppend?.(
        streamId,
        events.length,
        performance.now() - started,
        err instanceof WrongExpectedRevisionError ? 'conflict' : 'error',
      );
      throw err;
    }
  }

  async appendAll(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    for (const a of appends) {
      if (a.events.length === 0) throw new Error('appendAll: no events');
      if (a.streamId.length === 0 || a.streamId.length > 200) throw new Error('appendAll: stream id must be 1..200 characters');
    }
    const started = performance.now();
    const report = (outcome: 'ok' | 'duplicate' | 'conflict' | 'error', results?: readonly AppendResult[]) =>
      appends.forEach((a, i) => this.observer.onAppend?.(a.streamId, a.events.length, performance.now() - started, results?.[i]?.duplicate ? 'duplicate' : outcome));
    try {
      const results = await this.database.db.transaction().execute(async (trx) => {
        const out: AppendResult[] = [];
        for (const a of appends) out.push(await this.appendIn(trx, a.streamId, a.events, a.options));
        return out;
      });
      report('ok', results);
      return results;
    } catch (err) {
      report(err instanceof WrongExpectedRevisionError ? 'conflict' : 'error');
      throw err;
    }
  }

  async streamIds(prefix: string): Promise<string[]> {
    const r = await sql<{ stream_id: string }>`SELECT stream_id FROM es_streams WHERE starts_with(stream_id, ${prefix}) ORDER BY stream_id`.execute(this.database.db);
    return r.rows.map((x) => x.stream_id);
  }

  findAppend(commandId: string, streamId: string): Promise<AppendResult | undefined> {
    return this.findCommand(this.database.db, commandId, streamId);
  }

  private async findCommand(db: Executor, commandId: string, streamId: string): Promise<AppendResult | undefined> {
    const row = await db.selectFrom('es_commands').select(['stream_id', 'result']).where('command_id', '=', commandId).executeTakeFirst();
    if (!row) return undefined;
    if (row.stream_id !== streamId) throw new CommandIdReusedError(commandId, row.stream_id);
    return { ...(row.result as AppendResult), duplicate: true };
  }

  private async appendIn(trx: Executor, streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<AppendResult> {
    const commandId = options.metadata.command_id;
    if (commandId) {
      const first = await this.findCommand(trx, commandId, streamId);
      if (first) return first;
    }
    // Lock the stream row (if any) and read the database clock in one round trip.
    const head = await sql<{ now: Date; revision: number | null; last_hash: string | null; tenant_id: string | null }>`
      SELECT date_trunc('milliseconds', clock_timestamp()) AS now, s.revision, s.last_hash, s.tenant_id
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (SELECT revision, last_hash, tenant_id FROM es_streams WHERE stream_id = ${streamId} FOR UPDATE) AS s ON true`.execute(trx);
    const h = head.rows[0];
    if (!h) throw new Error('append: head query returned nothing');
    const actual = h.revision;
    const expected = options.expectedRevision;
    const conflict =
      (expected === 'no_stream' && actual !== null) ||
      (typeof expected === 'number' && (expected === 0 ? actual !== null : actual !== expected));
    if (conflict) {
      if (commandId) {
        // A duplicate that committed while we waited for the lock is not a conflict.
        const first = await this.findCommand(trx, commandId, streamId);
        if (first) return first;
      }
      throw new WrongExpectedRevisionError(streamId, expected, actual);
    }
    if (actual !== null && h.tenant_id !== options.tenantId) {
      throw new StreamTenantMismatchError(streamId, h.tenant_id, options.tenantId);
    }

    const recordedAt = new Date(h.now).toISOString();
    let prevHash = h.last_hash ?? GENESIS_HASH;
    let position = actual ?? 0;
    const rows = events.map((e) => {
      position += 1;
      const eventId = e.eventId ?? randomUUID();
      const schemaVersion = e.schemaVersion ?? 1;
      const envelope = hashedEnvelope({
        streamId,
        streamPosition: position,
        tenantId: options.tenantId,
        eventId,
        type: e.type,
        schemaVersion,
        data: e.data,
        metadata: options.metadata,
        recordedAt,
      });
      const hash = chainHash(prevHash, envelope);
      const row = {
        stream_id: streamId,
        stream_position: position,
        tenant_id: options.tenantId,
        event_id: eventId,
        type: e.type,
        schema_version: schemaVersion,
        data: canonicalJson(e.data),
        metadata: canonicalJson(options.metadata),
        recorded_at: recordedAt,
        prev_hash: prevHash,
        hash,
      };
      prevHash = hash;
      return row;
    });
    const nextRevision = position;

    if (actual === null) {
      const created = await trx
        .insertInto('es_streams')
        .values({ stream_id: streamId, tenant_id: options.tenantId, revision: nextRevision, last_hash: prevHash })
        .onConflict((oc) => oc.column('stream_id').doNothing())
        .returning('stream_id')
        .executeTakeFirst();
      if (!created) {
        // Another transaction created the stream first.
        if (commandId) {
          const first = await this.findCommand(trx, commandId, streamId);
          if (first) return first;
        }
        const now = await trx.selectFrom('es_streams').select('revision').where('stream_id', '=', streamId).executeTakeFirst();
        throw new WrongExpectedRevisionError(streamId, expected, now?.revision ?? null);
      }
    } else {
      await trx
        .updateTable('es_streams')
        .set({ revision: nextRevision, last_hash: prevHash, updated_at: recordedAt })
        .where('stream_id', '=', streamId)
        .execute();
    }

    const inserted = await trx
      .insertInto('es_events')
      .values(rows)
      .returning(['global_position', sql<string>`transaction_id::text`.as('transaction_id')])
      .execute();
    const last = inserted[inserted.length - 1];
    if (!last) throw new Error('append: insert returned no rows');
    const result: AppendResult = {
      streamId,
      nextRevision,
      firstStreamPosition: (actual ?? 0) + 1,
      globalPositions: inserted.map((r) => r.global_position),
      transactionId: last.transaction_id,
      position: { transactionId: last.transaction_id, globalPosition: last.global_position },
      duplicate: false,
    };
    if (commandId) {
      const logged = await trx
        .insertInto('es_commands')
        .values({ command_id: commandId, stream_id: streamId, result: JSON.stringify(result) })
        .onConflict((oc) => oc.column('command_id').doNothing())
        .returning('command_id')
        .executeTakeFirst();
      if (!logged) throw new DuplicateCommandRaceError(commandId);
    }
    // Delivered on commit only; a rolled-back append wakes nobody.
    await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${String(last.global_position)})`.execute(trx);
    return result;
  }

  async readStream(streamId: string, options: { fromPosition?: number; limit?: number } = {}): Promise<RecordedEvent[]> {
    const from = options.fromPosition ?? 1;
    const limit = options.limit ?? 10_000;
    const r = await sql<EventRow>`
      SELECT ${EVENT_COLUMNS} FROM es_events
      WHERE stream_id = ${streamId} AND stream_position >= ${from}
      ORDER BY es_events.stream_position
      LIMIT ${limit}`.execute(this.database.db);
    return r.rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    return readAllFrom(this.database.db, options);
  }

  async headGlobalPosition(): Promise<number> {
    const r = await sql<{ head: number | null }>`SELECT max(global_position) AS head FROM es_events`.execute(this.database.db);
    return r.rows[0]?.head ?? 0;
  }

  subscribe(options: SubscribeOptions): Subscription {
    const sub = new CatchUpSubscription(
      (after, limit) => this.readAll({ after, limit }),
      options,
      (waker) => this.addWaker(waker),
    );
    sub.start();
    return sub;
  }

  /** Register a callback for "new events may be visible". Returns its removal. */
  addWaker(waker: () => void): () => void {
    this.wakers.add(waker);
    this.unlisten ??= this.database.listen(EVENTS_CHANNEL, () => {
      for (const w of this.wakers) w();
    });
    this.unlisten.catch(() => undefined);
    return () => {
      this.wakers.delete(waker);
    };
  }

  async close(): Promise<void> {
    this.wakers.clear();
    const u = this.unlisten;
    this.unlisten = undefined;
    if (u) await (await u.catch(() => async () => undefined))();
  }
}

/**
 * Gap-safe page of the global log after `after`: only events of transactions that committed
 * before every still-running transaction began are returned, ordered by (xid, position).
 */
export async function readAllFrom(db: Executor, options: ReadAllOptions): Promise<RecordedEvent[]> {
  const r = await sql<EventRow>`
    SELECT ${EVENT_COLUMNS} FROM es_events
    WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      AND (transaction_id, global_position) > (${options.after.transactionId}::xid8, ${options.after.globalPosition}::bigint)
    ORDER BY es_events.transaction_id, es_events.global_position -- qualified: the output column of that name is text
    LIMIT ${options.limit}`.execute(db);
  return r.rows.map(toRecorded);
}

/**
 * Events after `after` up to and including `upTo`, in commit order, with no gap filter: use only
 * with an `upTo` a gap-safe reader already reached (a projection checkpoint), because every
 * transaction at or before such a position has finished, so the range can no longer change.
 */
export async function readAllBetween(db: Executor, options: { after: Checkpoint; upTo: Checkpoint; limit: number }): Promise<RecordedEvent[]> {
  const r = await sql<EventRow>`
    SELECT ${EVENT_COLUMNS} FROM es_events
    WHERE (transaction_id, global_position) > (${options.after.transactionId}::xid8, ${options.after.globalPosition}::bigint)
      AND (transaction_id, global_position) <= (${options.upTo.transactionId}::xid8, ${options.upTo.globalPosition}::bigint)
    ORDER BY es_events.transaction_id, es_events.global_position
    LIMIT ${options.limit}`.execute(db);
  return r.rows.map(toRecorded);
}

/** readAllBetween as pages from the start of the log (or `after`) up to `upTo`, for folds and scans. */
export async function* pagesUpTo(db: Executor, options: { upTo: Checkpoint; after?: Checkpoint; limit: number }): AsyncIterable<RecordedEvent[]> {
  let after: Checkpoint = options.after ?? START;
  for (;;) {
    const page = await readAllBetween(db, { after, upTo: options.upTo, limit: options.limit });
    const last = page[page.length - 1];
    if (!last) return;
    yield page;
    after = { transactionId: last.transactionId, globalPosition: last.globalPosition };
  }
}

/** The events with these ids, in commit order (ids that do not exist are simply absent). */
export async function readEventsById(db: Executor, eventIds: readonly string[]): Promise<RecordedEvent[]> {
  if (eventIds.length === 0) return [];
  const r = await sql<EventRow>`
    SELECT ${EVENT_COLUMNS} FROM es_events WHERE event_id = ANY(${sql.val(eventIds)}::uuid[])
    ORDER BY es_events.transaction_id, es_events.global_position`.execute(db);
  return r.rows.map(toRecorded);
}

export function lastCheckpoint(events: readonly RecordedEvent[], fallback: Checkpoint): Checkpoint {
  const last = events[events.length - 1];
  return last ? checkpointOf(last) : fallback;
}
