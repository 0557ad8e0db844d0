import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../../../src/platform/db/database';
import { CommandIdReusedError, StreamTenantMismatchError, WrongExpectedRevisionError } from '../../../src/platform/event-store/errors';
import {
  type Checkpoint,
  compareCheckpoints,
  type EventMetadata,
  type RecordedEvent,
  START,
} from '../../../src/platform/event-store/event-store';
import { PostgresEventStore } from '../../../src/platform/event-store/postgres-event-store';
import { verifyChains } from '../../../src/platform/event-store/verify';
import { createTestDatabase, type TestDatabase } from '../../support/test-db';
import { pgOnly } from '../../support/skips';

/**
 * The event-store contract. The same suite runs against PostgreSQL (TEST_DATABASE_URL set) and
 * the embedded PGlite (unset); .ci/run runs it both ways. Cases that need two concurrent
 * sessions (PGlite has one) say so and run on PostgreSQL only.
 */
const meta = (over: Partial<EventMetadata> = {}): EventMetadata => ({
  actor: { type: 'system', id: 'contract-test' },
  occurred_at: new Date().toISOString(),
  correlation_id: randomUUID(),
  causation_id: null,
  request_id: null,
  command_id: null,
  ...over,
});

const ev = (type: string, data: unknown = {}) => ({ type, data });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readEverything(store: PostgresEventStore, pageSize = 1000): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let after: Checkpoint = START;
  for (;;) {
    const page = await store.readAll({ after, limit: pageSize });
    if (page.length === 0) return out;
    out.push(...page);
    const last = page[page.length - 1]!;
    after = { transactionId: last.transactionId, globalPosition: last.globalPosition };
  }
}

