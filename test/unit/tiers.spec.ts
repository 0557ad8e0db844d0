import { readFileSync } from 'node:fs';
import { MATRIX_PATH, renderPackagingMatrix } from '../../scripts/gen-packaging-matrix';
import { tenantsProjection } from '../../projections/tenants.projection';
import { readOverrides } from '../../src/control-plane/quotas/effective-quota.service';
import {
  effectiveQuota,
  overrideProblems,
  QUOTA_FIELD_SPECS,
  QUOTA_FIELDS,
  quotaValueProblem,
  TIER_QUOTAS,
} from '../../src/control-plane/quotas/tiers';
import { evolve, NO_TENANT, type TenantCreated, type TenantEvent, TIERS } from '../../src/control-plane/tenants/tenant.domain';
import { ProjectionError } from '../../src/platform/projections/projection';
import { given, TEST_CONTEXT } from './support/decider-spec';
import { metadataFor, recorded } from './support/recorded-events';

describe('tier data', () => {
  it.each(TIERS)('%s defines every field, and nothing else, within the bounds', (tier) => {
    const profile = TIER_QUOTAS[tier];
    expect(Object.keys(profile).sort()).toEqual([...QUOTA_FIELDS].sort());
    for (const f of QUOTA_FIELDS) expect({ field: f, problem: quotaValueProblem(f, profile[f]) }).toEqual({ field: f, problem: null });
  });

  it('gives enterprise >= growth >= starter for every field', () => {
    for (const f of QUOTA_FIELDS) {
      expect(TIER_QUOTAS.growth[f]).toBeGreaterThanOrEqual(TIER_QUOTAS.starter[f]);
      expect(TIER_QUOTAS.enterprise[f]).toBeGreaterThanOrEqual(TIER_QUOTAS.growth[f]);
    }
  });

  it.each(TIERS)('%s has bursts at least as large as rates', (tier) => {
    const p = TIER_QUOTAS[tier];
    expect(p.write_burst).toBeGreaterThanOrEqual(p.write_rps);
    expect(p.recall_burst).toBeGreaterThanOrEqual(p.recall_rps);
    expect(p.admin_burst).toBeGreaterThanOrEqual(p.admin_rps);
  });

  it('has sane bounds: safe integers, min >= 1, min < max', () => {
    for (const f of QUOTA_FIELDS) {
      const { min, max, label, unit } = QUOTA_FIELD_SPECS[f];
      expect(Number.isSafeInteger(min) && Number.isSafeInteger(max)).toBe(true);
      expect(min).toBeGreaterThanOrEqual(1);
      expect(max).toBeGreaterThan(min);
      expect(label.length).toBeGreaterThan(0);
      expect(unit.length).toBeGreaterThan(0);
    }
  });
});

describe('override validation', () => {
  it('names the problem of each bad value', () => {
    expect(quotaValueProblem('write_rps', -1)).toBe('must be at least 1');
    expect(quotaValueProblem('write_rps', 10_001)).toBe('must be at most 10000');
    expect(quotaValueProblem('write_rps', 1.5)).toBe('must be a whole number');
    expect(quotaValueProblem('write_rps', '5')).toBe('must be a number');
    expect(quotaValueProblem('write_rps', Infinity)).toBe('must be a number');
    expect(quotaValueProblem('write_rps', 10_000)).toBeNull();
  });

  it('lists every bad field, unknown fields included, and refuses non-objects', () => {
    expect(overrideProblems({ write_rps: 0, bogus: 1, other: 2, admin_rps: 3 }, 'body')).toEqual([
      { field: 'body.write_rps', message: 'must be at least 1' },
      { field: 'body', message: 'unknown field(s): bogus, other' },
    ]);
    expect(overrideProblems([1], 'body')).toEqual([{ field: 'body', message: 'must be an object' }]);
    expect(overrideProblems(null, 'body')).toEqual([{ field: 'body', message: 'must be an object' }]);
    expect(overrideProblems({}, 'body')).toEqual([]);
  });
});

describe('effective quota', () => {
  it('is the tier defaults when nothing is overridden', () => {
    const q = effectiveQuota('acme', 'starter', {}, 0);
    expect(q.values).toStrictEqual(TIER_QUOTAS.starter);
    expect(q.overridden).toEqual([]);
    expect(Object.values(q.source).every((s) => s === 'tier')).toBe(true);
    expect(q.tier_defaults).toStrictEqual(TIER_QUOTAS.starter);
  });

  it('applies overrides and says which fields they are, in field order', () => {
    const q = effectiveQuota('acme', 'growth', { monthly_operations: 7, write_rps: 3 }, 4);
    expect(q).toMatchObject({ tenant_id: 'acme', tier: 'growth', revision: 4, overridden: ['write_rps', 'monthly_operations'] });
    expect(q.values).toStrictEqual({ ...TIER_QUOTAS.growth, write_rps: 3, monthly_operations: 7 });
    expect(q.source.write_rps).toBe('override');
    expect(q.source.recall_rps).toBe('tier');
  });

  it('reads stored overrides defensively (unknown fields and non-numbers are ignored)', () => {
    expect(readOverrides({ write_rps: 5, gone: 1, recall_rps: 'x' })).toStrictEqual({ write_rps: 5 });
    expect(readOverrides(null)).toStrictEqual({});
    expect(readOverrides([3])).toStrictEqual({});
  });

  it('does not share objects with the tier data', () => {
    const q = effectiveQuota('acme', 'starter', {}, 0);
    expect(q.values).not.toBe(TIER_QUOTAS.starter);
    expect(q.tier_defaults).not.toBe(TIER_QUOTAS.starter);
  });
});

