import { createHash } from 'node:crypto';
import { GENESIS_HASH, type RecordedEvent } from '../../src/platform/event-store/event-store';
import { chainHash, hashedEnvelope } from '../../src/platform/event-store/postgres-event-store';
import { verifyChains } from '../../src/platform/event-store/verify';
import { buildChain, sealed } from './support/recorded-events';

const payloads = [{ n: 1, note: 'first' }, { n: 2, note: 'second' }, { n: 3, note: 'third' }];

function at(list: readonly RecordedEvent[], i: number): RecordedEvent {
  const e = list[i];
  if (!e) throw new Error(`no event at index ${i}`);
  return e;
}

describe('chainHash and hashedEnvelope', () => {
  it('chainHash is SHA-256 of prev_hash, a newline and the envelope', () => {
    const expected = createHash('sha256').update(`${GENESIS_HASH}\n{"a":1}`, 'utf8').digest('hex');
    expect(chainHash(GENESIS_HASH, '{"a":1}')).toBe(expected);
    expect(chainHash('1'.repeat(64), '{"a":1}')).not.toBe(expected);
  });

  it('hashedEnvelope is the canonical JSON of the covered fields, in snake_case', () => {
    const e = at(buildChain('s-1', [{ b: 2, a: 1 }], 1, 't1'), 0);
    const env = hashedEnvelope(e);
    expect(JSON.parse(env)).toStrictEqual({
      stream_id: 's-1',
      stream_position: 1,
      tenant_id: 't1',
      event_id: e.eventId,
      type: 'ThingHappened',
      schema_version: 1,
      data: { a: 1, b: 2 },
      metadata: e.metadata,
      recorded_at: e.recordedAt,
    });
    expect(env.startsWith('{"data":{"a":1,"b":2},"event_id":')).toBe(true);
  });

  it('does not depend on the key order of data', () => {
    const e = at(buildChain('s-1', [{ b: 2, a: 1 }]), 0);
    expect(hashedEnvelope({ ...e, data: { a: 1, b: 2 } })).toBe(hashedEnvelope(e));
  });
});

describe('verifyChains', () => {
  it('finds no break in a valid three-event chain', () => {
    const chain = buildChain('s-1', payloads);
    expect(at(chain, 0).prevHash).toBe(GENESIS_HASH);
    expect(at(chain, 1).prevHash).toBe(at(chain, 0).hash);
    expect(verifyChains(chain)).toStrictEqual({ streams: 1, events: 3, breaks: [] });
  });

  it('is empty for no events', () => {
    expect(verifyChains([])).toStrictEqual({ streams: 0, events: 0, breaks: [] });
  });

  it('reports hash_mismatch for an edited data field, at that event only', () => {
    const chain = buildChain('s-1', payloads);
    const tampered = [at(chain, 0), { ...at(chain, 1), data: { n: 2, note: 'EDITED' } }, at(chain, 2)];
    expect(verifyChains(tampered).breaks).toStrictEqual([
      { streamId: 's-1', streamPosition: 2, eventId: at(chain, 1).eventId, reason: 'hash_mismatch' },
    ]);
  });

  it.each<[string, (e: RecordedEvent) => RecordedEvent]>([
    ['type', (e) => ({ ...e, type: 'OtherThing' })],
    ['schemaVersion', (e) => ({ ...e, schemaVersion: 2 })],
    ['eventId', (e) => ({ ...e, eventId: 'ffffffff-0000-4000-8000-000000000000' })],
    ['tenantId', (e) => ({ ...e, tenantId: 'intruder' })],
    ['metadata actor', (e) => ({ ...e, metadata: { ...e.metadata, actor: { type: 'system', id: 'forged' } } })],
    ['recordedAt', (e) => ({ ...e, recordedAt: '2030-01-01T00:00:00.000Z' })],
  ])('reports hash_mismatch when %s is edited', (_field, edit) => {
    const chain = buildChain('s-1', payloads);
    const tampered = [at(chain, 0), edit(at(chain, 1)), at(chain, 2)];
    expect(verifyChains(tampered).breaks.map((b) => [b.streamPosition, b.reason])).toStrictEqual([[2, 'hash_mismatch']]);
  });

  it('catches an edited event whose hash was recomputed, at the next link', () => {
    const chain = buildChain('s-1', payloads);
    const forged = sealed({ ...at(chain, 1), data: { n: 2, note: 'forged' } });
    const r = verifyChains([at(chain, 0), forged, at(chain, 2)]);
    expect(r.breaks.map((b) => [b.streamPosition, b.reason])).toStrictEqual([[3, 'prev_hash_mismatch']]);
  });

  it('reports position_gap and prev_hash_mismatch when a middle event is removed', () => {
    const chain = buildChain('s-1', payloads);
    const r = verifyChains([at(chain, 0), at(chain, 2)]);
    expect(r.events).toBe(2);
    expect(r.breaks).toStrictEqual([
      { streamId: 's-1', streamPosition: 3, eventId: at(chain, 2).eventId, reason: 'position_gap' },
      { streamId: 's-1', streamPosition: 3, eventId: at(chain, 2).eventId, reason: 'prev_hash_mismatch' },
    ]);
  });

  it('reports the removal of the first event', () => {
    const chain = buildChain('s-1', payloads);
    const reasons = verifyChains([at(chain, 1), at(chain, 2)]).breaks.map((b) => [b.streamPosition, b.reason]);
    expect(reasons).toStrictEqual([
      [2, 'position_gap'],
      [2, 'prev_hash_mismatch'],
    ]);
  });

  it('reports a forged first link that does not start from the genesis hash', () => {
    const chain = buildChain('s-1', payloads);
    const forgedFirst = sealed({ ...at(chain, 0), prevHash: 'f'.repeat(64) });
    const reasons = verifyChains([forgedFirst]).breaks.map((b) => b.reason);
    expect(reasons).toStrictEqual(['prev_hash_mismatch']);
  });

  it('verifies two interleaved streams given in any order', () => {
    const a = buildChain('s-a', payloads, 1);
    const b = buildChain('s-b', [{ x: 1 }, { x: 2 }], 10);
    const interleaved = [at(a, 0), at(b, 0), at(a, 1), at(b, 1), at(a, 2)];
    const shuffled = [at(b, 1), at(a, 2), at(a, 0), at(b, 0), at(a, 1)];
    const reversed = [...interleaved].reverse();
    for (const events of [interleaved, shuffled, reversed]) {
      expect(verifyChains(events)).toStrictEqual({ streams: 2, events: 5, breaks: [] });
    }
  });

  it('attributes a break to the right stream when streams are interleaved', () => {
    const a = buildChain('s-a', payloads, 1);
    const b = buildChain('s-b', [{ x: 1 }, { x: 2 }], 10);
    const r = verifyChains([at(b, 1), at(a, 0), { ...at(b, 0), data: { x: 999 } }, at(a, 1), at(a, 2)]);
    expect(r.breaks).toStrictEqual([{ streamId: 's-b', streamPosition: 1, eventId: at(b, 0).eventId, reason: 'hash_mismatch' }]);
  });

  it('accepts any iterable, such as a generator', () => {
    const chain = buildChain('s-1', payloads);
    function* gen(): Generator<RecordedEvent> {
      yield* chain;
    }
    expect(verifyChains(gen())).toStrictEqual({ streams: 1, events: 3, breaks: [] });
  });
});
