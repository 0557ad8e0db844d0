import { sql } from 'kysely';
import request from 'supertest';
import { switchableProvider } from '../../src/ops/cli/drill-support';
import { emptyRollup } from '../../src/data-plane/telemetry/telemetry';
import { TelemetryRepository } from '../../src/data-plane/telemetry/telemetry.repository';
import { startTestService, type TestService } from '../support/service';
import { until } from '../support/until';

const json = { 'Content-Type': 'application/json' };
const HOUR = 3_600_000;
const hourStart = (msAgo: number) => new Date(Math.floor((Date.now() - msAgo) / HOUR) * HOUR).toISOString();

/**
 * The tenant page's two derived series, against a real server and database: the outbox backlog
 * over time (from the jobs' creation and completion times) and the error-budget burn against the
 * tenant's effective SLO (availability and latency, the burn-rate alerts' definitions).
 */
describe("a tenant's outbox backlog and error-budget burn over time (real server)", () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  const embeddings = switchableProvider(1536);
  embeddings.setBroken(true);

  beforeAll(async () => {
    t = await startTestService({ env: { OUTBOX_POLL_INTERVAL_MS: '50', OUTBOX_MAX_ATTEMPTS: '50' }, embeddingProvider: embeddings.provider });
    api = request(t.url);
    for (const id of ['series-a', 'series-b']) await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id, tier: 'growth' }).expect(201);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  const series = async (tenant: string, window: string) => (await api.get(`/v1/admin/control/dashboard/tenants/${tenant}/timeseries?window=${window}`).set(t.auth).expect(200)).body as { buckets: { start: string; requests: number; outbox_backlog: number }[] };

  it('charts the backlog: jobs open at the end of each bucket, from creation until done', async () => {
    const key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'series-a' }).expect(201)).body.api_key as string;
    for (let i = 0; i < 4; i++) {
      await api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 's', input_text: `${i}`, memory_lane: 'shared', nodes: [{ client_id: `n${i}`, type: 'event', title: `n${i}` }] }).expect(200);
    }
    // The provider is down: the four jobs stay in the backlog.
    const now = await series('series-a', '1h');
    expect(now.buckets.at(-1)).toMatchObject({ outbox_backlog: 4 });
    // History by the hour: two of the jobs were created three hours ago and finished two hours ago.
    const jobs = (await sql<{ job_id: string }>`SELECT job_id::text AS job_id FROM memory_outbox WHERE tenant_id = 'series-a' ORDER BY job_id LIMIT 2`.execute(t.tdb.database.db)).rows.map((r) => r.job_id);
    await sql`UPDATE memory_outbox SET status = 'done', created_at = ${hourStart(3 * HOUR)}::timestamptz + interval '1 minute', updated_at = ${hourStart(2 * HOUR)}::timestamptz + interval '1 minute'
      WHERE job_id = ANY(${sql.val(jobs)}::uuid[])`.execute(t.tdb.database.db);
    const telemetry = t.service.app.get(TelemetryRepository);
    for (const ago of [4, 3, 2, 1]) {
      await telemetry.addRollup({ tenant: 'series-a', project: '', key: 'k', endpoint: 'find', minute: new Date(Date.parse(hourStart(ago * HOUR)) + 30 * 60_000).toISOString(), rollup: { ...emptyRollup(), total: 1, status_2xx: 1, buckets: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] } });
    }
    const day = await series('series-a', '24h');
    const at = (ago: number) => day.buckets.find((b) => b.start === hourStart(ago * HOUR))?.outbox_backlog;
    expect([at(4), at(3), at(2), at(1), at(0)]).toEqual([0, 2, 0, 0, 2]);
    // The provider is back: the backlog drains, and the current bucket says so.
    embeddings.setBroken(false);
    await until('the backlog drained', async () => (await series('series-a', '1h')).buckets.at(-1)?.outbox_backlog === 0, 30_000);
    // Another tenant's jobs are never in it.
    expect((await series('series-b', '24h')).buckets).toEqual([]);
  });

  it("measures the burn against the tenant's effective SLO: 5xx for availability (429 not counted), requests over the threshold for latency", async () => {
    await api.put('/v1/admin/control/tenants/series-b/slo').set(t.auth).set(json).send({ availability_target: 0.99, latency_threshold_ms: 250, latency_target: 0.9 }).expect(200);
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
    // 100 requests: 3 failed (5xx), 10 refused by the quota (429, not counted), 20 slower than 250 ms.
    await t.service.app.get(TelemetryRepository).addRollup({
      tenant: 'series-b',
      project: '',
      key: 'k',
      endpoint: 'find',
      minute,
      rollup: { ...emptyRollup(), total: 100, status_2xx: 87, status_429: 10, status_5xx: 3, latency_sum_ms: 10_000, buckets: [0, 0, 0, 0, 80, 0, 20, 0, 0, 0, 0] },
    });
    const r = await api.get('/v1/admin/control/tenants/series-b/slo/burn?window=1h').set(t.auth).expect(200);
    expect(r.body).toMatchObject({ tenant_id: 'series-b', window: '1h', bucket: 'minute', targets: { availability_target: 0.99, latency_threshold_ms: 250, latency_target: 0.9 } });
    expect(r.body.buckets).toEqual([{ start: minute, requests: 100, availability: { bad: 3, burn: 3 }, latency: { slow: 20, burn: 2 } }]);
    // Over one hour, a burn of 3 consumes 3/720 of a 30-day budget.
    expect(r.body.summary).toEqual({ requests: 100, availability: { bad: 3, burn: 3, budget_consumed: 0.004 }, latency: { slow: 20, burn: 2, budget_consumed: 0.003 } });
    // The dashboard's series uses the same availability definition against the tier's default target (0.995).
    const d = (await series('series-b', '1h')).buckets.find((b) => b.start === minute) as unknown as { error_budget_burn: number; error_rate: number };
    expect(d).toMatchObject({ error_budget_burn: 6, error_rate: 0.13 });
    // Another tenant's traffic is not in it; bad input is a 400, an unknown tenant a 404.
    expect((await api.get('/v1/admin/control/tenants/series-a/slo/burn?window=1h').set(t.auth).expect(200)).body.buckets.every((b: { availability: { bad: number } }) => b.availability.bad === 0)).toBe(true);
    expect((await api.get('/v1/admin/control/tenants/series-b/slo/burn?window=2y').set(t.auth)).status).toBe(400);
    expect((await api.get('/v1/admin/control/tenants/series-b/slo/burn?bucket=day').set(t.auth)).status).toBe(400);
    expect((await api.get('/v1/admin/control/tenants/nobody-here/slo/burn').set(t.auth)).status).toBe(404);
  });
});
