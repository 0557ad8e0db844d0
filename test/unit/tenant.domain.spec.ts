import type { EventContext } from '../../src/control-plane/shared/decider';
import {
  evolve,
  NO_TENANT,
  TENANT_EVENT_TYPES,
  tenantDecider,
  type TenantCreated,
  type TenantEvent,
  type TenantState,
} from '../../src/control-plane/tenants/tenant.domain';
import { foldEvents, given, TEST_CONTEXT } from './support/decider-spec';

const created: TenantCreated = {
  type: 'TenantCreated',
  data: { tenant_id: 'acme', display_name: 'Acme Corp', tier: 'growth', metadata: { region: 'eu', plan: { seats: 10 } } },
};
const suspended: TenantEvent = { type: 'TenantSuspended', data: { tenant_id: 'acme', reason: 'unpaid invoice' } };
const reactivated: TenantEvent = { type: 'TenantReactivated', data: { tenant_id: 'acme', reason: 'paid' } };

const at = (occurredAt: string, actorId = 'op_test'): EventContext => ({ occurredAt, actorId });

/** Narrow a state to an existing tenant (fails the test otherwise). */
function tenantOf(state: TenantState) {
  if (!state.exists) throw new Error('expected the tenant to exist');
  return state;
}

describe('tenant decider', () => {
  describe('CreateTenant', () => {
    it('creates a tenant when none exists', () => {
      given([])
        .when({ type: 'CreateTenant', tenant_id: 'acme', display_name: 'Acme Corp', tier: 'growth', metadata: { region: 'eu', plan: { seats: 10 } } })
        .then([created]);
    });

    it('rejects a second create with tenant_already_exists', () => {
      const err = given([created])
        .when({ type: 'CreateTenant', tenant_id: 'acme', display_name: 'Other', tier: 'starter', metadata: {} })
        .thenThrows('tenant_already_exists');
      expect(err.details).toMatchObject({ tenant_id: 'acme' });
    });

    it('rejects a create even when the existing tenant is suspended', () => {
      given([created, suspended])
        .when({ type: 'CreateTenant', tenant_id: 'acme', display_name: 'Acme Corp', tier: 'growth', metadata: {} })
        .thenThrows('tenant_already_exists');
    });
  });

  describe('UpdateTenant', () => {
    it('emits only the display name when only it changes', () => {
      given([created])
        .when({ type: 'UpdateTenant', tenant_id: 'acme', display_name: 'Acme Inc' })
        .then([{ type: 'TenantUpdated', data: { tenant_id: 'acme', display_name: 'Acme Inc' } }]);
    });

    it('emits only the metadata when only it changes', () => {
      given([created])
        .when({ type: 'UpdateTenant', tenant_id: 'acme', metadata: { region: 'us' } })
        .then([{ type: 'TenantUpdated', data: { tenant_id: 'acme', metadata: { region: 'us' } } }]);
    });

    it('emits both fields when both change', () => {
      given([created])
        .when({ type: 'UpdateTenant', tenant_id: 'acme', display_name: 'Acme Inc', metadata: { region: 'us' } })
        .then([{ type: 'TenantUpdated', data: { tenant_id: 'acme', display_name: 'Acme Inc', metadata: { region: 'us' } } }]);
    });

    it('leaves out an unchanged field when the other one changes', () => {
      given([created])
        .when({ type: 'UpdateTenant', tenant_id: 'acme', display_name: 'Acme Corp', metadata: { region: 'us' } })
        .then([{ type: 'TenantUpdated', data: { tenant_id: 'acme', metadata: { region: 'us' } } }]);
    });

    it('emits nothing when the values are identical to the current ones', () => {
      given([created])
        .when({ type: 'UpdateTenant', tenant_id: 'acme', display_name: 'Acme Corp', metadata: { region: 'eu', plan: { seats: 10 } } })
        .then([]);
    });

    it('emits nothing when the command carries no field at all', () => {
      given([created]).when({ type: 'UpdateTenant', tenant_id: 'acme' }).then([]);
    });

    it('treats metadata that differs only in key order as identical (emits nothing)', () => {
      // Stored metadata comes back from a jsonb column, which does not keep key order, so a
      // client re-sending the same object must not cause a spurious TenantUpdated.
      given([created])
        .when({ type: 'UpdateTenant', tenant_id: 'acme', metadata: { plan: { seats: 10 }, region: 'eu' } })
        .then([]);
    });

    it('still detects a real metadata change nested in an object', () => {
      given([created])
        .when({ type: 'UpdateTenant', tenant_id: 'acme', metadata: { region: 'eu', plan: { seats: 11 } } })
        .then([{ type: 'TenantUpdated', data: { tenant_id: 'acme', metadata: { region: 'eu', plan: { seats: 11 } } } }]);
    });

    it('allows updating a suspended tenant', () => {
      given([created, suspended])
        .when({ type: 'UpdateTenant', tenant_id: 'acme', display_name: 'Acme (frozen)' })
        .then([{ type: 'TenantUpdated', data: { tenant_id: 'acme', display_name: 'Acme (frozen)' } }]);
    });

    it('rejects an update of a missing tenant with tenant_not_found', () => {
      const err = given([]).when({ type: 'UpdateTenant', tenant_id: 'ghost', display_name: 'x' }).thenThrows('tenant_not_found');
      expect(err.details).toMatchObject({ tenant_id: 'ghost' });
    });
  });

  describe('SuspendTenant', () => {
    it('suspends an active tenant, carrying the reason', () => {
      given([created])
        .when({ type: 'SuspendTenant', tenant_id: 'acme', reason: 'unpaid invoice' })
        .then([{ type: 'TenantSuspended', data: { tenant_id: 'acme', reason: 'unpaid invoice' } }]);
    });

    it('accepts a null reason', () => {
      given([created])
        .when({ type: 'SuspendTenant', tenant_id: 'acme', reason: null })
        .then([{ type: 'TenantSuspended', data: { tenant_id: 'acme', reason: null } }]);
    });

    it('rejects suspending an already suspended tenant (not a silent success)', () => {
      given([created, suspended]).when({ type: 'SuspendTenant', tenant_id: 'acme', reason: 'again' }).thenThrows('tenant_already_suspended');
    });

    it('suspends again after a reactivation', () => {
      given([created, suspended, reactivated])
        .when({ type: 'SuspendTenant', tenant_id: 'acme', reason: 'abuse' })
        .then([{ type: 'TenantSuspended', data: { tenant_id: 'acme', reason: 'abuse' } }]);
    });

    it('rejects suspending a missing tenant with tenant_not_found', () => {
      given([]).when({ type: 'SuspendTenant', tenant_id: 'ghost', reason: null }).thenThrows('tenant_not_found');
    });
  });

  describe('ReactivateTenant', () => {
    it('reactivates a suspended tenant', () => {
      given([created, suspended])
        .when({ type: 'ReactivateTenant', tenant_id: 'acme', reason: 'paid' })
        .then([{ type: 'TenantReactivated', data: { tenant_id: 'acme', reason: 'paid' } }]);
    });

    it('rejects reactivating an active tenant with tenant_not_suspended', () => {
      given([created]).when({ type: 'ReactivateTenant', tenant_id: 'acme', reason: null }).thenThrows('tenant_not_suspended');
    });

    it('rejects reactivating a tenant that was already reactivated', () => {
      given([created, suspended, reactivated]).when({ type: 'ReactivateTenant', tenant_id: 'acme', reason: null }).thenThrows('tenant_not_suspended');
    });

    it('rejects reactivating a missing tenant with tenant_not_found', () => {
      given([]).when({ type: 'ReactivateTenant', tenant_id: 'ghost', reason: null }).thenThrows('tenant_not_found');
    });
  });
});

