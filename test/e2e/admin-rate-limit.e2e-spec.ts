import request from 'supertest';
import { suiteService } from '../support/service';

const json = { 'Content-Type': 'application/json' };

/**
 * The tiers' admin_rps / admin_burst (here overridden to 1/s, bursts of 5) are enforced per
 * operator and tenant: a burst beyond the bucket is refused with 429 admin_rate_limited, Retry-After and
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

    // A slow refill (1/s, bursts of 5) keeps the test about the limit, not about how fast this machine is.
    await api.put('/v1/admin/control/tenants/rl-admin/quota').set(auth).set(json).send({ admin_rps: 1, admin_burst: 5 }).expect(200);
    // In force once the quota read model has it (asked by a third operator: buckets of its own).
    const watcher = await api.post('/v1/admin/control/operators').set(auth).set(json).send({ display_name: 'watcher', role: 'auditor' }).expect(201);
    const watcherAuth = { Authorization: `Bearer ${watcher.body.token as string}` };
    for (let i = 0; (await api.get('/v1/admin/control/tenants/rl-admin/quota').set(watcherAuth)).body.values?.admin_burst !== 5; i++) {
      if (i > 100) throw new Error('the quota override never reached its read model');
      await new Promise((res) => setTimeout(res, 100));
    }
    const burst = await Promise.all(Array.from({ length: 12 }, () => request(suite.t.url).get('/v1/admin/control/tenants/rl-admin').set(auth)));
    // A tenant named in the body counts too (creating an API key for the drained tenant).
    const key = await api.post('/v1/admin/control/api-keys').set(auth).set(json).send({ tenant_id: 'rl-admin' });
    const ok = burst.filter((r) => r.status === 200);
    const refused = burst.filter((r) => r.status === 429);
    expect(ok.length + refused.length).toBe(12);
    // At most the bucket (5, less the quota PUT's token) plus what 1/s refills while the burst runs.
    expect(ok.length).toBeGreaterThanOrEqual(4);
    expect(refused.length).toBeGreaterThan(0);
    expect(key.status).toBe(429);
    for (const r of ok) expect(r.headers['x-ratelimit-limit']).toBe('5');
    const r = refused[0]!;
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.body).toMatchObject({ status: 429, code: 'admin_rate_limited', tenant_id: 'rl-admin' });
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(r.headers['x-ratelimit-limit']).toBe('5');
    expect(r.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(r.headers['x-ratelimit-reset'])).toBeGreaterThanOrEqual(1);

    // The same tenant by another operator, another tenant by the same operator, a call about no tenant: admitted.
    await api.get('/v1/admin/control/tenants/rl-admin').set(otherAuth).expect(200);
    await api.get('/v1/admin/control/tenants/rl-other').set(auth).expect(200);
    await api.get('/v1/admin/control/tenants').set(auth).expect(200);

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
