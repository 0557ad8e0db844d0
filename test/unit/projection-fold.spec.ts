import type { RecordedEvent } from '../../src/platform/event-store/event-store';
import { foldBatch, keysOf } from '../../src/platform/projections/fold';
import { type ProjectionDefinition, ProjectionError } from '../../src/platform/projections/projection';
import { recorded } from './support/recorded-events';

/**
 * A tiny hand-written projection: one counter row per `key`.
 *  - Added     {key, by}: count += by (creates the row); `seen` records the global positions in order
 *  - Removed   {key}:     deletes the row
 *  - Exploded  {key}:     evolve throws a plain Error (a poison event)
 *  - Checked   {key}:     ProjectionError('invariant_violation') when the row does not exist
 *  - Noted     {}:        keyOf returns null (ignored)
 * Anything else (e.g. 'Unrelated') is not handled. keyOf throws invalid_event_data without a key.
 */
type CounterRow = { key: string; count: number; seen: number[] };

const counters: ProjectionDefinition<CounterRow> = {
  name: 'counters',
  version: 1,
  table: 'rm_counters',
  primaryKey: 'key',
  columns: { key: 'text', count: 'int', seen: 'jsonb' },
  ddl: (t) => [`CREATE TABLE ${t} (key text PRIMARY KEY, count int NOT NULL, seen jsonb NOT NULL)`],
  handles: ['Added', 'Removed', 'Exploded', 'Checked', 'Noted'],
  keyOf(e) {
    if (e.type === 'Noted') return null;
    const key = (e.data as { key?: unknown }).key;
    if (typeof key !== 'string') throw new ProjectionError('invalid_event_data', `${e.type} has no key`);
    return key;
  },
  evolve(row, e) {
    const data = e.data as { key: string; by?: number };
    switch (e.type) {
      case 'Added':
        return { key: data.key, count: (row?.count ?? 0) + (data.by ?? 1), seen: [...(row?.seen ?? []), e.globalPosition] };
      case 'Removed':
        return null;
      case 'Exploded':
        throw new Error('kaboom');
      case 'Checked':
        if (!row) throw new ProjectionError('invariant_violation', `no row ${data.key}`);
        return { ...row, seen: [...row.seen, e.globalPosition] };
      default:
        throw new Error(`unexpected ${e.type}`);
    }
  },
};

let nextGlobal = 0;
const streamPositions = new Map<string, number>();
function ev(streamId: string, type: string, data: unknown): RecordedEvent {
  const pos = (streamPositions.get(streamId) ?? 0) + 1;
  streamPositions.set(streamId, pos);
  nextGlobal += 1;
  return recorded({ streamId, streamPosition: pos, globalPosition: nextGlobal, type, data });
}

beforeEach(() => {
  nextGlobal = 0;
  streamPositions.clear();
});

const noRows = new Map<string, Record<string, unknown>>();
const noParked = new Set<string>();

