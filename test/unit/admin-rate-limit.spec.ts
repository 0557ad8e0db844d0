import { adminBucket, adminCallTenant } from '../../src/control-plane/quotas/admin-rate-limit.interceptor';

describe('which tenant an admin call is about', () => {
  const call = (over: { params?: Record<string, unknown>; body?: unknown; query?: Record<string, unknown> }) =>
    adminCallTenant({ params: {}, body: undefined, query: {}, ...over } as Parameters<typeof adminCallTenant>[0]);

  it('is the tenant_id path parameter first, then the body, then the query', () => {
    expect(call({ params: { tenant_id: 'acme' }, body: { tenant_id: 'other' }, query: { tenant_id: 'third' } })).toBe('acme');
    expect(call({ body: { tenant_id: 'other' }, query: { tenant_id: 'third' } })).toBe('other');
    expect(call({ query: { tenant_id: 'third' } })).toBe('third');
  });

  it('is none for calls about no tenant, and never a value that is not a tenant id', () => {
    expect(call({})).toBeUndefined();
    expect(call({ params: { operator_id: 'op_x' } })).toBeUndefined();
    expect(call({ body: { tenant_id: 42 } })).toBeUndefined();
    expect(call({ query: { tenant_id: ['a', 'b'] } })).toBeUndefined();
    expect(call({ params: { tenant_id: 'NOT A TENANT' }, body: { tenant_id: 'acme' } })).toBe('acme');
    expect(call({ body: [1, 2] })).toBeUndefined();
  });

  it('counts each operator in a bucket of its own', () => {
    expect(adminBucket('op_a')).toBe('admin:op_a');
    expect(adminBucket('op_a')).not.toBe(adminBucket('op_b'));
  });
});
