import { sql } from 'kysely';
import request from 'supertest';
import { TelemetryRecorder } from '../../src/data-plane/telemetry/telemetry-recorder';
import { startTestService, type TestService } from '../support/service';

const json = { 'Content-Type': 'application/json' };

describe('per-tenant telemetry, the dashboard and time series (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  let key = '';

  beforeAll(async () => {
    t = await startTestService();
    api = request(t.url);
    for (const id of ['tel-a', 'tel-b']) await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id, tier: 'growth' }).expect(201);
    key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'tel-a' }).expect(201)).body.api_key as string;
  });
  afterAll(async () => {
    await t.stop();
  });

  const rows = async () => (await sql<{ n: number; total: number }>`SELECT count(*)::int AS n, coalesce(sum(total), 0)::int AS total FROM telemetry_rollups`.execute(t.tdb.database.db)).rows[0]!;

  it('rolls requests up per minute in memory and flushes them in batches, attributing only authenticated ones', async () => {
    const as = { 'x-api-key': key, ...json };
    for (let i = 0; i < 5; i++) await api.post('/v1/memory/write').set(as).send({ scope: 's', input_text: `${i}`, nodes: [{ client_id: `n${i}`, type: 'event', title: `n${i}` }] }).expect(200);
    await api.post('/v1/memory/write').set(as).send({ scope: 's', nodes: [{ type: 'event' }] }).expect(400);
    for (let i = 0; i < 3; i++) await api.post('/v1/memory/find').set(as).send({ scope: 's' }).expect(200);
    // A request with a key of no tenant, claiming tel-b, is attributed to nobody.
    await api.post('/v1/memory/find').set({ 'x-api-key': 'aio_live_bogus', ...json }).send({ scope: 's', tenant_id: 'tel-b' }).expect(401);
    expect((await rows()).n).toBe(0); // nothing written per request
    await t.service.app.get(TelemetryRecorder).flush();
    const r = await sql<{ tenant_id: string; endpoint: string; total: number; status_2xx: number; status_4xx: number }>`
      SELECT tenant_id, endpoint, total::int, status_2xx::int, status_4xx::int FROM telemetry_rollups ORDER BY endpoint`.execute(t.tdb.database.db);
    expect(r.rows).toEqual([
      { tenant_id: 'tel-a', endpoint: 'find', total: 3, status_2xx: 3, status_4xx: 0 },
      { tenant_id: 'tel-a', endpoint: 'write', total: 6, status_2xx: 5, status_4xx: 1 },
    ]);
  });

  it('shows the dashboard: status, tier, keys, quota use, traffic and latency, outbox, memory size, projection lag', async () => {
    const d = await api.get('/v1/admin/control/dashboard/tenants/tel-a').set(t.auth);
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ tenant_id: 'tel-a', status: 'active', tier: 'growth', slo_target: 0.995, keys: { active: 1, revoked: 0 } });
    expect(d.body.requests.last_hour).toMatchObject({ requests: 9, status: { '2xx': 8, '4xx': 1, '429': 0, '5xx': 0 }, error_rate: 0 });
    expect(d.body.requests.last_hour.latency_ms.p50).toEqual(expect.any(Number));
    expect(d.body.memory).toEqual({ nodes: 5, edges: 0, commits: 5 });
    // Every request that succeeded counts; the 400 (refused by the handler after admission) was refunded.
    expect(d.body.quota.operations.used).toBe(8);
    expect(Object.keys(d.body.outbox)).toEqual(['pending', 'retrying', 'processing', 'dead_letter']);
    expect(d.body.projections.map((p: { projection: string }) => p.projection)).toContain('tenants');
    const other = await api.get('/v1/admin/control/dashboard/tenants/tel-b').set(t.auth);
    expect(other.body.requests.last_hour.requests).toBe(0);
    expect(other.body.memory).toEqual({ nodes: 0, edges: 0, commits: 0 });
    expect((await api.get('/v1/admin/control/dashboard/tenants/nobody-here').set(t.auth)).status).toBe(404);
  });

  it('serves time series with percentiles from the histograms and error-budget burn', async () => {
    const s = await api.get('/v1/admin/control/dashboard/tenants/tel-a/timeseries?window=1h&endpoint=write').set(t.auth);
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ window: '1h', bucket: 'minute', endpoint: 'write', slo_target: 0.995 });
    const total = s.body.buckets.reduce((n: number, b: { requests: number }) => n + b.requests, 0);
    expect(total).toBe(6);
    for (const b of s.body.buckets) expect(b).toMatchObject({ error_budget_burn: 0, latency_ms: { p99: expect.anything() } });
    expect((await api.get('/v1/admin/control/dashboard/tenants/tel-a/timeseries?window=2y').set(t.auth)).status).toBe(400);
  });

  it('prunes rollups past the tenant retention', async () => {
    await sql`INSERT INTO telemetry_rollups (tenant_id, project_key, key_id, endpoint, minute, total, status_2xx, status_4xx, status_429, status_5xx, latency_sum_ms, buckets)
      VALUES ('tel-a', '', 'kold', 'write', now() - interval '400 days', 1, 1, 0, 0, 0, 3, ARRAY[1,0,0,0,0,0,0,0,0,0,0]::bigint[])`.execute(t.tdb.database.db);
    const before = (await rows()).n;
    const deleted = await t.service.app.get(TelemetryRecorder).prune();
    expect(deleted).toBe(1);
    expect((await rows()).n).toBe(before - 1);
  });
});