describe(`event store contract (${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  let tdb: TestDatabase;
  let database: Database;
  let store: PostgresEventStore;

  beforeEach(async () => {
    tdb = await createTestDatabase({ poolSize: 12 });
    database = tdb.database;
    store = new PostgresEventStore(database);
  });
  afterEach(async () => {
    await store.close();
    await tdb.dispose();
  });

  describe('append and readStream', () => {
    it('appends to a new stream and reads it back in order with a valid hash chain', async () => {
      const r = await store.append('s-1', [ev('A', { n: 1 }), ev('B', { n: 2 }), ev('C', { nested: { z: 1, a: [1, 2] } })], {
        expectedRevision: 'no_stream',
        tenantId: 't1',
        metadata: meta(),
      });
      expect(r.nextRevision).toBe(3);
      expect(r.firstStreamPosition).toBe(1);
      expect(r.globalPositions).toHaveLength(3);
      expect(r.duplicate).toBe(false);
      const events = await store.readStream('s-1');
      expect(events.map((e) => [e.type, e.streamPosition])).toEqual([
        ['A', 1],
        ['B', 2],
        ['C', 3],
      ]);
      expect(events[2]!.data).toEqual({ nested: { z: 1, a: [1, 2] } });
      expect(events[0]!.tenantId).toBe('t1');
      expect(events[0]!.metadata.actor).toEqual({ type: 'system', id: 'contract-test' });
      expect(verifyChains(events).breaks).toEqual([]);
      expect(events[1]!.prevHash).toBe(events[0]!.hash);
    });

    it('reads a stream from a position with a limit', async () => {
      await store.append('s-2', [ev('A'), ev('B'), ev('C'), ev('D')], { expectedRevision: 'any', tenantId: null, metadata: meta() });
      const page = await store.readStream('s-2', { fromPosition: 2, limit: 2 });
      expect(page.map((e) => e.type)).toEqual(['B', 'C']);
      expect(await store.readStream('missing')).toEqual([]);
    });

    it('enforces expected revision: no_stream, exact and any', async () => {
      await store.append('s-3', [ev('A')], { expectedRevision: 'no_stream', tenantId: null, metadata: meta() });
      await expect(store.append('s-3', [ev('B')], { expectedRevision: 'no_stream', tenantId: null, metadata: meta() })).rejects.toBeInstanceOf(
        WrongExpectedRevisionError,
      );
      const wrong = await store.append('s-3', [ev('B')], { expectedRevision: 5, tenantId: null, metadata: meta() }).catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(WrongExpectedRevisionError);
      expect((wrong as WrongExpectedRevisionError).actual).toBe(1);
      await expect(store.append('s-new', [ev('B')], { expectedRevision: 3, tenantId: null, metadata: meta() })).rejects.toBeInstanceOf(
        WrongExpectedRevisionError,
      );
      const ok = await store.append('s-3', [ev('B')], { expectedRevision: 1, tenantId: null, metadata: meta() });
      expect(ok.nextRevision).toBe(2);
      const any = await store.append('s-3', [ev('C')], { expectedRevision: 'any', tenantId: null, metadata: meta() });
      expect(any.nextRevision).toBe(3);
      // A rejected append wrote nothing.
      expect((await store.readStream('s-3')).map((e) => e.type)).toEqual(['A', 'B', 'C']);
      expect(await store.readStream('s-new')).toEqual([]);
    });

    it('lets exactly one of several concurrent appends at the same expected revision win', async () => {
      await store.append('hot', [ev('Opened')], { expectedRevision: 'no_stream', tenantId: null, metadata: meta() });
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => store.append('hot', [ev('Changed', { i })], { expectedRevision: 1, tenantId: null, metadata: meta() })),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(5);
      for (const l of lost) expect((l as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedRevisionError);
      expect(await store.readStream('hot')).toHaveLength(2);
    });

    it('lets exactly one of several concurrent creators of a new stream win', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) => store.append('fresh', [ev('Created', { i })], { expectedRevision: 'no_stream', tenantId: null, metadata: meta() })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(await store.readStream('fresh')).toHaveLength(1);
    });

    it('appendAll writes several streams all or none, each against its own expected revision', async () => {
      await store.append('guard', [ev('Opened')], { expectedRevision: 'no_stream', tenantId: null, metadata: meta() });
      const both = await store.appendAll([
        { streamId: 'guard', events: [ev('Guarded')], options: { expectedRevision: 1, tenantId: null, metadata: meta() } },
        { streamId: 'member', events: [ev('Joined'), ev('Changed')], options: { expectedRevision: 'no_stream', tenantId: 'acme', metadata: meta() } },
      ]);
      expect(both.map((r) => r.nextRevision)).toEqual([2, 2]);
      // The second append's revision is stale: the first, although valid, is not written either.
      const failed = await store
        .appendAll([
          { streamId: 'guard', events: [ev('Guarded')], options: { expectedRevision: 2, tenantId: null, metadata: meta() } },
          { streamId: 'member', events: [ev('Changed')], options: { expectedRevision: 1, tenantId: 'acme', metadata: meta() } },
        ])
        .catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(WrongExpectedRevisionError);
      expect((failed as WrongExpectedRevisionError).streamId).toBe('member');
      expect((await store.readStream('guard')).map((e) => e.type)).toEqual(['Opened', 'Guarded']);
      expect((await store.readStream('member')).map((e) => e.type)).toEqual(['Joined', 'Changed']);
      // Of concurrent appendAlls on one shared stream at the same revision, exactly one wins.
      const raced = await Promise.allSettled(
        ['x', 'y', 'z'].map((m) =>
          store.appendAll([
            { streamId: 'guard', events: [ev('Guarded', { m })], options: { expectedRevision: 2, tenantId: null, metadata: meta() } },
            { streamId: `member-${m}`, events: [ev('Joined')], options: { expectedRevision: 'no_stream', tenantId: null, metadata: meta() } },
          ]),
        ),
      );
      expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(await store.streamIds('member-')).toHaveLength(1);
      expect(await store.streamIds('member')).toEqual(['member', ...(await store.streamIds('member-'))]);
    });

    it('keeps a stream in the tenant it was created for', async () => {
      await store.append('tenant-stream', [ev('A')], { expectedRevision: 'no_stream', tenantId: 'acme', metadata: meta() });
      await expect(store.append('tenant-stream', [ev('B')], { expectedRevision: 'any', tenantId: 'other', metadata: meta() })).rejects.toBeInstanceOf(
        StreamTenantMismatchError,
      );
    });
  });

  describe('idempotency by command id', () => {
    it('returns the first result for a repeated command id and writes nothing new', async () => {
      const commandId = randomUUID();
      const first = await store.append('idem', [ev('A')], { expectedRevision: 'no_stream', tenantId: null, metadata: meta({ command_id: commandId }) });
      // Same command again: with no_stream it would conflict, but the duplicate is recognised first.
      const again = await store.append('idem', [ev('A')], { expectedRevision: 'no_stream', tenantId: null, metadata: meta({ command_id: commandId }) });
      expect(again.duplicate).toBe(true);
      expect({ ...again, duplicate: false }).toEqual(first);
      expect(await store.readStream('idem')).toHaveLength(1);
    });

    it('recognises concurrent duplicates: one write, every caller gets the same result', async () => {
      const commandId = randomUUID();
      await store.append('idem2', [ev('Opened')], { expectedRevision: 'no_stream', tenantId: null, metadata: meta() });
      const results = await Promise.all(
        Array.from({ length: 5 }, () =>
          store.append('idem2', [ev('Changed')], { expectedRevision: 1, tenantId: null, metadata: meta({ command_id: commandId }) }),
        ),
      );
      expect(new Set(results.map((r) => r.position.globalPosition)).size).toBe(1);
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(await store.readStream('idem2')).toHaveLength(2);
    });

    it('refuses a command id reused for another stream', async () => {
      const commandId = randomUUID();
      await store.append('one', [ev('A')], { expectedRevision: 'any', tenantId: null, metadata: meta({ command_id: commandId }) });
      await expect(store.append('two', [ev('A')], { expectedRevision: 'any', tenantId: null, metadata: meta({ command_id: commandId }) })).rejects.toBeInstanceOf(
        CommandIdReusedError,
      );
      expect(await store.readStream('two')).toEqual([]);
    });
  });

  describe('global reads', () => {
    it('pages through the whole log in commit order exactly once', async () => {
      for (let i = 0; i < 7; i++) {
        await store.append(`page-${i % 3}`, [ev('E', { i }), ev('F', { i })], { expectedRevision: 'any', tenantId: null, metadata: meta() });
      }
      const all = await readEverything(store, 3);
      expect(all).toHaveLength(14);
      expect(new Set(all.map((e) => e.eventId)).size).toBe(14);
      for (let i = 1; i < all.length; i++) expect(compareCheckpoints(all[i - 1]!, all[i]!)).toBeLessThan(0);
      expect(await store.headGlobalPosition()).toBe(all[all.length - 1]!.globalPosition);
    });

    it('never shows events of a rolled-back transaction', async () => {
      await expect(
        database.db.transaction().execute(async (trx) => {
          await store.append('rolled', [ev('Ghost')], { expectedRevision: 'any', tenantId: null, metadata: meta(), trx });
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      await store.append('kept', [ev('Real')], { expectedRevision: 'any', tenantId: null, metadata: meta() });
      const all = await readEverything(store);
      expect(all.map((e) => e.type)).toEqual(['Real']);
      expect(await store.readStream('rolled')).toEqual([]);
    });

    it('orders by transaction id numerically, not as text (9 before 10)', async () => {
      // Regression: ordering by the text form of the xid put "10" before "9" once xids crossed a digit boundary.
      const m = JSON.stringify(meta());
      for (const [tx, id] of [
        ['10', '00000000-0000-4000-8000-000000000010'],
        ['9', '00000000-0000-4000-8000-000000000009'],
      ] as const) {
        await sql`INSERT INTO es_events (transaction_id, stream_id, stream_position, tenant_id, event_id, type, schema_version, data, metadata, recorded_at, prev_hash, hash)
          VALUES (${tx}::xid8, ${`manual-${tx}`}, 1, NULL, ${id}::uuid, 'Manual', 1, '{}'::jsonb, ${m}::jsonb, now(), 'x', 'y')`.execute(database.db);
      }
      const all = await readEverything(store, 1);
      expect(all.map((e) => e.transactionId)).toEqual(['9', '10']);
    });

    pgOnly.it('delivers an event committed under a higher xid but a lower position (needs two sessions: PostgreSQL only)', async () => {
      // T1 takes its xid first, T2 (higher xid) appends first and so gets the lower global position.
      const s1 = await database.openSession();
      const s2 = await database.openSession();
      try {
        let releaseT1!: () => void;
        const t1Gate = new Promise<void>((r) => (releaseT1 = r));
        let t1HasXid!: () => void;
        const t1Started = new Promise<void>((r) => (t1HasXid = r));
        let t1Appended!: () => void;
        const t1AppendedP = new Promise<void>((r) => (t1Appended = r));
        let t2Done!: () => void;
        const t2DoneP = new Promise<void>((r) => (t2Done = r));

        const t1 = s1.db.transaction().execute(async (trx) => {
          await sql`SELECT pg_current_xact_id()`.execute(trx);
          t1HasXid();
          await t2DoneP;
          await store.append('gap-a', [ev('FromT1')], { expectedRevision: 'any', tenantId: null, metadata: meta(), trx });
          t1Appended();
          await t1Gate;
        });
        await t1Started;
        const t2 = await s2.db.transaction().execute((trx) =>
          store.append('gap-b', [ev('FromT2')], { expectedRevision: 'any', tenantId: null, metadata: meta(), trx }),
        );
        t2Done();
        await t1AppendedP;
        // T2 is committed but T1 (lower xid) is still open: a gap-safe reader must not pass T2 yet.
        expect(await store.readAll({ after: START, limit: 10 })).toEqual([]);
        releaseT1();
        await t1;
        const all = await readEverything(store);
        expect(all.map((e) => e.type)).toEqual(['FromT1', 'FromT2']);
        const [a, b] = all;
        expect(a!.globalPosition).toBeGreaterThan(b!.globalPosition);
        expect(b!.globalPosition).toBe(t2.position.globalPosition);
        // Resuming from the checkpoint of the first event still yields the second.
        expect((await store.readAll({ after: a!, limit: 10 })).map((e) => e.type)).toEqual(['FromT2']);
      } finally {
        await s1.release();
        await s2.release();
      }
    });
  });

  describe('tamper evidence', () => {
    it('detects an edited, a removed and a reordered event offline', async () => {
      await store.append('chain', [ev('A', { v: 1 }), ev('B', { v: 2 }), ev('C', { v: 3 })], { expectedRevision: 'no_stream', tenantId: 't', metadata: meta() });
      const events = await store.readStream('chain');
      expect(verifyChains(events).breaks).toEqual([]);
      const edited = events.map((e, i) => (i === 1 ? { ...e, data: { v: 999 } } : e));
      expect(verifyChains(edited).breaks.map((b) => b.reason)).toContain('hash_mismatch');
      const removed = [events[0]!, events[2]!];
      expect(verifyChains(removed).breaks.map((b) => b.reason)).toEqual(expect.arrayContaining(['position_gap', 'prev_hash_mismatch']));
      const reordered = [events[0]!, { ...events[2]!, streamPosition: 2 }, { ...events[1]!, streamPosition: 3 }];
      expect(verifyChains(reordered).breaks.length).toBeGreaterThan(0);
      // An edit made in the database itself is caught too.
      await sql`UPDATE es_events SET data = '{"v": 42}'::jsonb WHERE stream_id = 'chain' AND stream_position = 2`.execute(database.db);
      const breaks = verifyChains(await store.readStream('chain')).breaks;
      expect(breaks).toEqual([expect.objectContaining({ streamPosition: 2, reason: 'hash_mismatch' })]);
    });
  });

  describe('subscribe', () => {
    it('wakes on NOTIFY long before the poll interval', async () => {
      const seen: RecordedEvent[] = [];
      let arrived!: () => void;
      const got = new Promise<void>((r) => (arrived = r));
      const sub = store.subscribe({
        from: START,
        pollIntervalMs: 20_000,
        handler: async (events) => {
          seen.push(...events);
          if (seen.length >= 1) arrived();
        },
      });
      try {
        await sleep(200); // the subscription is idle, waiting
        const t0 = Date.now();
        await store.append('live', [ev('Ping')], { expectedRevision: 'any', tenantId: null, metadata: meta() });
        await got;
        expect(Date.now() - t0).toBeLessThan(3000);
        expect(seen.map((e) => e.type)).toEqual(['Ping']);
      } finally {
        await sub.stop();
      }
    });

    it('falls back to polling when notifications never arrive', async () => {
      const deaf = new PostgresEventStore({ ...database, kind: database.kind, db: database.db, target: database.target, openSession: () => database.openSession(), close: () => database.close(), listen: () => Promise.resolve(() => Promise.resolve()) });
      const seen: string[] = [];
      const sub = deaf.subscribe({ from: START, pollIntervalMs: 100, handler: async (events) => void seen.push(...events.map((e) => e.type)) });
      try {
        await sleep(150);
        await store.append('quiet', [ev('Whisper')], { expectedRevision: 'any', tenantId: null, metadata: meta() });
        const until = Date.now() + 3000;
        while (seen.length === 0 && Date.now() < until) await sleep(20);
        expect(seen).toEqual(['Whisper']);
      } finally {
        await sub.stop();
      }
    });

    it('stops with the handler error and does not advance past the failed batch', async () => {
      await store.append('boom', [ev('A')], { expectedRevision: 'any', tenantId: null, metadata: meta() });
      const sub = store.subscribe({
        from: START,
        handler: () => Promise.reject(new Error('handler failed')),
      });
      await expect(sub.done).rejects.toThrow('handler failed');
      expect(sub.position).toEqual(START);
    });
  });

  describe('torture: concurrent writers with random delays and rollbacks', () => {
    it('delivers every committed event exactly once and never a rolled-back one', async () => {
      const writers = 8;
      const durationMs = Number(process.env.TORTURE_MS ?? (tdb.kind === 'pg' ? 6000 : 3000));
      const committed = new Set<string>();
      const rolledBack = new Set<string>();
      const delivered: RecordedEvent[] = [];
      const sub = store.subscribe({
        from: START,
        batchSize: 50,
        pollIntervalMs: 50,
        handler: async (events) => {
          delivered.push(...events);
          // A slow consumer makes the interleaving of reads and commits richer.
          if (Math.random() < 0.2) await sleep(Math.random() * 5);
        },
      });
      const deadline = Date.now() + durationMs;
      const writer = async (w: number) => {
        let n = 0;
        while (Date.now() < deadline) {
          n += 1;
          const ids = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => randomUUID());
          const rollback = Math.random() < 0.25;
          const stream = `torture-${w}-${Math.floor(Math.random() * 4)}`;
          try {
            await database.db.transaction().execute(async (trx) => {
              await sleep(Math.random() * 8);
              await store.append(
                stream,
                ids.map((id) => ({ type: 'Tortured', data: { w, n }, eventId: id })),
                { expectedRevision: 'any', tenantId: null, metadata: meta(), trx },
              );
              // Hold the transaction open after inserting: commits land out of position order.
              await sleep(Math.random() * 15);
              if (rollback) throw new Error('deliberate rollback');
            });
            for (const id of ids) committed.add(id);
          } catch (err) {
            if ((err as Error).message !== 'deliberate rollback') throw err;
            for (const id of ids) rolledBack.add(id);
          }
        }
      };
      await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
      // Let the subscriber drain.
      const until = Date.now() + 15_000;
      while (delivered.length < committed.size && Date.now() < until) await sleep(25);
      await sleep(200);
      await sub.stop();

      const deliveredIds = delivered.map((e) => e.eventId);
      const unique = new Set(deliveredIds);
      expect(rolledBack.size).toBeGreaterThan(0);
      expect(committed.size).toBeGreaterThan(50);
      expect(deliveredIds.length).toBe(unique.size); // no duplicates
      expect([...committed].filter((id) => !unique.has(id))).toEqual([]); // none skipped
      expect([...unique].filter((id) => rolledBack.has(id))).toEqual([]); // no ghosts
      expect(unique.size).toBe(committed.size);
      for (let i = 1; i < delivered.length; i++) expect(compareCheckpoints(delivered[i - 1]!, delivered[i]!)).toBeLessThan(0);
      // The log itself is still a valid set of hash chains.
      expect(verifyChains(await readEverything(store)).breaks).toEqual([]);
    }, 60_000);
  });
});
