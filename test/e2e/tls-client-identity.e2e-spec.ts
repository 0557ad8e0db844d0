import { startTestService, type TestService, TEST_ADMIN_TOKEN } from '../support/service';
import { type Issued, type TestCa, TestPki, tlsRequest } from '../support/test-pki';

const admin = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/**
 * API keys restricted to client-certificate identities (allowed_client_identities), and
 * tenant-dedicated private endpoints (PRIVATE_ENDPOINTS), over real mutual-TLS handshakes with
 * CAs the test makes. The main listener asks for a client certificate but does not require one
 * (TLS_CLIENT_AUTH=optional), so the same listener serves restricted and unrestricted keys.
 */
describe('client-certificate identities and private endpoints', () => {
  const pki = new TestPki();
  let ca: TestCa;
  let tenantCa: TestCa;
  let otherCa: TestCa;
  let agent1: Issued;
  let agent2: Issued;
  let stranger: Issued;
  let acmeDevice: Issued;
  let t: TestService;
  let acmeKey: string;
  let globexKey: string;

  const call = (base: string, path: string, opts: Omit<Parameters<typeof tlsRequest>[1], 'ca'> = {}) => tlsRequest(`${base}${path}`, { ca: ca.cert, ...opts });
  const adminCall = (method: string, path: string, body?: unknown) => call(t.url, path, { method, headers: admin, ...(body !== undefined ? { body } : {}) });
  /** Under load the projector may lag past the command's read-your-writes wait: wait until the read model (which the verifier reads) has the key. */
  const readModelHas = async (keyId: string) => {
    const deadline = Date.now() + 15_000;
    while ((await adminCall('GET', `/v1/admin/control/api-keys/${keyId}`)).status !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  };
  const newKey = async (body: Record<string, unknown>) => {
    const r = await adminCall('POST', '/v1/admin/control/api-keys', body);
    expect(r.status).toBe(201);
    const created = r.body as { key: { key_id: string; allowed_client_identities: string[] }; api_key: string };
    if (r.headers['x-aionis-read-model'] === 'stale') await readModelHas(created.key.key_id);
    return created;
  };
  const whoami = (base: string, key: string, client?: Issued) => call(base, '/v1/auth/whoami', { headers: { 'x-api-key': key }, ...(client ? { client } : {}) });

  beforeAll(async () => {
    ca = pki.ca('main-ca');
    tenantCa = pki.ca('acme-ca');
    otherCa = pki.ca('other-ca');
    const server = pki.issue(ca, 'server', { kind: 'server', cn: 'aionis.test' });
    agent1 = pki.issue(ca, 'agent-1', { kind: 'client', cn: 'agent-1', dns: ['agent-1.agents.acme.example'], uri: ['spiffe://acme.example/agent/1'] });
    agent2 = pki.issue(ca, 'agent-2', { kind: 'client', cn: 'agent-2', dns: ['agent-2.agents.acme.example'] });
    stranger = pki.issue(otherCa, 'stranger', { kind: 'client', cn: 'agent-1', dns: ['agent-1.agents.acme.example'] });
    acmeDevice = pki.issue(tenantCa, 'acme-device', { kind: 'client', cn: 'acme-gateway' });
    t = await startTestService({
      env: {
        TLS_CERT_FILE: server.cert,
        TLS_KEY_FILE: server.key,
        TLS_CLIENT_CA_FILE: ca.cert,
        TLS_CLIENT_AUTH: 'optional',
        PRIVATE_ENDPOINTS: JSON.stringify([
          { name: 'acme-pl', host: '127.0.0.1', port: 0, tenant_id: 'acme', allowed_cidrs: ['127.0.0.0/8'], client_ca_file: tenantCa.cert },
          { name: 'acme-vpc-only', host: '127.0.0.1', port: 0, tenant_id: 'acme', allowed_cidrs: ['10.0.0.0/8'], client_ca_file: tenantCa.cert },
        ]),
      },
    });
    for (const tenant_id of ['acme', 'globex']) expect((await adminCall('POST', '/v1/admin/control/tenants', { tenant_id, display_name: tenant_id })).status).toBe(201);
    acmeKey = (await newKey({ tenant_id: 'acme' })).api_key;
    globexKey = (await newKey({ tenant_id: 'globex' })).api_key;
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
    pki.dispose();
  });

  describe('allowed_client_identities', () => {
    it('are stored normalised and shown on the key', async () => {
      const fp = agent1.sha256.toUpperCase().match(/../g)!.join(':');
      const k = await newKey({ tenant_id: 'acme', allowed_client_identities: ['dns:Agent-1.Agents.ACME.example', `sha256:${fp}`, 'cn:agent-1'] });
      expect(k.key.allowed_client_identities).toStrictEqual(['cn:agent-1', 'dns:agent-1.agents.acme.example', `sha256:${agent1.sha256}`]);
      const got = await adminCall('GET', `/v1/admin/control/api-keys/${k.key.key_id}`);
      expect((got.body as { allowed_client_identities: string[] }).allowed_client_identities).toStrictEqual(k.key.allowed_client_identities);
    });

    it('refuse an entry of no known kind with 400 validation_failed', async () => {
      for (const bad of ['email:bot@acme.example', 'sha256:1234', 'cn:', 'agent-1', 'dns:has space']) {
        const r = await adminCall('POST', '/v1/admin/control/api-keys', { tenant_id: 'acme', allowed_client_identities: [bad] });
        expect([bad, r.status, (r.body as { code: string }).code]).toStrictEqual([bad, 400, 'validation_failed']);
      }
    });

    it.each([
      ['cn:agent-1'],
      ['dns:agent-1.agents.acme.example'],
      ['uri:spiffe://acme.example/agent/1'],
      ['sha256'],
    ])('a key restricted to %s is served with the matching certificate, refused without one, with another, and with one of another CA', async (entry) => {
      const { api_key } = await newKey({ tenant_id: 'acme', allowed_client_identities: [entry === 'sha256' ? `sha256:${agent1.sha256}` : entry] });
      expect((await whoami(t.url, api_key, agent1)).status).toBe(200);
      const refusals = await Promise.all([whoami(t.url, api_key), whoami(t.url, api_key, agent2), whoami(t.url, api_key, stranger)]);
      expect(refusals.map((r) => [r.status, (r.body as { code: string }).code])).toStrictEqual([
        [401, 'unauthorized'],
        [401, 'unauthorized'],
        [401, 'unauthorized'],
      ]);
    });

    it('do not restrict a key without them: served with or without a client certificate', async () => {
      expect((await whoami(t.url, acmeKey)).status).toBe(200);
      expect((await whoami(t.url, acmeKey, agent2)).status).toBe(200);
    });

    it('change through PATCH, and the new list is enforced', async () => {
      const k = await newKey({ tenant_id: 'acme', allowed_client_identities: ['cn:agent-1'] });
      const patched = await adminCall('PATCH', `/v1/admin/control/api-keys/${k.key.key_id}`, { allowed_client_identities: ['dns:agent-2.agents.acme.example'] });
      expect(patched.status).toBe(200);
      expect((patched.body as { allowed_client_identities: string[] }).allowed_client_identities).toStrictEqual(['dns:agent-2.agents.acme.example']);
      const deadline = Date.now() + 10_000;
      while ((await whoami(t.url, k.api_key, agent2)).status !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect((await whoami(t.url, k.api_key, agent2)).status).toBe(200);
      expect((await whoami(t.url, k.api_key, agent1)).status).toBe(401);
      const audit = await adminCall('GET', `/v1/admin/control/audit-events?resource_id=${k.key.key_id}`);
      expect(JSON.stringify(audit.body)).toContain('ApiKeyUpdated');
    });

    it('pass to a rotation successor', async () => {
      const k = await newKey({ tenant_id: 'acme', allowed_client_identities: ['cn:agent-1'] });
      const rotated = await adminCall('POST', `/v1/admin/control/api-keys/${k.key.key_id}/rotate`, { grace_seconds: 0 });
      expect(rotated.status).toBe(201);
      const next = rotated.body as { key: { key_id: string; allowed_client_identities: string[] }; api_key: string };
      if (rotated.headers['x-aionis-read-model'] === 'stale') await readModelHas(next.key.key_id);
      expect(next.key.allowed_client_identities).toStrictEqual(['cn:agent-1']);
      expect((await whoami(t.url, next.api_key)).status).toBe(401);
      expect((await whoami(t.url, next.api_key, agent1)).status).toBe(200);
    });
  });

  describe('a tenant-dedicated private endpoint', () => {
    const pl = () => t.service.privateEndpointUrls['acme-pl']!;
    const plCall = (path: string, opts: Omit<Parameters<typeof tlsRequest>[1], 'ca'>) => tlsRequest(`${pl()}${path}`, { ca: ca.cert, ...opts });

    it('listens on its own HTTPS port, and GET /v1/admin/ops/runtime reports the listeners as configured', async () => {
      expect(pl()).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(pl()).not.toBe(t.url);
      const runtime = await adminCall('GET', '/v1/admin/ops/runtime');
      expect((runtime.body as { network: unknown }).network).toStrictEqual({
        tls: { client_auth: 'optional' },
        admin_listener: null,
        private_endpoints: [
          { name: 'acme-pl', tenant_id: 'acme', host: '127.0.0.1', port: 0, allowed_cidrs: ['127.0.0.0/8'] },
          { name: 'acme-vpc-only', tenant_id: 'acme', host: '127.0.0.1', port: 0, allowed_cidrs: ['10.0.0.0/8'] },
        ],
      });
    });

    it('serves its tenant’s key to a client with a certificate of the endpoint’s CA', async () => {
      const r = await plCall('/v1/auth/whoami', { client: acmeDevice, headers: { 'x-api-key': acmeKey } });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ tenant_id: 'acme' });
    });

    it('refuses another tenant’s key with 401, whatever the certificate', async () => {
      const r = await plCall('/v1/auth/whoami', { client: acmeDevice, headers: { 'x-api-key': globexKey } });
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ code: 'unauthorized' });
      // The same key is good on the shared listener: the refusal is the endpoint's.
      expect((await whoami(t.url, globexKey)).status).toBe(200);
    });

    it('fails the handshake without a client certificate, and with a certificate of the main CA', async () => {
      await expect(plCall('/health', {})).rejects.toThrow(/certificate|socket hang up|ECONNRESET/i);
      await expect(plCall('/health', { client: agent1 })).rejects.toThrow(/certificate|unknown ca|socket hang up|ECONNRESET/i);
    });

    it('serves the data plane only: an admin route is 404 even with an operator token', async () => {
      const r = await plCall('/v1/admin/control/tenants', { client: acmeDevice, headers: admin });
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ code: 'route_not_found' });
      expect((await plCall('/health', { client: acmeDevice })).status).toBe(200);
    });

    it('disconnects a client whose address is outside its CIDRs before any handshake (127.0.0.1 is not in 10.0.0.0/8)', async () => {
      const blocked = t.service.privateEndpointUrls['acme-vpc-only']!;
      await expect(tlsRequest(`${blocked}/health`, { ca: ca.cert, client: acmeDevice })).rejects.toThrow(/socket hang up|ECONNRESET|disconnected/i);
      const metrics = await call(t.url, '/metrics');
      expect(String(metrics.body)).toMatch(/aionis_private_endpoint_refusals_total\{[^}]*listener="private:acme-vpc-only"[^}]*\} [1-9]/);
    });
  });
});