describe('tenant evolve', () => {
  it('starts from a state with no tenant', () => {
    expect(tenantDecider.initialState).toStrictEqual({ exists: false });
    expect(given([]).state).toStrictEqual(NO_TENANT);
  });

  it('builds the full tenant from TenantCreated and the event context', () => {
    expect(given([created]).state).toStrictEqual({
      exists: true,
      tenant_id: 'acme',
      display_name: 'Acme Corp',
      tier: 'growth',
      metadata: { region: 'eu', plan: { seats: 10 } },
      status: 'active',
      created_at: TEST_CONTEXT.occurredAt,
      updated_at: TEST_CONTEXT.occurredAt,
      suspended_at: null,
      suspension_reason: null,
      created_by: 'op_test',
    });
  });

  it('suspension sets status, suspended_at and suspension_reason', () => {
    let s = evolve(NO_TENANT, created, at('2026-01-01T00:00:00.000Z'));
    s = evolve(s, suspended, at('2026-02-01T12:00:00.000Z', 'op_other'));
    expect(tenantOf(s)).toMatchObject({
      status: 'suspended',
      suspended_at: '2026-02-01T12:00:00.000Z',
      suspension_reason: 'unpaid invoice',
      updated_at: '2026-02-01T12:00:00.000Z',
      created_at: '2026-01-01T00:00:00.000Z',
      created_by: 'op_test',
    });
  });

  it('reactivation clears the suspension fields', () => {
    let s = evolve(NO_TENANT, created, at('2026-01-01T00:00:00.000Z'));
    s = evolve(s, suspended, at('2026-02-01T00:00:00.000Z'));
    s = evolve(s, reactivated, at('2026-03-01T00:00:00.000Z'));
    expect(tenantOf(s)).toMatchObject({
      status: 'active',
      suspended_at: null,
      suspension_reason: null,
      updated_at: '2026-03-01T00:00:00.000Z',
      created_at: '2026-01-01T00:00:00.000Z',
    });
  });

  it('an update never changes the status: a suspended tenant stays suspended', () => {
    let s = evolve(NO_TENANT, created, at('2026-01-01T00:00:00.000Z'));
    s = evolve(s, suspended, at('2026-02-01T00:00:00.000Z'));
    s = evolve(s, { type: 'TenantUpdated', data: { tenant_id: 'acme', display_name: 'Acme (frozen)', metadata: { frozen: true } } }, at('2026-02-02T00:00:00.000Z'));
    expect(tenantOf(s)).toMatchObject({
      display_name: 'Acme (frozen)',
      metadata: { frozen: true },
      status: 'suspended',
      suspended_at: '2026-02-01T00:00:00.000Z',
      suspension_reason: 'unpaid invoice',
      updated_at: '2026-02-02T00:00:00.000Z',
    });
  });

  it('an update with only display_name keeps the metadata, and vice versa', () => {
    const s0 = evolve(NO_TENANT, created, at('2026-01-01T00:00:00.000Z'));
    const s1 = tenantOf(evolve(s0, { type: 'TenantUpdated', data: { tenant_id: 'acme', display_name: 'New' } }, at('2026-01-02T00:00:00.000Z')));
    expect(s1.display_name).toBe('New');
    expect(s1.metadata).toStrictEqual({ region: 'eu', plan: { seats: 10 } });
    const s2 = tenantOf(evolve(s1 as TenantState, { type: 'TenantUpdated', data: { tenant_id: 'acme', metadata: {} } }, at('2026-01-03T00:00:00.000Z')));
    expect(s2.display_name).toBe('New');
    expect(s2.metadata).toStrictEqual({});
  });

  it('takes timestamps from the event context: created_at stays, updated_at moves', () => {
    const s0 = tenantOf(evolve(NO_TENANT, created, at('2026-01-01T00:00:00.000Z', 'op_creator')));
    expect(s0.created_at).toBe('2026-01-01T00:00:00.000Z');
    expect(s0.updated_at).toBe('2026-01-01T00:00:00.000Z');
    const s1 = tenantOf(evolve(s0, { type: 'TenantUpdated', data: { tenant_id: 'acme', display_name: 'B' } }, at('2026-05-05T05:05:05.555Z', 'op_editor')));
    expect(s1.created_at).toBe('2026-01-01T00:00:00.000Z');
    expect(s1.updated_at).toBe('2026-05-05T05:05:05.555Z');
    expect(s1.created_by).toBe('op_creator');
  });

  it('is deterministic and does not mutate the previous state', () => {
    const s0 = tenantOf(evolve(NO_TENANT, created, at('2026-01-01T00:00:00.000Z')));
    const snapshot = structuredClone(s0);
    const a = evolve(s0, suspended, at('2026-02-01T00:00:00.000Z'));
    const b = evolve(s0, suspended, at('2026-02-01T00:00:00.000Z'));
    expect(a).toStrictEqual(b);
    expect(s0).toStrictEqual(snapshot);
  });

  it('ignores updates, suspensions and reactivations of a tenant that does not exist', () => {
    for (const e of [
      { type: 'TenantUpdated', data: { tenant_id: 'ghost', display_name: 'x' } },
      { type: 'TenantSuspended', data: { tenant_id: 'ghost', reason: null } },
      { type: 'TenantReactivated', data: { tenant_id: 'ghost', reason: null } },
    ] satisfies TenantEvent[]) {
      expect(evolve(NO_TENANT, e, TEST_CONTEXT)).toStrictEqual(NO_TENANT);
    }
  });

  it('folds a full history to the expected final state', () => {
    const s = tenantOf(foldEvents(tenantDecider, [created, suspended, reactivated, { type: 'TenantUpdated', data: { tenant_id: 'acme', display_name: 'Z' } }]));
    expect(s).toMatchObject({ status: 'active', display_name: 'Z', suspended_at: null, suspension_reason: null });
  });
});

