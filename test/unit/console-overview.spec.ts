import { overviewPage, type OverviewRow } from '../../src/data-plane/telemetry/overview';

describe('console overview page', () => {
  const row = (tenant_id: string, over: Partial<OverviewRow> = {}): OverviewRow => ({
    tenant_id,
    display_name: tenant_id.toUpperCase(),
    status: 'active',
    tier: 'starter',
    requests: 0,
    errors: 0,
    error_rate: 0,
    p95_ms: null,
    outbox_backlog: 0,
    dead_letters: 0,
    firing_alerts: 0,
    ...over,
  });
  const rows = Array.from({ length: 2500 }, (_, i) => row(`t-${String(i).padStart(4, '0')}`, { requests: i % 7, error_rate: (i % 13) / 100, errors: i % 13, tier: i % 2 ? 'growth' : 'starter' }));
  const base = { sort: 'tenant_id' as const, order: 'asc' as const, offset: 0, limit: 50 };

  it('pages through thousands of tenants in a stable order, every tenant exactly once', () => {
    const seen: string[] = [];
    for (let offset: number | null = 0; offset !== null; ) {
      const p = overviewPage(rows, { ...base, sort: 'error_rate', order: 'desc', offset, limit: 200 });
      seen.push(...p.items.map((r) => r.tenant_id));
      offset = p.next_offset;
    }
    expect(seen).toHaveLength(2500);
    expect(new Set(seen).size).toBe(2500);
  });
  it('sorts by firing alerts, most first', () => {
    const p = overviewPage([row('a', { firing_alerts: 1 }), row('b'), row('c', { firing_alerts: 3 })], { ...base, sort: 'firing_alerts', order: 'desc' });
    expect(p.items.map((r) => [r.tenant_id, r.firing_alerts])).toEqual([['c', 3], ['a', 1], ['b', 0]]);
  });
  it('sorts by a metric with ties in tenant id order, nulls last when descending', () => {
    const p = overviewPage([row('b', { p95_ms: 100 }), row('a', { p95_ms: 100 }), row('c'), row('d', { p95_ms: 500 })], { ...base, sort: 'p95_ms', order: 'desc' });
    expect(p.items.map((r) => r.tenant_id)).toEqual(['d', 'a', 'b', 'c']);
  });
  it('filters by text, tier, status and attention; total counts the matches', () => {
    expect(overviewPage(rows, { ...base, q: 't-000' }).total).toBe(10);
    expect(overviewPage(rows, { ...base, tier: 'growth' }).total).toBe(1250);
    expect(overviewPage([row('x', { status: 'suspended' }), row('y')], { ...base, status: 'suspended' }).items.map((r) => r.tenant_id)).toEqual(['x']);
    expect(overviewPage([row('x', { dead_letters: 1 }), row('y'), row('z', { errors: 2 })], { ...base, attention: true }).items.map((r) => r.tenant_id)).toEqual(['x', 'z']);
    // A tenant with a firing alert needs attention even with no errors in the last hour (a slow burn).
    expect(overviewPage([row('a'), row('b', { firing_alerts: 2 })], { ...base, attention: true }).items.map((r) => r.tenant_id)).toEqual(['b']);
  });
});
