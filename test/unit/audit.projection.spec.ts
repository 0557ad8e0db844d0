import { AUDIT_RESOURCE_TYPES, auditProjection, type AuditRow, redact, resourceOf } from '../../projections/audit.projection';
import { AUDIT_RESOURCE_TYPES as CONSOLE_RESOURCE_TYPES } from '../../src/console/web/audit-resources';
import type { RecordedEvent } from '../../src/platform/event-store/event-store';
import { metadataFor, recorded } from './support/recorded-events';

describe('audit projection', () => {
  describe('redact', () => {
    it('removes secret_hash, token_hash and previous_token_hash at the top level and keeps the rest', () => {
      expect(
        redact({
          key_id: 'k1',
          secret_hash: 'aa'.repeat(32),
          token_hash: 'bb'.repeat(32),
          previous_token_hash: 'cc'.repeat(32),
          display: 'aio_live_k1_…abcd',
          token_hint: 'aio_admin_…wxyz',
          previous_token_valid_until: '2026-01-01T00:01:00.000Z',
        }),
      ).toStrictEqual({ key_id: 'k1', display: 'aio_live_k1_…abcd', token_hint: 'aio_admin_…wxyz', previous_token_valid_until: '2026-01-01T00:01:00.000Z' });
    });

    it('removes them at any depth, including objects inside arrays and arrays of arrays', () => {
      const input = {
        outer: { inner: { secret_hash: 'x', keep: 1, deeper: { token_hash: 'y', keep: [1, 2, 3] } } },
        list: [{ previous_token_hash: 'z', id: 'a' }, { id: 'b', nested: [{ secret_hash: 'w', n: null }] }, [[{ token_hash: 'v', ok: true }]]],
      };
      expect(redact(input)).toStrictEqual({
        outer: { inner: { keep: 1, deeper: { keep: [1, 2, 3] } } },
        list: [{ id: 'a' }, { id: 'b', nested: [{ n: null }] }, [[{ ok: true }]]],
      });
    });

    it('keeps every other value as is: strings, numbers, booleans, null, empty objects and arrays', () => {
      const input = { s: 'text', n: 0, f: 1.5, t: true, fa: false, nil: null, o: {}, a: [], nested: { hash: 'chain-hash', secret_hash_note: 'kept', key_hash: 'kept' } };
      expect(redact(input)).toStrictEqual(input);
    });

    it('passes primitives and null through, and maps top-level arrays', () => {
      expect(redact(null)).toBeNull();
      expect(redact('secret_hash')).toBe('secret_hash');
      expect(redact(42)).toBe(42);
      expect(redact(true)).toBe(true);
      expect(redact(undefined)).toBeUndefined();
      expect(redact([{ secret_hash: 'x', a: 1 }, 'y'])).toStrictEqual([{ a: 1 }, 'y']);
    });

    it('also strips the plaintext-bearing field names secret, token and api_key', () => {
      expect(redact({ secret: 's', token: 't', api_key: 'aio_live_…', keep: 'k' })).toStrictEqual({ keep: 'k' });
    });

    it('does not mutate its input', () => {
      const input = { secret_hash: 'x', list: [{ token_hash: 'y', id: 1 }] };
      const copy = structuredClone(input);
      redact(input);
      expect(input).toStrictEqual(copy);
    });
  });

  describe('resourceOf', () => {
    it.each([
      ['tenant-acme', 'tenant', 'acme'],
      ['project-web', 'project', 'web'],
      ['apikey-kabcdefghijklmnopq23', 'api_key', 'kabcdefghijklmnopq23'],
      ['operator-op_alice', 'operator', 'op_alice'],
      ['quota-acme', 'quota', 'acme'],
      ['security-acme', 'security', 'acme'],
      ['tenant-acme-eu', 'tenant', 'acme-eu'],
      ['session-0123456789abcdef0123456789abcdef', 'operator_session', '0123456789abcdef0123456789abcdef'],
      ['slo-acme', 'slo', 'acme'],
      ['slostatements-acme', 'slo_statements', 'acme'],
      ['slo-close-202611', 'slo_statement_close', '202611'],
      ['shard-dedicated-1', 'shard', 'dedicated-1'],
      ['placement-acme', 'tenant_placement', 'acme'],
    ])('%s -> %s / %s', (streamId, type, id) => {
      expect(resourceOf(streamId)).toStrictEqual({ type, id });
    });

    it.each(['system', 'tenants-acme', 'apikeys-k1', 'Tenant-acme', 'x-tenant-acme', ''])('%p is other, with the whole stream id as the id', (streamId) => {
      expect(resourceOf(streamId)).toStrictEqual({ type: 'other', id: streamId });
    });

    it('a bare prefix gives an empty id', () => {
      expect(resourceOf('tenant-')).toStrictEqual({ type: 'tenant', id: '' });
    });
  });

  describe('evolve', () => {
    const event: RecordedEvent = recorded({
      streamId: 'apikey-kabcdefghijklmnopq23',
      streamPosition: 3,
      globalPosition: 4711,
      transactionId: '9876543210',
      type: 'ApiKeyCreated',
      tenantId: 'acme',
      eventId: '11111111-2222-4333-8444-555555555555',
      data: { key_id: 'kabcdefghijklmnopq23', secret_hash: 'ab'.repeat(32), display: 'aio_live_kabc_…9f2a', scopes: ['memory:read'], meta: { list: [{ token_hash: 't', k: 1 }] } },
      metadata: {
        ...metadataFor('2026-02-03T04:05:06.789Z', 'op_alice'),
        actor: { type: 'operator', id: 'op_alice', display: 'Alice' },
        request_id: 'req-42',
        correlation_id: 'corr-7',
        source_ip: '203.0.113.7',
        user_agent: 'curl/8.5',
      },
      recordedAt: '2026-02-03T04:05:07.000Z',
      hash: 'f'.repeat(64),
    });

    const expected: AuditRow = {
      event_id: '11111111-2222-4333-8444-555555555555',
      transaction_id: 9876543210,
      global_position: 4711,
      stream_id: 'apikey-kabcdefghijklmnopq23',
      stream_position: 3,
      type: 'ApiKeyCreated',
      tenant_id: 'acme',
      actor_type: 'operator',
      actor_id: 'op_alice',
      actor_display: 'Alice',
      occurred_at: '2026-02-03T04:05:06.789Z',
      recorded_at: '2026-02-03T04:05:07.000Z',
      request_id: 'req-42',
      correlation_id: 'corr-7',
      source_ip: '203.0.113.7',
      user_agent: 'curl/8.5',
      resource_type: 'api_key',
      resource_id: 'kabcdefghijklmnopq23',
      data: { key_id: 'kabcdefghijklmnopq23', display: 'aio_live_kabc_…9f2a', scopes: ['memory:read'], meta: { list: [{ k: 1 }] } },
      hash: 'f'.repeat(64),
    };

    it('builds the full row: actor, times, request id, numeric transaction id, resource and redacted data', () => {
      const row = auditProjection.evolve(null, event);
      expect(row).toStrictEqual(expected);
      expect(typeof row?.transaction_id).toBe('number');
    });

    it('does not depend on a previous row, and does not mutate the event', () => {
      const before = structuredClone(event);
      expect(auditProjection.evolve(expected, event)).toStrictEqual(expected);
      expect(event).toStrictEqual(before);
      expect((event.data as { secret_hash: string }).secret_hash).toBe('ab'.repeat(32));
    });

    it('uses null for a missing actor display and request id, and keeps system actors and tenant-less events', () => {
      const e = recorded({
        streamId: 'operator-op_bob',
        streamPosition: 1,
        globalPosition: 5,
        type: 'OperatorTokenRotated',
        data: { operator_id: 'op_bob', token_hash: 'new', previous_token_hash: 'old', token_hint: 'aio_admin_…bbbb' },
        metadata: { ...metadataFor('2026-01-01T00:00:00.000Z'), actor: { type: 'system', id: 'bootstrap' } },
      });
      expect(auditProjection.evolve(null, e)).toMatchObject({
        transaction_id: 1005,
        tenant_id: null,
        actor_type: 'system',
        actor_id: 'bootstrap',
        actor_display: null,
        request_id: null,
        correlation_id: 'corr-1',
        resource_type: 'operator',
        resource_id: 'op_bob',
        data: { operator_id: 'op_bob', token_hint: 'aio_admin_…bbbb' },
      });
    });

    it('keys rows by event id and handles every event type', () => {
      expect(auditProjection.keyOf(event)).toBe('11111111-2222-4333-8444-555555555555');
      expect(auditProjection.handles).toBe('all');
      expect(auditProjection.primaryKey).toBe('event_id');
    });

    it('declares a column for every field of the row it produces', () => {
      expect(Object.keys(auditProjection.columns).sort()).toStrictEqual(Object.keys(expected).sort());
      expect(auditProjection.columns.transaction_id).toBe('int');
      expect(auditProjection.columns.data).toBe('jsonb');
    });
  });
});

describe('audit resource types', () => {
  it("the console's audit filter offers exactly the projection's resource types, slo_statements and rules included", () => {
    expect([...CONSOLE_RESOURCE_TYPES].sort()).toEqual([...AUDIT_RESOURCE_TYPES].sort());
    expect(AUDIT_RESOURCE_TYPES).toEqual(expect.arrayContaining(['alert', 'alert_route', 'slo', 'rules', 'slo_statements', 'operator_session', 'other']));
    expect(resourceOf('slostatements-acme')).toEqual({ type: 'slo_statements', id: 'acme' });
  });
});
