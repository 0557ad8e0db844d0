import { TENANT_ID_PATTERN } from '../../src/control-plane/shared/ids';
import {
  assertPerfTarget,
  newPerfScope,
  PERF_SCOPE_PREFIX,
  RESERVED_SCOPE,
  scopeRefusal,
  newPerfTenantId,
  PerfGuardError,
  type PerfRefusal,
  type PerfTenantView,
  type TenantCreation,
} from '../../src/ops/perf/perf-guard';
import { latencyStats, percentile } from '../../src/ops/perf/stats';
import { pepperPolicy } from '../../src/ops/preflight/pepper-policy';
import { scopeOf } from '../../src/data-plane/memory/domain/identity';

const perfView = (id = 'perf-abc123'): PerfTenantView => ({ tenant_id: id, metadata: { purpose: 'perf', run_id: 'r1' }, status: 'active' });
const creation = (id = 'perf-abc123', metadata: Record<string, unknown> = { purpose: 'perf', run_id: 'r1' }): TenantCreation => ({ type: 'TenantCreated', data: { tenant_id: id, metadata } });

function refusalOf(target: Parameters<typeof assertPerfTarget>[0]): PerfRefusal | null {
  try {
    assertPerfTarget(target);
    return null;
  } catch (err) {
    if (!(err instanceof PerfGuardError)) throw err;
    return err.reason;
  }
}

describe('perf guard', () => {
  it('accepts a tenant created for perf (read model and creation event) with a perf scope', () => {
    expect(refusalOf({ tenantId: 'perf-abc123', scope: 'perf-s1', view: perfView(), creation: creation() })).toBeNull();
  });

  it('refuses the default scope, even for a perf tenant', () => {
    expect(refusalOf({ tenantId: 'perf-abc123', scope: 'default', view: perfView(), creation: creation() })).toBe('default_scope');
  });

  it('refuses a scope that is not a perf scope', () => {
    expect(refusalOf({ tenantId: 'perf-abc123', scope: 'customer-data', view: perfView(), creation: creation() })).toBe('scope_not_perf');
  });

  it('refuses a normal tenant (no perf- prefix), even one whose metadata says perf', () => {
    const view: PerfTenantView = { tenant_id: 'acme', metadata: { purpose: 'perf' }, status: 'active' };
    expect(refusalOf({ tenantId: 'acme', scope: 'perf-s1', view, creation: creation('acme', { purpose: 'perf' }) })).toBe('tenant_not_perf');
  });

  it('refuses a perf- tenant without the marker', () => {
    const view: PerfTenantView = { tenant_id: 'perf-abc123', metadata: {}, status: 'active' };
    expect(refusalOf({ tenantId: 'perf-abc123', scope: 'perf-s1', view, creation: creation('perf-abc123', {}) })).toBe('tenant_not_perf');
  });

  it('refuses a tenant whose marker was not set at creation', () => {
    expect(refusalOf({ tenantId: 'perf-abc123', scope: 'perf-s1', view: perfView(), creation: creation('perf-abc123', { run_id: 'r1' }) })).toBe('marker_not_at_creation');
    expect(refusalOf({ tenantId: 'perf-abc123', scope: 'perf-s1', view: perfView(), creation: undefined })).toBe('marker_not_at_creation');
    expect(refusalOf({ tenantId: 'perf-abc123', scope: 'perf-s1', view: perfView(), creation: { type: 'TenantUpdated', data: { tenant_id: 'perf-abc123', metadata: { purpose: 'perf' } } } })).toBe(
      'marker_not_at_creation',
    );
  });

  it('refuses a tenant that does not exist, and one that is suspended or torn down', () => {
    expect(refusalOf({ tenantId: 'perf-abc123', scope: 'perf-s1', view: undefined, creation: undefined })).toBe('tenant_not_found');
    expect(refusalOf({ tenantId: 'perf-abc123', scope: 'perf-s1', view: { ...perfView(), status: 'suspended' }, creation: creation() })).toBe('tenant_not_active');
  });

  it('refuses a read model row of another tenant than the one named', () => {
    expect(refusalOf({ tenantId: 'perf-abc123', scope: 'perf-s1', view: perfView('perf-other'), creation: creation() })).toBe('tenant_not_perf');
  });

  it('generates ids and scopes the guard accepts and the API allows', () => {
    for (let i = 0; i < 20; i++) {
      const id = newPerfTenantId();
      const scope = newPerfScope();
      expect(id).toMatch(TENANT_ID_PATTERN);
      // A perf scope: the prefix the guard requires, never the reserved scope, accepted by the guard.
      expect(scope.startsWith(PERF_SCOPE_PREFIX)).toBe(true);
      expect(scope).not.toBe(RESERVED_SCOPE);
      expect(scopeRefusal(scope)).toBeNull();
      // Scopes are free strings; the memory API takes this one as it is (not trimmed, not empty, not too long).
      expect(scopeOf(scope)).toBe(scope);
      expect(refusalOf({ tenantId: id, scope, view: perfView(id), creation: creation(id) })).toBeNull();
    }
    expect(newPerfTenantId()).not.toBe(newPerfTenantId());
    // Each run gets a scope of its own: two runs on one tenant never share data.
    expect(new Set(Array.from({ length: 50 }, () => newPerfScope())).size).toBe(50);
  });
});

describe('load statistics', () => {
  it('takes nearest-rank percentiles', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(samples, 95)).toBe(95);
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 100)).toBe(100);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 95)).toBeNull();
  });

  it('counts failed requests in the latency and the error rate', () => {
    const s = latencyStats([...Array.from({ length: 19 }, () => ({ ms: 10, ok: true })), { ms: 900, ok: false }]);
    expect(s).toMatchObject({ count: 20, errors: 1, error_rate: 0.05, p50_ms: 10, p95_ms: 10, max_ms: 900 });
  });
});

describe('key pepper policy', () => {
  it('accepts a long random pepper', () => {
    expect(pepperPolicy('9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b2d4f6e8a1c3e5b')).toEqual({ meets_policy: true, problems: [] });
  });

  it('refuses every pepper published in this repository', () => {
    for (const published of [
      'test-pepper-0123456789abcdef0123456789abcdef',
      'ratelimit-pepper-0123456789abcdef0123456789',
      'otel-test-pepper-0123456789abcdef0123456789',
      'propagation-pepper-0123456789abcdef0123456789',
    ]) {
      expect(pepperPolicy(published).problems).toContain('known_default');
    }
  });

  it('refuses short and low-variety values', () => {
    expect(pepperPolicy('short').problems).toEqual(expect.arrayContaining(['too_short', 'low_variety']));
    expect(pepperPolicy('p'.repeat(40))).toEqual({ meets_policy: false, problems: ['low_variety'] });
  });
});
