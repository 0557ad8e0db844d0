import request from 'supertest';
import { startTestService, type TestService, TEST_ADMIN_TOKEN } from '../support/service';
import { type TestCa, TestPki, tlsRequest } from '../support/test-pki';

const admin = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/**
 * The admin API on its own listener (ADMIN_PORT): the public listener serves only the data plane
 * and answers every other route with the 404 of an unknown route (never 401); the admin listener
 * serves everything. Both over TLS here (the admin listener shares the main one's TLS settings).
 */
describe('the admin API on its own listener', () => {
  const pki = new TestPki();
  let ca: TestCa;
  let t: TestService;
  let apiKey: string;

  beforeAll(async () => {
    ca = pki.ca('split-ca');
    const server = pki.issue(ca, 'server', { kind: 'server', cn: 'aionis.test' });
    t = await startTestService({ env: { TLS_CERT_FILE: server.cert, TLS_KEY_FILE: server.key, ADMIN_PORT: '0', ADMIN_HOST: '127.0.0.1' } });
    const created = await tlsRequest(`${t.service.adminUrl}/v1/admin/control/tenants`, { ca: ca.cert, method: 'POST', headers: admin, body: { tenant_id: 'split', display_name: 'Split' } });
    expect(created.status).toBe(201);
    const key = await tlsRequest(`${t.service.adminUrl}/v1/admin/control/api-keys`, { ca: ca.cert, method: 'POST', headers: admin, body: { tenant_id: 'split' } });
    expect(key.status).toBe(201);
    apiKey = (key.body as { api_key: string }).api_key;
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
    pki.dispose();
  });

  it('listens on two HTTPS ports', () => {
    expect(t.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(t.service.adminUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(t.service.adminUrl).not.toBe(t.url);
  });

  it.each([
    ['GET', '/v1/admin/control/tenants'],
    ['POST', '/v1/admin/control/tenants'],
    ['GET', '/V1/ADMIN/control/tenants'],
    ['GET', '/v1/admin/control/tenants/'],
    ['GET', '/v1/admin/ops/projections'],
    ['GET', '/v1/admin/control/audit-events'],
    ['POST', '/v1/admin/session'],
    ['GET', '/console'],
    ['GET', '/metrics'],
    ['GET', '/docs-json'],
  ])('%s %s on the public listener is 404 route_not_found, even with an operator token', async (method, path) => {
    const r = await tlsRequest(`${t.url}${path}`, { ca: ca.cert, method, headers: admin, ...(method === 'POST' ? { body: {} } : {}) });
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ code: 'route_not_found' });
  });

  it('answers an admin route on the public listener exactly as an unknown route', async () => {
    const unknown = await tlsRequest(`${t.url}/v1/no-such-route`, { ca: ca.cert });
    const hidden = await tlsRequest(`${t.url}/v1/admin/control/tenants`, { ca: ca.cert });
    const strip = (b: unknown) => ({ ...(b as Record<string, unknown>), request_id: null, instance: null, detail: null });
    expect(hidden.status).toBe(unknown.status);
    expect(strip(hidden.body)).toStrictEqual(strip(unknown.body));
  });

  it('serves the admin API, /metrics and the console on the admin listener', async () => {
    expect((await tlsRequest(`${t.service.adminUrl}/v1/admin/control/tenants`, { ca: ca.cert, headers: admin })).status).toBe(200);
    expect((await tlsRequest(`${t.service.adminUrl}/metrics`, { ca: ca.cert })).status).toBe(200);
    expect((await tlsRequest(`${t.service.adminUrl}/console`, { ca: ca.cert })).status).not.toBe(404);
  });

  it('serves the data plane and health on the public listener', async () => {
    expect((await tlsRequest(`${t.url}/health`, { ca: ca.cert })).status).toBe(200);
    expect((await tlsRequest(`${t.url}/health/ready`, { ca: ca.cert })).status).toBe(200);
    expect((await tlsRequest(`${t.url}/v1/audit/public-key`, { ca: ca.cert })).status).toBe(200);
    const who = await tlsRequest(`${t.url}/v1/auth/whoami`, { ca: ca.cert, headers: { 'x-api-key': apiKey } });
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({ tenant_id: 'split' });
    const write = await tlsRequest(`${t.url}/v1/memory/write`, {
      ca: ca.cert,
      method: 'POST',
      headers: { 'x-api-key': apiKey },
      body: { scope: 'split', input_text: 'hello', nodes: [{ client_id: 'n1', type: 'event', text_summary: 'hello' }] },
    });
    expect(write.status).toBe(200);
  });

  it('still refuses a data-plane call without a key with 401 on the public listener', async () => {
    expect((await tlsRequest(`${t.url}/v1/auth/whoami`, { ca: ca.cert })).status).toBe(401);
  });

  it('sets the console session cookie Secure over TLS', async () => {
    const r = await tlsRequest(`${t.service.adminUrl}/v1/admin/session`, { ca: ca.cert, method: 'POST', headers: admin });
    expect(r.status).toBe(201);
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toContain('aionis_session=');
    expect(cookie).toMatch(/; Secure/);
  });
});

describe('without ADMIN_PORT', () => {
  let t: TestService;
  afterAll(async () => t?.stop());

  it('serves every route on the one plain HTTP listener, as before, and the console cookie is not Secure over plain HTTP', async () => {
    t = await startTestService();
    expect(t.service.adminUrl).toBeUndefined();
    const api = request(t.url);
    expect((await api.get('/v1/admin/control/tenants').set(admin)).status).toBe(200);
    expect((await api.get('/metrics')).status).toBe(200);
    expect((await api.get('/health')).status).toBe(200);
    const signIn = await api.post('/v1/admin/session').set(admin);
    expect(signIn.status).toBe(201);
    expect(String(signIn.headers['set-cookie'])).not.toMatch(/Secure/);
  }, 60_000);
});

describe('an admin listener with TLS settings of its own', () => {
  const pki = new TestPki();
  let t: TestService;
  afterAll(async () => {
    await t?.stop();
    pki.dispose();
  });

  it('is HTTPS with mutual TLS required while the public listener stays plain HTTP', async () => {
    const ca = pki.ca('ops-ca');
    const server = pki.issue(ca, 'admin-server', { kind: 'server', cn: 'admin.test' });
    const operator = pki.issue(ca, 'operator', { kind: 'client', cn: 'alice' });
    t = await startTestService({
      env: { ADMIN_PORT: '0', ADMIN_TLS_CERT_FILE: server.cert, ADMIN_TLS_KEY_FILE: server.key, ADMIN_TLS_CLIENT_CA_FILE: ca.cert, ADMIN_TLS_CLIENT_AUTH: 'require' },
    });
    expect(t.url).toMatch(/^http:\/\//);
    expect(t.service.adminUrl).toMatch(/^https:\/\//);
    const api = request(t.url);
    expect((await api.get('/health')).status).toBe(200);
    expect((await api.get('/v1/admin/control/tenants').set(admin)).status).toBe(404);
    const r = await tlsRequest(`${t.service.adminUrl}/v1/admin/control/tenants`, { ca: ca.cert, client: operator, headers: admin });
    expect(r.status).toBe(200);
    expect(r.serverSerial).toBe(server.serial);
    await expect(tlsRequest(`${t.service.adminUrl}/v1/admin/control/tenants`, { ca: ca.cert, headers: admin })).rejects.toThrow(/certificate|socket hang up|ECONNRESET/i);
  }, 60_000);
});
