import request from 'supertest';
import { AlertEvaluator } from '../../src/alerting/alert-evaluator';
import { emptyRollup } from '../../src/data-plane/telemetry/telemetry';
import { TelemetryRepository } from '../../src/data-plane/telemetry/telemetry.repository';
import { startTestService, type TestService } from '../support/service';

const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The console overview's "firing alerts" column comes from the overview endpoint, counted over
 * every firing alert of the read model: more alerts fire than one page of the alerts API holds,
 * and each tenant's count is still right.
 */
describe('overview: firing alerts per tenant, beyond one page of the alerts API', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  const burning = Array.from({ length: 18 }, (_, i) => `burn-${String(i).padStart(2, '0')}`);

  beforeAll(async () => {
    t = await startTestService({ env: { ALERT_MIN_REQUESTS: '5', ALERT_MIN_FIRING_MS: '0', ALERT_RESOLVE_DELAY_MS: '0', ALERT_REFIRE_HOLD_MS: '0' } });
    api = request(t.url);
    for (const tenant_id of [...burning, 'calm-co']) await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id, tier: 'growth' }).expect(201);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  async function traffic(tenant: string, total: number, errors: number): Promise<void> {
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
    const rollup = { ...emptyRollup(), total, status_2xx: total - errors, status_5xx: errors, latency_sum_ms: total, buckets: [total, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] };
    await t.service.app.get(TelemetryRepository).addRollup({ tenant, project: '', key: 'k', endpoint: 'write', minute, rollup });
  }
  const overview = async (query: Record<string, string>) =>
    (await api.get('/v1/admin/control/overview/tenants').query(query).set(t.auth).expect(200)).body as { items: { tenant_id: string; firing_alerts: number }[]; total: number };

  it('counts every firing alert per tenant (54 firing; the alerts API pages them 50 at a time), sorts by them, and counts resolutions out', async () => {
    for (const tenant of burning) await traffic(tenant, 100, 60);
    await traffic('calm-co', 100, 0);
    const decisions = await t.service.app.get(AlertEvaluator).tick();
    expect(decisions.filter((d) => d.kind === 'fire' && d.tenant_id !== null)).toHaveLength(54);
    const firstPage = async () => (await api.get('/v1/admin/control/alerts').query({ state: 'firing' }).set(t.auth).expect(200)).body as { items: { tenant_id: string | null }[]; next_cursor: string | null };
    const end = Date.now() + 20_000;
    while ((await overview({ limit: '200' })).items.reduce((s, r) => s + r.firing_alerts, 0) < 54 && Date.now() < end) await sleep(100);
    // One page of the alerts API is not all of them: counting it would miss some tenants.
    const page = await firstPage();
    expect(page.items).toHaveLength(50);
    expect(page.next_cursor).not.toBeNull();

    const all = await overview({ limit: '200' });
    expect(Object.fromEntries(all.items.map((r) => [r.tenant_id, r.firing_alerts]))).toEqual({ ...Object.fromEntries(burning.map((b) => [b, 3])), 'calm-co': 0 });
    const sorted = await overview({ sort: 'firing_alerts', order: 'asc', limit: '1' });
    expect(sorted.items).toEqual([expect.objectContaining({ tenant_id: 'calm-co', firing_alerts: 0 })]);

    // One tenant recovers: its alerts resolve and its count drops to 0; the others keep theirs.
    await traffic('burn-00', 200_000, 0);
    const resolved = await t.service.app.get(AlertEvaluator).tick();
    expect(resolved.filter((d) => d.kind === 'resolve').map((d) => d.tenant_id)).toEqual(['burn-00', 'burn-00', 'burn-00']);
    const until = Date.now() + 20_000;
    while ((await overview({ q: 'burn-00' })).items[0]!.firing_alerts !== 0 && Date.now() < until) await sleep(100);
    expect((await overview({ q: 'burn-00' })).items[0]!.firing_alerts).toBe(0);
    expect((await overview({ q: 'burn-01' })).items[0]!.firing_alerts).toBe(3);
  }, 60_000);

  it('one alert by id: 404 alert_not_found for an unknown id, 400 for a malformed one', async () => {
    const unknown = await api.get('/v1/admin/control/alerts/00000000-0000-4000-8000-000000000000').set(t.auth);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: 'alert_not_found' });
    expect((await api.get('/v1/admin/control/alerts/not-an-id').set(t.auth)).status).toBe(400);
  });
});