describe('foldBatch', () => {
  it('skips events of types the projection does not handle', () => {
    const events = [ev('s-a', 'Unrelated', { key: 'a' }), ev('s-a', 'Added', { key: 'a', by: 2 }), ev('s-a', 'Unrelated', { key: 'a' })];
    const r = foldBatch(counters, events, noRows, noParked);
    expect(r.applied).toBe(1);
    expect(r.deadLetters).toStrictEqual([]);
    expect([...r.changes]).toStrictEqual([['a', { key: 'a', count: 2, seen: [2] }]]);
  });

  it('evolves rows in batch order, starting from the current rows', () => {
    const rows = new Map<string, Record<string, unknown>>([['a', { key: 'a', count: 10, seen: [0] }]]);
    const events = [ev('s-a', 'Added', { key: 'a', by: 1 }), ev('s-b', 'Added', { key: 'b', by: 5 }), ev('s-a', 'Added', { key: 'a', by: 100 })];
    const r = foldBatch(counters, events, rows, noParked);
    expect(r.applied).toBe(3);
    expect(r.changes.get('a')).toStrictEqual({ key: 'a', count: 111, seen: [0, 1, 3] });
    expect(r.changes.get('b')).toStrictEqual({ key: 'b', count: 5, seen: [2] });
    expect(r.changes.size).toBe(2);
    expect(r.newlyParked.size).toBe(0);
  });

  it('reports only the rows that changed', () => {
    const rows = new Map<string, Record<string, unknown>>([
      ['a', { key: 'a', count: 1, seen: [] }],
      ['untouched', { key: 'untouched', count: 9, seen: [] }],
    ]);
    const r = foldBatch(counters, [ev('s-a', 'Added', { key: 'a' })], rows, noParked);
    expect([...r.changes.keys()]).toStrictEqual(['a']);
  });

  it('does not modify the rows map it was given', () => {
    const rows = new Map<string, Record<string, unknown>>([['a', { key: 'a', count: 1, seen: [] }]]);
    foldBatch(counters, [ev('s-a', 'Added', { key: 'a' }), ev('s-b', 'Added', { key: 'b' })], rows, noParked);
    expect([...rows]).toStrictEqual([['a', { key: 'a', count: 1, seen: [] }]]);
  });

  it('turns evolve returning null into a delete (null in changes), and later events see no row', () => {
    const rows = new Map<string, Record<string, unknown>>([['a', { key: 'a', count: 7, seen: [] }]]);
    const r1 = foldBatch(counters, [ev('s-a', 'Removed', { key: 'a' })], rows, noParked);
    expect(r1.changes.has('a')).toBe(true);
    expect(r1.changes.get('a')).toBeNull();
    expect(r1.applied).toBe(1);

    const removed = ev('s-a', 'Removed', { key: 'a' });
    const readded = ev('s-a', 'Added', { key: 'a', by: 3 });
    const r2 = foldBatch(counters, [removed, readded], rows, noParked);
    expect(r2.changes.get('a')).toStrictEqual({ key: 'a', count: 3, seen: [readded.globalPosition] });
    expect(r2.applied).toBe(2);
  });

  it('ignores events whose keyOf is null (not applied, not dead-lettered)', () => {
    const r = foldBatch(counters, [ev('s-a', 'Noted', {})], noRows, noParked);
    expect(r.applied).toBe(0);
    expect(r.changes.size).toBe(0);
    expect(r.deadLetters).toStrictEqual([]);
  });

  describe('poison events', () => {
    it('dead-letters a throwing evolve as evolve_failed and parks its stream, while other streams go on', () => {
      const a1 = ev('s-a', 'Added', { key: 'a' }); // 1
      const a2 = ev('s-a', 'Exploded', { key: 'a' }); // 2: poison
      const b1 = ev('s-b', 'Added', { key: 'b' }); // 3
      const a3 = ev('s-a', 'Added', { key: 'a' }); // 4: parked behind 2
      const a4 = ev('s-a', 'Unrelated', { key: 'a' }); // 5: not handled: skipped, not dead-lettered
      const b2 = ev('s-b', 'Added', { key: 'b' }); // 6
      const a5 = ev('s-a', 'Removed', { key: 'a' }); // 7: parked behind 2

      const r = foldBatch(counters, [a1, a2, b1, a3, a4, b2, a5], noRows, noParked);

      expect(r.deadLetters).toStrictEqual([
        { event: a2, category: 'evolve_failed', error: 'kaboom' },
        { event: a3, category: 'parked_behind', error: expect.any(String) },
        { event: a5, category: 'parked_behind', error: expect.any(String) },
      ]);
      expect([...r.newlyParked]).toStrictEqual([['s-a', 2]]);
      expect(r.applied).toBe(3); // a1, b1, b2
      // a's row keeps what was applied before the poison event; b's stream went on.
      expect(r.changes.get('a')).toStrictEqual({ key: 'a', count: 1, seen: [1] });
      expect(r.changes.get('b')).toStrictEqual({ key: 'b', count: 2, seen: [3, 6] });
    });

    it('keeps the category of a ProjectionError thrown by evolve', () => {
      const poison = ev('s-a', 'Checked', { key: 'missing' });
      const r = foldBatch(counters, [poison], noRows, noParked);
      expect(r.deadLetters).toStrictEqual([{ event: poison, category: 'invariant_violation', error: 'no row missing' }]);
      expect(r.newlyParked.get('s-a')).toBe(poison.globalPosition);
      expect(r.applied).toBe(0);
      expect(r.changes.size).toBe(0);
    });

    it("keeps the invalid_event_data category of a ProjectionError thrown by keyOf, and parks the stream", () => {
      const bad = ev('s-a', 'Added', { nokey: true });
      const after = ev('s-a', 'Added', { key: 'a' });
      const other = ev('s-b', 'Added', { key: 'b' });
      const r = foldBatch(counters, [bad, after, other], noRows, noParked);
      expect(r.deadLetters.map((d) => [d.event.globalPosition, d.category])).toStrictEqual([
        [1, 'invalid_event_data'],
        [2, 'parked_behind'],
      ]);
      expect(r.deadLetters[0]?.error).toBe('Added has no key');
      expect([...r.changes.keys()]).toStrictEqual(['b']);
      expect(r.applied).toBe(1);
    });

    it('records a non-Error throw as evolve_failed with its string form', () => {
      const def: ProjectionDefinition<CounterRow> = {
        ...counters,
        evolve: () => {
          throw 'plain string';
        },
      };
      const e = ev('s-a', 'Added', { key: 'a' });
      const r = foldBatch(def, [e], noRows, noParked);
      expect(r.deadLetters).toStrictEqual([{ event: e, category: 'evolve_failed', error: 'plain string' }]);
    });

    it('dead-letters every handled event of an already-parked stream as parked_behind', () => {
      const a1 = ev('s-a', 'Added', { key: 'a' });
      const b1 = ev('s-b', 'Added', { key: 'b' });
      const a2 = ev('s-a', 'Exploded', { key: 'a' }); // would be poison, but the stream is already parked
      const r = foldBatch(counters, [a1, b1, a2], noRows, new Set(['s-a']));
      expect(r.deadLetters).toStrictEqual([
        { event: a1, category: 'parked_behind', error: expect.any(String) },
        { event: a2, category: 'parked_behind', error: expect.any(String) },
      ]);
      expect(r.newlyParked.size).toBe(0);
      expect([...r.changes.keys()]).toStrictEqual(['b']);
      expect(r.applied).toBe(1);
    });
  });

  it('returns an empty result for an empty batch', () => {
    const r = foldBatch(counters, [], noRows, noParked);
    expect(r).toStrictEqual({ changes: new Map(), deadLetters: [], newlyParked: new Map(), applied: 0 });
  });
});

describe('keysOf', () => {
  it('lists the distinct keys of handled events, in first-seen order', () => {
    const events = [
      ev('s-b', 'Added', { key: 'b' }),
      ev('s-a', 'Added', { key: 'a' }),
      ev('s-b', 'Removed', { key: 'b' }),
      ev('s-c', 'Unrelated', { key: 'c' }), // not handled
      ev('s-n', 'Noted', {}), // key null
      ev('s-x', 'Added', { nokey: 1 }), // keyOf throws: left to foldBatch
    ];
    expect(keysOf(counters, events)).toStrictEqual(['b', 'a']);
  });

  it('is empty for an empty batch', () => {
    expect(keysOf(counters, [])).toStrictEqual([]);
  });
});
