import request from 'supertest';
import { suiteService } from '../support/service';

const json = { 'Content-Type': 'application/json' };

/**
 * The tiers' admin_rps / admin_burst (starter: 5/s, bursts of 10) are enforced per operator and
 * tenant: a burst beyond the bucket is refused with 429 admin_rate_limited, Retry-After and
 * X-RateLimit-*, while other operators, other tenants and calls about no tenant go on.
 */
describe('admin rate limits per operator and tenant (real server)', () => {
  const suite = suiteService({ env: { ADMIN_RATE_LIMITS: 'true' } });

  it('refuses a burst beyond admin_burst with 429 problem+json, Retry-After and X-RateLimit-*; other operators and tenants are not affected', async () => {
    const api = suite.api;
    const { auth } = suite.t;
    await api.post('/v1/admin/control/tenants').set(auth).set(json).send({ tenant_id: 'rl-admin' }).expect(201);
    await api.post('/v1/admin/control/tenants').set(auth).set(json).send({ tenant_id: 'rl-other' }).expect(201);
    const other = await api.post('/v1/admin/control/operators').set(auth).set(json).send({ display_name: 'second', role: 'operator' }).expect(201);
    const otherAuth = { Authorization: `Bearer ${other.body.token as string}` };

    const burst = await Promise.all(Array.from({ length: 25 }, () => request(suite.t.url).get('/v1/admin/control/tenants/rl-admin').set(auth)));
    const ok = burst.filter((r) => r.status === 200);
    const refused = burst.filter((r) => r.status === 429);
    expect(ok.length + refused.length).toBe(25);
    // 10 from the full bucket, plus what 5/s refills while the burst runs.
    expect(ok.length).toBeGreaterThanOrEqual(10);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of ok) expect(r.headers['x-ratelimit-limit']).toBe('10');
    const r = refused[0]!;
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.body).toMatchObject({ status: 429, code: 'admin_rate_limited' });
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(r.headers['x-ratelimit-limit']).toBe('10');
    expect(r.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(r.headers['x-ratelimit-reset'])).toBeGreaterThanOrEqual(1);

    // The same tenant by another operator, another tenant by the same operator, a call about no tenant: admitted.
    await api.get('/v1/admin/control/tenants/rl-admin').set(otherAuth).expect(200);
    await api.get('/v1/admin/control/tenants/rl-other').set(auth).expect(200);
    await api.get('/v1/admin/control/tenants').set(auth).expect(200);
    // A tenant named in the body counts too (creating an API key for the drained tenant).
    const key = await api.post('/v1/admin/control/api-keys').set(auth).set(json).send({ tenant_id: 'rl-admin' });
    expect(key.status).toBe(429);

    // The bucket refills at admin_rps.
    await new Promise((res) => setTimeout(res, Number(r.headers['retry-after']) * 1000 + 250));
    await api.get('/v1/admin/control/tenants/rl-admin').set(auth).expect(200);
  }, 60_000);
});

describe('admin rate limits switched off (ADMIN_RATE_LIMITS=false)', () => {
  const suite = suiteService({ env: { ADMIN_RATE_LIMITS: 'false' } });

  it('admits every call', async () => {
    await suite.api.post('/v1/admin/control/tenants').set(suite.t.auth).set(json).send({ tenant_id: 'rl-off' }).expect(201);
    const all = await Promise.all(Array.from({ length: 20 }, () => request(suite.t.url).get('/v1/admin/control/tenants/rl-off').set(suite.t.auth)));
    expect(all.map((r) => r.status)).toStrictEqual(Array.from({ length: 20 }, () => 200));
    expect(all[0]!.headers['x-ratelimit-limit']).toBeUndefined();
  });
});