describe('perf tenants: TearDownPerfTenant', () => {
  const perfCreated: TenantCreated = {
    type: 'TenantCreated',
    data: { tenant_id: 'perf-1a2b', display_name: 'perf run', tier: 'enterprise', metadata: { purpose: 'perf', run_id: 'r1' } },
  };
  const removed = { memory_nodes: 40, memory_commits: 40, telemetry_rollups: 2 };
  const nothing = { memory_nodes: 0, memory_commits: 0, telemetry_rollups: 0 };
  const tornDown: TenantEvent = { type: 'PerfTenantTornDown', data: { tenant_id: 'perf-1a2b', reason: 'run finished', removed } };

  it('tears down a tenant created for perf, recording what was removed', () => {
    given([perfCreated])
      .when({ type: 'TearDownPerfTenant', tenant_id: 'perf-1a2b', reason: 'run finished', removed })
      .then([{ type: 'PerfTenantTornDown', data: { tenant_id: 'perf-1a2b', reason: 'run finished', removed } }]);
  });

  it('refuses a normal tenant with tenant_not_perf', () => {
    const err = given([created]).when({ type: 'TearDownPerfTenant', tenant_id: 'acme', reason: null, removed: nothing }).thenThrows('tenant_not_perf');
    expect(err.details).toMatchObject({ tenant_id: 'acme' });
  });

  it('refuses a normal tenant even when its metadata says purpose perf', () => {
    const acmePerfish: TenantCreated = { type: 'TenantCreated', data: { ...created.data, metadata: { purpose: 'perf' } } };
    given([acmePerfish]).when({ type: 'TearDownPerfTenant', tenant_id: 'acme', reason: null, removed: nothing }).thenThrows('tenant_not_perf');
  });

  it('refuses a perf- tenant created without the marker', () => {
    const unmarked: TenantCreated = { type: 'TenantCreated', data: { ...perfCreated.data, metadata: {} } };
    given([unmarked]).when({ type: 'TearDownPerfTenant', tenant_id: 'perf-1a2b', reason: null, removed: nothing }).thenThrows('tenant_not_perf');
  });

  it('refuses a tenant that does not exist with tenant_not_found', () => {
    given([]).when({ type: 'TearDownPerfTenant', tenant_id: 'perf-1a2b', reason: null, removed: nothing }).thenThrows('tenant_not_found');
  });

  it('is safe to repeat: nothing left means no event; late rows are swept and recorded', () => {
    given([perfCreated, tornDown]).when({ type: 'TearDownPerfTenant', tenant_id: 'perf-1a2b', reason: 'retry', removed: nothing }).then([]);
    const late = { memory_nodes: 0, memory_commits: 0, telemetry_rollups: 1 };
    given([perfCreated, tornDown])
      .when({ type: 'TearDownPerfTenant', tenant_id: 'perf-1a2b', reason: 'retry', removed: late })
      .then([{ type: 'PerfTenantTornDown', data: { tenant_id: 'perf-1a2b', reason: 'retry', removed: late } }]);
  });

  it('a torn-down tenant cannot be reactivated, suspended, updated or re-tiered', () => {
    given([perfCreated, tornDown]).when({ type: 'ReactivateTenant', tenant_id: 'perf-1a2b', reason: null }).thenThrows('tenant_torn_down');
    given([perfCreated, tornDown]).when({ type: 'SuspendTenant', tenant_id: 'perf-1a2b', reason: null }).thenThrows('tenant_torn_down');
    given([perfCreated, tornDown]).when({ type: 'UpdateTenant', tenant_id: 'perf-1a2b', display_name: 'again' }).thenThrows('tenant_torn_down');
    given([perfCreated, tornDown]).when({ type: 'ChangeTenantTier', tenant_id: 'perf-1a2b', tier: 'starter' }).thenThrows('tenant_torn_down');
  });

  it('tears down a perf tenant that was suspended first', () => {
    given([perfCreated, { type: 'TenantSuspended', data: { tenant_id: 'perf-1a2b', reason: 'paused' } }])
      .when({ type: 'TearDownPerfTenant', tenant_id: 'perf-1a2b', reason: null, removed: nothing })
      .then([{ type: 'PerfTenantTornDown', data: { tenant_id: 'perf-1a2b', reason: null, removed: nothing } }]);
  });

  it('keeps the perf marker fixed after creation', () => {
    const unmarked: TenantCreated = { type: 'TenantCreated', data: { ...perfCreated.data, metadata: {} } };
    // Adding the marker later would make the tenant's data deletable: refused.
    given([unmarked]).when({ type: 'UpdateTenant', tenant_id: 'perf-1a2b', metadata: { purpose: 'perf' } }).thenThrows('validation_failed');
    // Removing it from a perf tenant: refused too.
    given([perfCreated]).when({ type: 'UpdateTenant', tenant_id: 'perf-1a2b', metadata: { run_id: 'r1' } }).thenThrows('validation_failed');
    // Other metadata changes of a perf tenant, and "purpose" on a normal tenant, are ordinary updates.
    given([perfCreated])
      .when({ type: 'UpdateTenant', tenant_id: 'perf-1a2b', metadata: { purpose: 'perf', run_id: 'r2' } })
      .then([{ type: 'TenantUpdated', data: { tenant_id: 'perf-1a2b', metadata: { purpose: 'perf', run_id: 'r2' } } }]);
    given([created])
      .when({ type: 'UpdateTenant', tenant_id: 'acme', metadata: { purpose: 'perf' } })
      .then([{ type: 'TenantUpdated', data: { tenant_id: 'acme', metadata: { purpose: 'perf' } } }]);
  });

  it('reserves the torn-down metadata key for the teardown', () => {
    given([]).when({ type: 'CreateTenant', tenant_id: 'perf-1a2b', display_name: 'x', tier: 'starter', metadata: { purpose: 'perf', perf_torn_down_at: 'now' } }).thenThrows('validation_failed');
    given([created]).when({ type: 'UpdateTenant', tenant_id: 'acme', metadata: { perf_torn_down_at: 'now' } }).thenThrows('validation_failed');
  });

  it('evolve closes the tenant: suspended, reason, and the torn-down time in its metadata (the first teardown time stays)', () => {
    let s = evolve(NO_TENANT, perfCreated, at('2026-01-01T00:00:00.000Z'));
    s = evolve(s, tornDown, at('2026-01-01T00:05:00.000Z', 'op_gate'));
    expect(tenantOf(s)).toMatchObject({
      status: 'suspended',
      suspended_at: '2026-01-01T00:05:00.000Z',
      suspension_reason: 'perf teardown: run finished',
      metadata: { purpose: 'perf', run_id: 'r1', perf_torn_down_at: '2026-01-01T00:05:00.000Z' },
      updated_at: '2026-01-01T00:05:00.000Z',
    });
    const again = tenantOf(evolve(s, { type: 'PerfTenantTornDown', data: { tenant_id: 'perf-1a2b', reason: 'sweep', removed: { telemetry_rollups: 1 } } }, at('2026-01-01T00:06:00.000Z')));
    expect(again).toMatchObject({ suspended_at: '2026-01-01T00:05:00.000Z', suspension_reason: 'perf teardown: run finished', updated_at: '2026-01-01T00:06:00.000Z' });
    expect(again.metadata).toMatchObject({ perf_torn_down_at: '2026-01-01T00:05:00.000Z' });
    expect(again).not.toBe(s);
  });

  it('the tenants projection handles PerfTenantTornDown', () => {
    expect(TENANT_EVENT_TYPES).toContain('PerfTenantTornDown');
  });
});
