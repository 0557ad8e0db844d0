import { AuthFailureLimiter, sourceKey } from '../../src/platform/http/auth-throttle';

/** The failed-authentication limiter's decision, on a clock the test controls. */

const limiter = (limit = 3, windowMs = 60_000, maxSources = 1000) => new AuthFailureLimiter({ limit, windowMs, maxSources });

function failN(l: AuthFailureLimiter, source: string, n: number, now: number) {
  return Array.from({ length: n }, () => l.failed(source, now));
}

describe('AuthFailureLimiter', () => {
  it('given a fresh source, when it fails up to the limit, then it is never throttled', () => {
    const l = limiter(3);
    expect(failN(l, '198.51.100.1', 3, 1000).every((d) => !d.throttled)).toBe(true);
  });

  it('given a source at the limit, when it fails again, then it is throttled until its window ends, announced once', () => {
    const l = limiter(3, 60_000);
    failN(l, '198.51.100.1', 3, 1000);
    expect(l.failed('198.51.100.1', 11_000)).toEqual({ throttled: true, retryAfterMs: 50_000, first: true });
    expect(l.failed('198.51.100.1', 30_000)).toEqual({ throttled: true, retryAfterMs: 31_000, first: false });
  });

  it('given a throttled source, when its window has ended, then it starts afresh', () => {
    const l = limiter(3, 60_000);
    failN(l, 'a', 4, 0);
    expect(l.failed('a', 59_999).throttled).toBe(true);
    expect(failN(l, 'a', 3, 60_000).every((d) => !d.throttled)).toBe(true);
    expect(l.failed('a', 60_001)).toMatchObject({ throttled: true, first: true, retryAfterMs: 59_999 });
  });

  it('given one throttled source, when another source fails, then the other is counted on its own', () => {
    const l = limiter(2);
    failN(l, 'attacker', 5, 0);
    expect(l.failed('attacker', 1).throttled).toBe(true);
    expect(failN(l, 'bystander', 2, 1).every((d) => !d.throttled)).toBe(true);
    expect(l.failed('bystander', 2).throttled).toBe(true);
  });

  it('given a limit of 0, when a source fails any number of times, then it is never throttled and nothing is kept', () => {
    const l = limiter(0);
    expect(failN(l, 'a', 100, 0).some((d) => d.throttled)).toBe(false);
    expect(l.size).toBe(0);
  });

  it('given a full table, when ended windows exist, then they are dropped before a live one', () => {
    const l = limiter(1, 1000, 3);
    l.failed('old-1', 0);
    l.failed('old-2', 0);
    l.failed('live', 900);
    l.failed('new', 1500); // old-1 and old-2 have ended
    expect(l.size).toBe(2);
    expect(l.failed('live', 1500).throttled).toBe(true); // its window (and count) survived
  });

  it('given an attacker with many addresses, when each fails, then the table never grows past its bound and the oldest window is forgotten', () => {
    const l = limiter(1, 60_000, 100);
    for (let i = 0; i < 10_000; i += 1) {
      l.failed(`10.0.${i >> 8}.${i & 255}`, i);
      expect(l.size).toBeLessThanOrEqual(100);
    }
    expect(l.size).toBe(100);
    // The first address was forgotten: it starts afresh; the newest is still counted.
    expect(l.failed('10.0.0.0', 10_000).throttled).toBe(false);
    expect(l.failed(`10.0.${9_999 >> 8}.${9_999 & 255}`, 10_000).throttled).toBe(true);
  });

  it('given a window restarted late, when older windows end, then the restarted one is kept (ordered by start)', () => {
    const l = limiter(1, 1000, 10);
    l.failed('a', 0);
    l.failed('b', 500);
    l.failed('a', 1200); // a's window ended at 1000: it restarts and moves behind b
    l.failed('c', 1600); // b ended at 1500 and is dropped; a (started 1200) is kept
    expect(l.size).toBe(2);
    expect(l.failed('a', 1700).throttled).toBe(true);
  });
});

describe('sourceKey', () => {
  it('given an IPv4 address, plain or IPv4-mapped, then it is counted as itself', () => {
    expect(sourceKey('203.0.113.7')).toBe('203.0.113.7');
    expect(sourceKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('given IPv6 addresses of one /64, then they are one source, whatever their notation', () => {
    const keys = ['2001:db8:aa:bb::1', '2001:0db8:00aa:00bb:ffff:1:2:3', '2001:DB8:AA:BB:0:0:0:9', '2001:db8:aa:bb::1.2.3.4', 'fe80::1%eth0'].map(sourceKey);
    expect(keys.slice(0, 4)).toEqual(Array(4).fill('2001:db8:aa:bb::/64'));
    expect(keys[4]).toBe('fe80:0:0:0::/64');
    expect(sourceKey('2001:db8:aa:bc::1')).not.toBe(keys[0]);
    expect(sourceKey('::1')).toBe('0:0:0:0::/64');
  });

  it('given no address or something else, then it is the one unknown source', () => {
    expect(sourceKey(null)).toBe('unknown');
    expect(sourceKey('not-an-ip')).toBe('unknown');
  });
});
