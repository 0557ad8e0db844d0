import { isTenantId, operatorStreamId, TENANT_ID_PATTERN, tenantStreamId } from '../../src/control-plane/shared/ids';

describe('isTenantId', () => {
  it.each([['abc'], ['a-b_c9'], ['a'.repeat(63)], ['123'], ['___']])('accepts %p', (id) => {
    expect(isTenantId(id)).toBe(true);
  });

  it.each([
    ['ab', 'too short'],
    ['a'.repeat(64), 'too long (64)'],
    ['Acme', 'uppercase'],
    ['ACME', 'all uppercase'],
    ['ac me', 'space'],
    ['acme.io', 'dot'],
    ['', 'empty'],
    ['acme\n', 'trailing newline'],
    ['acmé', 'non-ASCII letter'],
    ['ac/me', 'slash'],
  ])('rejects %p (%s)', (id) => {
    expect(isTenantId(id)).toBe(false);
  });

  it('has no global flag (repeated calls give the same answer)', () => {
    expect(TENANT_ID_PATTERN.global).toBe(false);
    expect([isTenantId('abc'), isTenantId('abc'), isTenantId('abc')]).toStrictEqual([true, true, true]);
  });
});

describe('stream ids', () => {
  it('prefixes tenant and operator ids', () => {
    expect(tenantStreamId('acme')).toBe('tenant-acme');
    expect(operatorStreamId('op_alice')).toBe('operator-op_alice');
  });
});
