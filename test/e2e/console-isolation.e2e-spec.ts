import request from 'supertest';
import { AlertEvaluator } from '../../src/alerting/alert-evaluator';
import { switchableProvider } from '../../src/ops/cli/drill-support';
import { emptyRollup } from '../../src/data-plane/telemetry/telemetry';
import { TelemetryRepository } from '../../src/data-plane/telemetry/telemetry.repository';
import { startTestService, type TestService } from '../support/service';
import { until } from '../support/until';

const json = { 'Content-Type': 'application/json' };
const A = 'iso-alpha';
const B = 'iso-bravo';
/** Content only tenant B ever wrote: it must appear in no view filtered to A. */
const B_SECRET = 'bravo-private-memory-text';

/**
 * Isolation of the operator views (issue 16): every admin endpoint the console reads for one
 * tenant, filtered to tenant A, never shows tenant B's rows or content, while B has data of every
 * kind (memories, dead letters, an alert, audit events, keys, projects, telemetry); and an
 * auditor's session cannot change anything. The same requests the console's pages make.
 */
describe('operator views filtered to one tenant never show another tenant (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  const embeddings = switchableProvider(1536);
  embeddings.setBroken(true);

  beforeAll(async () => {
    t = await startTestService({ env: { OUTBOX_MAX_ATTEMPTS: '1', OUTBOX_POLL_INTERVAL_MS: '50', ALERT_MIN_REQUESTS: '5', ALERT_MIN_FIRING_MS: '0' }, embeddingProvider: embeddings.provider });
    api = request(t.url);
    for (const id of [A, B]) {
      await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id, tier: 'growth' }).expect(201);
      await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: id, project_id: `${id}-proj` }).expect(201);
      const key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: id, label: `${id}-key` }).expect(201)).body.api_key as string;
      const text = id === B ? B_SECRET : 'alpha memory';
      await api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 's', input_text: text, memory_lane: 'shared', nodes: [{ client_id: `${id}-n`, type: 'event', title: text }] }).expect(200);
    }
    // B's write dead-letters (the provider is down, one attempt); B burns its error budget.
    await until("B's dead letter", async () => ((await api.get(`/v1/admin/control/dead-letters?tenant_id=${B}`).set(t.auth).expect(200)).body.items as unknown[]).length === 1);
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
    await t.service.app.get(TelemetryRepository).addRollup({ tenant: B, project: '', key: 'k', endpoint: 'find', minute, rollup: { ...emptyRollup(), total: 50, status_2xx: 20, status_5xx: 30, buckets: [50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] } });
    await t.service.app.get(AlertEvaluator).tick();
    await until("B's alerts in the read model", async () => ((await api.get(`/v1/admin/control/alerts?tenant_id=${B}`).set(t.auth).expect(200)).body.items as unknown[]).length > 0);
  }, 90_000);
  afterAll(async () => {
    await t?.stop();
  });

  const mentionsB = (body: unknown) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return text.includes(B) || text.includes(B_SECRET);
  };

  it('every tenant-filtered view of A is free of B', async () => {
    const views = [
      `/v1/admin/control/dashboard/tenants/${A}`,
      `/v1/admin/control/dashboard/tenants/${A}/timeseries?window=1h`,
      `/v1/admin/control/tenants/${A}/slo/burn?window=1h`,
      `/v1/admin/control/tenants/${A}/quota`,
      `/v1/admin/control/tenants/${A}/quota/usage`,
      `/v1/admin/control/tenants/${A}/slo`,
      `/v1/admin/control/api-keys?tenant_id=${A}`,
      `/v1/admin/control/projects?tenant_id=${A}`,
      `/v1/admin/control/audit-events?tenant_id=${A}&limit=1000`,
      `/v1/admin/control/dead-letters?tenant_id=${A}`,
      `/v1/admin/control/alerts?tenant_id=${A}`,
      `/v1/admin/control/overview/tenants?q=${A}`,
    ];
    for (const path of views) {
      const res = await api.get(path).set(t.auth);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expect({ path, mentionsB: mentionsB(res.body) }).toEqual({ path, mentionsB: false });
    }
    // The NDJSON export of A's audit trail (the console's download).
    const ndjson = await api.get(`/v1/admin/control/audit-events?tenant_id=${A}`).set(t.auth).set('Accept', 'application/x-ndjson').buffer(true).parse((res, cb) => {
      let data = '';
      res.on('data', (c: Buffer) => (data += c.toString('utf8')));
      res.on('end', () => cb(null, data));
    });
    expect(ndjson.status).toBe(200);
    expect((ndjson.body as string).split('\n').filter(Boolean).length).toBeGreaterThan(0);
    expect(mentionsB(ndjson.body)).toBe(false);
    // The filters are not vacuous: the same views of B do show B.
    expect(mentionsB((await api.get(`/v1/admin/control/dead-letters?tenant_id=${B}`).set(t.auth).expect(200)).body)).toBe(true);
    expect(mentionsB((await api.get(`/v1/admin/control/alerts?tenant_id=${B}`).set(t.auth).expect(200)).body)).toBe(true);
    expect(mentionsB((await api.get(`/v1/admin/control/audit-events?tenant_id=${B}&limit=1000`).set(t.auth).expect(200)).body)).toBe(true);
  });

  it("an auditor's console session reads every view and cannot change anything", async () => {
    const auditor = (await api.post('/v1/admin/control/operators').set(t.auth).set(json).send({ operator_id: 'op_iso_auditor', display_name: 'Iso auditor', role: 'auditor' }).expect(201)).body.token as string;
    const session = await api.post('/v1/admin/session').set({ Authorization: `Bearer ${auditor}` }).expect(201);
    const cookie = (session.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ');
    const csrf = (session.body as { session: { csrf_token: string } }).session.csrf_token;
    const as = { Cookie: cookie, 'X-CSRF-Token': csrf, ...json };
    expect((await api.get(`/v1/admin/control/dashboard/tenants/${A}`).set(as)).status).toBe(200);
    const attempts: [string, string, unknown][] = [
      ['post', '/v1/admin/control/tenants', { tenant_id: 'iso-new' }],
      ['put', `/v1/admin/control/tenants/${A}/quota`, { write_rps: 1 }],
      ['put', `/v1/admin/control/tenants/${A}/slo`, { availability_target: 0.9 }],
      ['post', '/v1/admin/control/dead-letters/replay', { tenant_id: B, reason: 'auditor try' }],
      ['post', '/v1/admin/control/dead-letters/discard', { tenant_id: B, reason: 'auditor try' }],
      ['post', '/v1/admin/control/alert-routes', { route_id: 'iso-route', kind: 'webhook', url: 'https://example.com/x' }],
      ['post', '/v1/admin/control/api-keys', { tenant_id: A }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await (method === 'post' ? api.post(path) : api.put(path)).set(as).send(body as object);
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      // Refused for the role, not for a missing CSRF token (the session's token was sent).
      expect((res.body as { detail: string }).detail).not.toMatch(/CSRF/);
    }
    // Nothing changed: B's dead letter is still there, no tenant or route was made.
    expect(((await api.get(`/v1/admin/control/dead-letters?tenant_id=${B}`).set(t.auth).expect(200)).body.items as unknown[]).length).toBe(1);
    expect((await api.get('/v1/admin/control/tenants/iso-new').set(t.auth)).status).toBe(404);
    expect((await api.get('/v1/admin/control/alert-routes/iso-route').set(t.auth)).status).toBe(404);
  });
});
