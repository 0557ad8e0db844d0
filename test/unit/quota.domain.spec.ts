import { quotasProjection, type TenantQuotaRow } from '../../projections/quotas.projection';
import {
  type ClearTenantQuotaOverrides,
  evolve,
  NO_QUOTA,
  QUOTA_EVENT_TYPES,
  quotaDecider,
  type QuotaCommand,
  type QuotaEvent,
  type QuotaState,
  type SetTenantQuotaOverrides,
} from '../../src/control-plane/quotas/quota.domain';
import type { QuotaOverrides } from '../../src/control-plane/quotas/tiers';
import type { RecordedEvent } from '../../src/platform/event-store/event-store';
import { type DeadLetterCategory, ProjectionError } from '../../src/platform/projections/projection';
import { deciderSpec, type Given, TEST_CONTEXT } from './support/decider-spec';
import { metadataFor, recorded } from './support/recorded-events';

const given: (events: readonly QuotaEvent[]) => Given<QuotaCommand, QuotaEvent, QuotaState> = deciderSpec(quotaDecider);

const set = (overrides: QuotaOverrides, tenant_exists = true): SetTenantQuotaOverrides => ({ type: 'SetTenantQuotaOverrides', tenant_id: 'acme', tenant_exists, overrides });
const clear = (tenant_exists = true): ClearTenantQuotaOverrides => ({ type: 'ClearTenantQuotaOverrides', tenant_id: 'acme', tenant_exists });
const wasSet = (overrides: QuotaOverrides): QuotaEvent => ({ type: 'TenantQuotaOverridesSet', data: { tenant_id: 'acme', overrides } });
const cleared: QuotaEvent = { type: 'TenantQuotaOverridesCleared', data: { tenant_id: 'acme' } };

describe('quota decider', () => {
  describe('SetTenantQuotaOverrides', () => {
    it('records the full override set for a tenant without overrides', () => {
      given([])
        .when(set({ write_rps: 40, monthly_operations: 5_000_000 }))
        .then([wasSet({ write_rps: 40, monthly_operations: 5_000_000 })]);
    });

    it('replaces the whole set: fields left out are no longer overridden', () => {
      given([wasSet({ write_rps: 40, monthly_operations: 5_000_000 })])
        .when(set({ recall_rps: 90 }))
        .then([wasSet({ recall_rps: 90 })]);
    });

    it('emits nothing when the set is identical, whatever the key order', () => {
      given([wasSet({ write_rps: 40, monthly_operations: 5_000_000 })])
        .when(set({ monthly_operations: 5_000_000, write_rps: 40 }))
        .then([]);
    });

    it('stores the fields in canonical order', () => {
      const [event] = quotaDecider.decide(set({ telemetry_retention_days: 90, admin_rps: 7, write_rps: 12 }), NO_QUOTA);
      expect(Object.keys((event as Extract<QuotaEvent, { type: 'TenantQuotaOverridesSet' }>).data.overrides)).toEqual(['write_rps', 'admin_rps', 'telemetry_retention_days']);
    });

    it('accepts an override equal to the tier default (it pins the value across tier changes)', () => {
      given([]).when(set({ write_rps: 10 })).then([wasSet({ write_rps: 10 })]);
    });

    it('accepts the bounds themselves', () => {
      given([]).when(set({ write_rps: 1, monthly_operations: 10_000_000_000 })).then([wasSet({ write_rps: 1, monthly_operations: 10_000_000_000 })]);
    });

    it('treats an empty set as a clear when overrides exist', () => {
      given([wasSet({ write_rps: 40 })]).when(set({})).then([cleared]);
    });

    it('emits nothing for an empty set when there are no overrides', () => {
      given([]).when(set({})).then([]);
      given([wasSet({ write_rps: 40 }), cleared]).when(set({})).then([]);
    });

    it('refuses overrides for a tenant that does not exist', () => {
      const err = given([]).when(set({ write_rps: 40 }, false)).thenThrows('tenant_not_found');
      expect(err.details).toMatchObject({ tenant_id: 'acme' });
    });

    it('refuses values outside the bounds, non-integers and unknown fields, listing every bad field', () => {
      const err = given([])
        .when(set({ write_rps: -1, recall_rps: 2.5, monthly_operations: 1e15, admin_rps: 0, nonsense: 3 } as unknown as QuotaOverrides))
        .thenThrows('validation_failed');
      const fields = (err.details.errors ?? []).map((e) => e.field).sort();
      expect(fields).toEqual(['overrides', 'overrides.admin_rps', 'overrides.monthly_operations', 'overrides.recall_rps', 'overrides.write_rps']);
    });

    it('refuses values that are not numbers', () => {
      given([])
        .when(set({ write_rps: '10' as unknown as number }))
        .thenThrows('validation_failed');
      given([])
        .when(set({ write_rps: Number.NaN }))
        .thenThrows('validation_failed');
    });
  });

  describe('ClearTenantQuotaOverrides', () => {
    it('clears existing overrides', () => {
      given([wasSet({ write_rps: 40 })]).when(clear()).then([cleared]);
    });

    it('emits nothing when there is nothing to clear', () => {
      given([]).when(clear()).then([]);
      given([wasSet({ write_rps: 40 }), cleared]).when(clear()).then([]);
    });

    it('refuses a tenant that does not exist', () => {
      given([]).when(clear(false)).thenThrows('tenant_not_found');
    });
  });
});

