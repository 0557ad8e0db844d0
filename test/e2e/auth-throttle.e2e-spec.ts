import request from 'supertest';
import { expectContractError } from '../support/contract';
import { startTestService, type TestService } from '../support/service';

/**
 * Failed authentications per source address on a real server: over AUTH_FAILURE_LIMIT a source
 * gets 429 auth_throttled with Retry-After (contract JSON on /v1/memory/*, problem+json
 * elsewhere), a valid key or token from that address is still served, other addresses are
 * unaffected, and the refusals are counted in the Prometheus scrape. Source addresses come from
 * X-Forwarded-For through a trusted (loopback) proxy, as the request context reads them.
 */

const LIMIT = 4;
const json = { 'Content-Type': 'application/json' };
const from = (ip: string) => ({ 'X-Forwarded-For': ip });
const BAD_KEY = 'aio_live_kaaaaaaaaaaaaaaaaaaa_not-a-real-key';

describe('failed-authentication limit per source address (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  let key = '';

  beforeAll(async () => {
    t = await startTestService({ env: { AUTH_FAILURE_LIMIT: String(LIMIT), AUTH_FAILURE_WINDOW_MS: '600000', TRUST_PROXY: 'loopback' } });
    api = request(t.url);
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'throttle-co' }).expect(201);
    key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'throttle-co' }).expect(201)).body.api_key as string;
  });
  afterAll(async () => {
    await t.stop();
  });

  const find = (ip: string, apiKey: string) => api.post('/v1/memory/find').set({ ...json, ...from(ip), 'x-api-key': apiKey }).send({ scope: 'default' });
  const throttledCount = async (credential: string) => {
    const text = (await api.get('/metrics').expect(200)).text;
    const m = new RegExp(`^aionis_auth_throttled_total\\{[^}]*credential="${credential}"[^}]*\\} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };

  it('answers 429 with Retry-After past the limit, still serves a valid key from that address, and leaves other addresses alone', async () => {
    const attacker = '203.0.113.10';
    const before = await throttledCount('api_key');
    for (let i = 0; i < LIMIT; i += 1) expectContractError(await find(attacker, BAD_KEY), 401, 'unauthorized');

    const throttled = await find(attacker, BAD_KEY);
    expectContractError(throttled, 429, 'auth_throttled');
    expect(throttled.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(500); // the 10-minute window has barely begun
    expect(throttled.body.details).toMatchObject({ retry_after_ms: expect.any(Number) });
    expect(Number(throttled.headers['retry-after'])).toBe(Math.ceil(throttled.body.details.retry_after_ms / 1000));

    // Outside the memory API the same refusal is problem+json.
    const whoami = await api.get('/v1/auth/whoami').set({ ...from(attacker), 'x-api-key': BAD_KEY });
    expect(whoami.status).toBe(429);
    expect(whoami.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(whoami.body).toMatchObject({ code: 'auth_throttled', status: 429, type: 'urn:aionis:problem:auth_throttled', request_id: expect.any(String) });
    expect(whoami.headers['retry-after']).toMatch(/^[1-9]\d*$/);

    // A valid key from the throttled address is served, and does not reset the count.
    expect((await find(attacker, key)).status).toBe(200);
    expect((await api.get('/v1/auth/whoami').set({ ...from(attacker), Authorization: `Bearer ${key}` })).status).toBe(200);
    expectContractError(await find(attacker, BAD_KEY), 429, 'auth_throttled');

    // Another address is counted on its own.
    expectContractError(await find('203.0.113.20', BAD_KEY), 401, 'unauthorized');
    expect((await find('203.0.113.20', key)).status).toBe(200);

    expect(await throttledCount('api_key')).toBe(before + 3);
  });

  it('limits failed operator tokens the same way, and a valid operator token is still served', async () => {
    const attacker = '198.51.100.7';
    const before = await throttledCount('operator_token');
    const tenants = (ip: string, headers: Record<string, string>) => api.get('/v1/admin/control/tenants').set({ ...from(ip), ...headers });
    const wrong = { Authorization: 'Bearer aio_admin_wrong-token-0123456789abcdef0123456789' };
    const results = [];
    // Missing, wrong and X-Admin-Token failures all count.
    results.push(await tenants(attacker, {}));
    results.push(await tenants(attacker, wrong));
    results.push(await tenants(attacker, { 'X-Admin-Token': 'nope' }));
    results.push(await tenants(attacker, wrong));
    expect(results.map((r) => r.status)).toEqual([401, 401, 401, 401]);

    const throttled = await tenants(attacker, wrong);
    expect(throttled.status).toBe(429);
    expect(throttled.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(throttled.body).toMatchObject({ code: 'auth_throttled', retry_after_ms: expect.any(Number) });
    expect(throttled.headers['retry-after']).toMatch(/^[1-9]\d*$/);

    expect((await tenants(attacker, t.auth)).status).toBe(200);
    expect((await tenants('198.51.100.8', wrong)).status).toBe(401);
    // One address's failures count across both credentials: its API-key failures are throttled too.
    expectContractError(await find(attacker, BAD_KEY), 429, 'auth_throttled');

    expect(await throttledCount('operator_token')).toBe(before + 1);
  });
});