describe('tier change (tenant decider)', () => {
  const created: TenantCreated = { type: 'TenantCreated', data: { tenant_id: 'acme', display_name: 'Acme', tier: 'starter', metadata: {} } };
  const suspended: TenantEvent = { type: 'TenantSuspended', data: { tenant_id: 'acme', reason: null } };

  it('changes the tier, recording from and to', () => {
    given([created])
      .when({ type: 'ChangeTenantTier', tenant_id: 'acme', tier: 'growth' })
      .then([{ type: 'TenantTierChanged', data: { tenant_id: 'acme', from: 'starter', to: 'growth' } }]);
  });

  it('emits nothing when the tier is the same', () => {
    given([created]).when({ type: 'ChangeTenantTier', tenant_id: 'acme', tier: 'starter' }).then([]);
  });

  it('lets a suspended tenant change tier', () => {
    given([created, suspended])
      .when({ type: 'ChangeTenantTier', tenant_id: 'acme', tier: 'enterprise' })
      .then([{ type: 'TenantTierChanged', data: { tenant_id: 'acme', from: 'starter', to: 'enterprise' } }]);
  });

  it('refuses an unknown tenant', () => {
    const err = given([]).when({ type: 'ChangeTenantTier', tenant_id: 'ghost', tier: 'growth' }).thenThrows('tenant_not_found');
    expect(err.details).toMatchObject({ tenant_id: 'ghost' });
  });

  it('evolves the tier and updated_at only; status and suspension stay', () => {
    let s = evolve(NO_TENANT, created, TEST_CONTEXT);
    s = evolve(s, suspended, TEST_CONTEXT);
    s = evolve(s, { type: 'TenantTierChanged', data: { tenant_id: 'acme', from: 'starter', to: 'growth' } }, { occurredAt: '2026-06-01T00:00:00.000Z', actorId: 'op_x' });
    expect(s).toMatchObject({ tier: 'growth', status: 'suspended', updated_at: '2026-06-01T00:00:00.000Z', created_at: TEST_CONTEXT.occurredAt, created_by: 'op_test' });
    expect(given([created, { type: 'TenantTierChanged', data: { tenant_id: 'acme', from: 'starter', to: 'growth' } }]).state).toMatchObject({ tier: 'growth' });
  });

  it('ignores a tier change of a tenant that does not exist', () => {
    expect(evolve(NO_TENANT, { type: 'TenantTierChanged', data: { tenant_id: 'ghost', from: 'starter', to: 'growth' } }, TEST_CONTEXT)).toStrictEqual(NO_TENANT);
  });
});

describe('tier change (tenants projection)', () => {
  const ev = (streamPosition: number, type: string, data: unknown, occurredAt: string) =>
    recorded({ streamId: 'tenant-acme', streamPosition, globalPosition: streamPosition, tenantId: 'acme', type, data, metadata: metadataFor(occurredAt, 'op_alice') });

  it('handles TenantTierChanged: tier, updated_at and revision move', () => {
    expect(tenantsProjection.handles).toContain('TenantTierChanged');
    const row = tenantsProjection.evolve(null, ev(1, 'TenantCreated', { tenant_id: 'acme', display_name: 'Acme', tier: 'starter', metadata: {} }, '2026-01-01T00:00:00.000Z'));
    const next = tenantsProjection.evolve(row, ev(2, 'TenantTierChanged', { tenant_id: 'acme', from: 'starter', to: 'growth' }, '2026-02-01T00:00:00.000Z'));
    expect(next).toMatchObject({ tier: 'growth', updated_at: '2026-02-01T00:00:00.000Z', created_at: '2026-01-01T00:00:00.000Z', revision: 2 });
  });

  it('dead-letters a tier change to a tier the code does not know', () => {
    const row = tenantsProjection.evolve(null, ev(1, 'TenantCreated', { tenant_id: 'acme', display_name: 'Acme', tier: 'starter', metadata: {} }, '2026-01-01T00:00:00.000Z'));
    expect(() => tenantsProjection.evolve(row, ev(2, 'TenantTierChanged', { tenant_id: 'acme', from: 'starter', to: 'platinum' }, '2026-02-01T00:00:00.000Z'))).toThrow(ProjectionError);
  });
});

describe('packaging matrix', () => {
  it('docs/packaging-matrix.md is what the generator produces from the tier data', () => {
    expect(readFileSync(MATRIX_PATH, 'utf8')).toBe(renderPackagingMatrix());
  });

  it('has one row per field and one column per tier', () => {
    const rows = renderPackagingMatrix()
      .split('\n')
      .filter((l) => l.startsWith('| '));
    expect(rows).toHaveLength(2 + QUOTA_FIELDS.length);
    expect(rows[0]).toContain('| Starter | Growth | Enterprise |');
    expect(rows.find((r) => r.includes('`monthly_operations`'))).toContain('| 1,000,000 | 20,000,000 | 250,000,000 |');
  });
});