describe('quota evolve', () => {
  it('starts with no overrides', () => {
    expect(quotaDecider.initialState).toStrictEqual({ exists: false });
  });

  it('takes the set, time and actor from the event and its context', () => {
    const s = evolve(NO_QUOTA, wasSet({ monthly_operations: 3, write_rps: 4 }), { occurredAt: '2026-03-01T00:00:00.000Z', actorId: 'op_alice' });
    expect(s).toStrictEqual({ exists: true, tenant_id: 'acme', overrides: { write_rps: 4, monthly_operations: 3 }, updated_at: '2026-03-01T00:00:00.000Z', updated_by: 'op_alice' });
  });

  it('a clear leaves an empty set', () => {
    expect(given([wasSet({ write_rps: 40 }), cleared]).state).toStrictEqual({ exists: true, tenant_id: 'acme', overrides: {}, updated_at: TEST_CONTEXT.occurredAt, updated_by: 'op_test' });
  });

  it('ignores fields the code does not know in stored events', () => {
    const s = evolve(NO_QUOTA, wasSet({ write_rps: 40, retired_field: 1 } as QuotaOverrides), TEST_CONTEXT);
    expect(s.exists && s.overrides).toStrictEqual({ write_rps: 40 });
  });
});

describe('quotas projection', () => {
  function quotaEvent(streamPosition: number, type: string, data: unknown, occurredAt = '2026-01-01T00:00:00.000Z'): RecordedEvent {
    return recorded({ streamId: 'quota-acme', streamPosition, globalPosition: 10 + streamPosition, tenantId: 'acme', type, data, metadata: metadataFor(occurredAt, 'op_alice') });
  }
  function expectProjectionError(fn: () => unknown, category: DeadLetterCategory): void {
    let caught: unknown;
    try {
      fn();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ProjectionError);
    expect((caught as ProjectionError).category).toBe(category);
  }

  it('handles exactly the quota events and keys them by tenant', () => {
    expect(quotasProjection.handles).toEqual(QUOTA_EVENT_TYPES);
    expect(quotasProjection.keyOf(quotaEvent(1, 'TenantQuotaOverridesSet', { tenant_id: 'acme', overrides: {} }))).toBe('acme');
  });

  it('builds the row with the stream revision, and keeps it (empty) after a clear', () => {
    const row1 = quotasProjection.evolve(null, quotaEvent(1, 'TenantQuotaOverridesSet', { tenant_id: 'acme', overrides: { write_rps: 40 } }));
    expect(row1).toStrictEqual({ tenant_id: 'acme', overrides: { write_rps: 40 }, updated_at: '2026-01-01T00:00:00.000Z', updated_by: 'op_alice', revision: 1 } satisfies TenantQuotaRow);
    const row2 = quotasProjection.evolve(row1, quotaEvent(2, 'TenantQuotaOverridesCleared', { tenant_id: 'acme' }, '2026-02-01T00:00:00.000Z'));
    expect(row2).toStrictEqual({ tenant_id: 'acme', overrides: {}, updated_at: '2026-02-01T00:00:00.000Z', updated_by: 'op_alice', revision: 2 });
  });

  it('dead-letters malformed events', () => {
    expectProjectionError(() => quotasProjection.evolve(null, quotaEvent(1, 'TenantQuotaOverridesSet', { tenant_id: 'acme', overrides: [1] })), 'invalid_event_data');
    expectProjectionError(() => quotasProjection.evolve(null, quotaEvent(1, 'TenantQuotaOverridesSet', { overrides: {} })), 'invalid_event_data');
    expectProjectionError(() => quotasProjection.evolve(null, { ...quotaEvent(1, 'TenantQuotaOverridesCleared', { tenant_id: 'acme' }), schemaVersion: 2 }), 'unsupported_schema_version');
  });
});
