import { tenantsProjection, type TenantRow } from '../../projections/tenants.projection';
import type { RecordedEvent } from '../../src/platform/event-store/event-store';
import { foldBatch } from '../../src/platform/projections/fold';
import { type DeadLetterCategory, ProjectionError } from '../../src/platform/projections/projection';
import { metadataFor, recorded } from './support/recorded-events';

function tenantEvent(streamPosition: number, type: string, data: unknown, occurredAt: string, extra: Partial<RecordedEvent> = {}): RecordedEvent {
  return recorded({
    streamId: 'tenant-acme',
    streamPosition,
    globalPosition: 100 + streamPosition,
    tenantId: 'acme',
    type,
    data,
    metadata: metadataFor(occurredAt, 'op_alice'),
    ...extra,
  });
}

const createdEvent = tenantEvent(1, 'TenantCreated', { tenant_id: 'acme', display_name: 'Acme', tier: 'starter', metadata: { a: 1 } }, '2026-01-01T00:00:00.000Z');
const suspendedEvent = tenantEvent(2, 'TenantSuspended', { tenant_id: 'acme', reason: 'fraud check' }, '2026-01-02T00:00:00.000Z');

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

describe('tenants projection', () => {
  const createdRow: TenantRow = {
    tenant_id: 'acme',
    display_name: 'Acme',
    tier: 'starter',
    metadata: { a: 1 },
    status: 'active',
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    suspended_at: null,
    suspension_reason: null,
    created_by: 'op_alice',
    revision: 1,
  };

  describe('evolve', () => {
    it('TenantCreated produces the full row with revision = stream position', () => {
      expect(tenantsProjection.evolve(null, createdEvent)).toStrictEqual(createdRow);
    });

    it('TenantSuspended then updates the row and its revision', () => {
      const row1 = tenantsProjection.evolve(null, createdEvent);
      const row2 = tenantsProjection.evolve(row1, suspendedEvent);
      expect(row2).toStrictEqual({
        ...createdRow,
        status: 'suspended',
        suspended_at: '2026-01-02T00:00:00.000Z',
        suspension_reason: 'fraud check',
        updated_at: '2026-01-02T00:00:00.000Z',
        revision: 2,
      });
    });

    it('TenantUpdated on a suspended row keeps it suspended and moves the revision', () => {
      const row2 = tenantsProjection.evolve(tenantsProjection.evolve(null, createdEvent), suspendedEvent);
      const row3 = tenantsProjection.evolve(row2, tenantEvent(3, 'TenantUpdated', { tenant_id: 'acme', display_name: 'Acme 2' }, '2026-01-03T00:00:00.000Z'));
      expect(row3).toMatchObject({ display_name: 'Acme 2', status: 'suspended', suspension_reason: 'fraud check', revision: 3, updated_at: '2026-01-03T00:00:00.000Z' });
    });

    it('TenantUpdated for a missing row throws invariant_violation', () => {
      expectProjectionError(
        () => tenantsProjection.evolve(null, tenantEvent(2, 'TenantUpdated', { tenant_id: 'acme', display_name: 'x' }, '2026-01-02T00:00:00.000Z')),
        'invariant_violation',
      );
    });

    it('TenantSuspended for a missing row throws invariant_violation', () => {
      expectProjectionError(() => tenantsProjection.evolve(null, suspendedEvent), 'invariant_violation');
    });

    it('schema version 2 throws unsupported_schema_version', () => {
      expectProjectionError(() => tenantsProjection.evolve(null, { ...createdEvent, schemaVersion: 2 }), 'unsupported_schema_version');
    });
  });

  describe('keyOf', () => {
    it('addresses the row by tenant_id', () => {
      expect(tenantsProjection.keyOf(createdEvent)).toBe('acme');
    });

    it('throws invalid_event_data when tenant_id is missing or empty', () => {
      expectProjectionError(() => tenantsProjection.keyOf({ ...createdEvent, data: { display_name: 'x' } }), 'invalid_event_data');
      expectProjectionError(() => tenantsProjection.keyOf({ ...createdEvent, data: { tenant_id: '' } }), 'invalid_event_data');
    });
  });

  it('folds a batch end to end with foldBatch', () => {
    const r = foldBatch(tenantsProjection, [createdEvent, suspendedEvent], new Map(), new Set());
    expect(r.applied).toBe(2);
    expect(r.deadLetters).toStrictEqual([]);
    expect(r.changes.get('acme')).toMatchObject({ status: 'suspended', revision: 2 });
  });

  it('dead-letters an update before a create as invariant_violation', () => {
    const update = tenantEvent(1, 'TenantUpdated', { tenant_id: 'acme', display_name: 'x' }, '2026-01-01T00:00:00.000Z');
    const r = foldBatch(tenantsProjection, [update], new Map(), new Set());
    expect(r.deadLetters.map((d) => d.category)).toStrictEqual(['invariant_violation']);
    expect(r.newlyParked.get('tenant-acme')).toBe(update.globalPosition);
  });
});
