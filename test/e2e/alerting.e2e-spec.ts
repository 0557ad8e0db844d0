import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import request from 'supertest';
import { AlertEvaluator } from '../../src/alerting/alert-evaluator';
import { verifyAionisSignature } from '../../src/alerting/webhook-signature';
import { TelemetryRepository } from '../../src/data-plane/telemetry/telemetry.repository';
import { emptyRollup } from '../../src/data-plane/telemetry/telemetry';
import { startTestService, type TestService } from '../support/service';

const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface Received {
  readonly path: string;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  readonly body: Record<string, unknown>;
}

/**
 * Alert delivery end to end against a real local HTTP receiver: burn-rate alerts fire from the
 * telemetry rollups, are recorded once, and reach each matching route through the outbox:
 * a receiver that fails then recovers gets each alert exactly once, a dead one dead-letters and
 * a replay delivers, signatures verify and an old delivery replayed later is refused.
 */
describe('alerting: burn-rate alerts delivered through the outbox (real receiver)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  let receiver: Server;
  let base = '';
  const received: Received[] = [];
  let flakyFailuresLeft = 2;
  let deadIsDead = true;
  const secrets: Record<string, string> = {};

  const ok = (path: string) => received.filter((r) => r.path === path && r.status === 200);
  const minute = () => new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
  async function traffic(tenant: string, total: number, errors: number): Promise<void> {
    const rollup = { ...emptyRollup(), total, status_2xx: total - errors, status_5xx: errors, latency_sum_ms: total, buckets: [total, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] };
    await t.service.app.get(TelemetryRepository).addRollup({ tenant, project: '', key: 'k', endpoint: 'write', minute: minute(), rollup });
  }
  const evaluate = () => t.service.app.get(AlertEvaluator).tick();

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const path = req.url ?? '';
        let status = 200;
        if (path === '/flaky' && flakyFailuresLeft > 0) {
          flakyFailuresLeft -= 1;
          status = 500;
        }
        if (path === '/dead' && deadIsDead) status = 503;
        received.push({ path, status, headers: req.headers, raw, body: JSON.parse(raw) as Record<string, unknown> });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    t = await startTestService({
      env: {
        PUBLIC_URL: 'https://aionis.example.com',
        RUNBOOK_BASE_URL: 'https://git.example/aionis/blob/main',
        ALERT_MIN_REQUESTS: '5',
        ALERT_MIN_FIRING_MS: '0',
        ALERT_RESOLVE_DELAY_MS: '0',
        ALERT_REFIRE_HOLD_MS: '0',
        ALERT_DELIVERY_MAX_ATTEMPTS: '3',
        OUTBOX_POLL_INTERVAL_MS: '50',
      },
    });
    api = request(t.url);
    for (const tenant_id of ['burn-a', 'calm-b']) await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id, tier: 'growth' }).expect(201);
    const routes = [
      { route_id: 'flaky', kind: 'webhook', url: `${base}/flaky`, severities: ['page'], tenant_ids: ['burn-a'], include_platform: false },
      { route_id: 'dead', kind: 'webhook', url: `${base}/dead`, tenant_ids: ['burn-a'], include_platform: false },
      { route_id: 'slack', kind: 'slack', url: `${base}/slack`, severities: ['ticket'], include_platform: false },
      { route_id: 'only-b', kind: 'webhook', url: `${base}/only-b`, tenant_ids: ['calm-b'], include_platform: false },
    ];
    for (const r of routes) {
      const res = await api.post('/v1/admin/control/alert-routes').set(t.auth).set(json).send(r);
      expect(res.status).toBe(201);
      secrets[r.route_id] = (res.body as { signing_secret: string }).signing_secret;
    }
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
    await new Promise<void>((r) => receiver.close(() => r()));
  });

  it('fires each breached burn-rate rule once for the burning tenant only, with runbook, console link and numbers', async () => {
    await traffic('burn-a', 100, 60);
    await traffic('calm-b', 100, 0);
    const decisions = await evaluate();
    expect(decisions.map((d) => `${d.kind} ${d.rule} ${d.tenant_id}`).sort()).toEqual([
      'fire slo-availability-fast-burn burn-a',
      'fire slo-availability-medium-burn burn-a',
      'fire slo-availability-slow-burn burn-a',
    ]);
    // Deduplicated: a second evaluation of the same burn records nothing (even before the read model has the alerts).
    expect(await evaluate()).toEqual([]);
    const firing = () => api.get('/v1/admin/control/alerts?state=firing&tenant_id=burn-a').set(t.auth).expect(200);
    await until('the alerts read model', async () => ((await firing()).body.items as unknown[]).length === 3);
    expect(await evaluate()).toEqual([]);
    const list = await firing();
    expect(list.body.items).toHaveLength(3);
    const fast = (list.body.items as Record<string, unknown>[]).find((a) => a.rule === 'slo-availability-fast-burn')!;
    expect(fast).toMatchObject({
      tenant_id: 'burn-a',
      severity: 'page',
      state: 'firing',
      resolved_at: null,
      runbook_url: 'https://git.example/aionis/blob/main/runbooks/alerts.md#slo-availability-fast-burn',
      console_url: `https://aionis.example.com/console/alerts/${fast.alert_id as string}`,
    });
    expect(fast.numbers).toMatchObject({ requests_long: 100, bad_long: 60, factor: 14.4, target: 0.995 });
    expect((await api.get('/v1/admin/control/alerts?tenant_id=calm-b').set(t.auth).expect(200)).body).toEqual({ items: [], next_cursor: null });
    // Cursor paging.
    const p1 = await api.get('/v1/admin/control/alerts?limit=2').set(t.auth).expect(200);
    expect(p1.body.items).toHaveLength(2);
    const p2 = await api.get(`/v1/admin/control/alerts?limit=2&cursor=${p1.body.next_cursor as string}`).set(t.auth).expect(200);
    expect(p2.body.next_cursor).toBeNull();
    expect(new Set([...p1.body.items, ...p2.body.items].map((a: { alert_id: string }) => a.alert_id)).size).toBe(3);
    // The events are in the log (and so in the audit trail), on one stream per rule and tenant.
    const events = await sql<{ stream_id: string; type: string }>`SELECT stream_id, type FROM es_events WHERE type = 'AlertFired' ORDER BY stream_id`.execute(t.tdb.database.db);
    expect(events.rows.map((e) => e.stream_id)).toEqual(['alert-slo-availability-fast-burn.burn-a', 'alert-slo-availability-medium-burn.burn-a', 'alert-slo-availability-slow-burn.burn-a']);
  });

  it('a receiver that fails then recovers gets each alert exactly once after retries, signed', async () => {
    await until('two deliveries to the flaky receiver', () => ok('/flaky').length >= 2);
    await sleep(2500); // time for any duplicate to show up
    const got = ok('/flaky');
    expect(received.filter((r) => r.path === '/flaky' && r.status === 500)).toHaveLength(2);
    expect(got.map((r) => r.body.rule).sort()).toEqual(['slo-availability-fast-burn', 'slo-availability-medium-burn']);
    expect(new Set(got.map((r) => r.headers['x-aionis-delivery'])).size).toBe(2);
    for (const r of got) {
      expect(r.body).toMatchObject({ event: 'alert.fired', state: 'firing', tenant_id: 'burn-a', severity: 'page' });
      const sig = r.headers['x-aionis-signature'] as string;
      expect(sig).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(verifyAionisSignature(r.raw, sig, secrets.flaky!)).toEqual({ ok: true });
      // The same delivery replayed ten minutes later is refused by the documented check.
      expect(verifyAionisSignature(r.raw, sig, secrets.flaky!, 300, Math.floor(Date.now() / 1000) + 600)).toEqual({ ok: false, reason: 'stale' });
      expect(verifyAionisSignature(r.raw, sig, secrets.dead!)).toEqual({ ok: false, reason: 'mismatch' });
    }
    expect(ok('/only-b')).toHaveLength(0);
  }, 40_000);

  it('a Slack route gets {text, blocks} for the severities it takes', async () => {
    await until('the slack delivery', () => ok('/slack').length >= 1);
    const s = ok('/slack');
    expect(s).toHaveLength(1);
    expect(Object.keys(s[0]!.body).sort()).toEqual(['blocks', 'text']);
    expect(s[0]!.body.text).toContain('slo-availability-slow-burn');
    expect(JSON.stringify(s[0]!.body.blocks)).toContain('runbooks/alerts.md#slo-availability-slow-burn');
  }, 40_000);

  it('a dead receiver dead-letters (and the dead-letters platform alert fires); the dead-letter API lists the alert_delivery jobs and a replay delivers them', async () => {
    const dead = async () => (await api.get('/v1/admin/control/dead-letters?type=alert_delivery').set(t.auth).expect(200)).body as { items: { job_id: string; last_error: string }[] };
    await until('three dead-lettered deliveries', async () => (await dead()).items.length === 3, 40_000);
    expect(received.filter((r) => r.path === '/dead')).toHaveLength(9); // 3 alerts x 3 attempts
    expect((await dead()).items[0]!.last_error).toContain('HTTP 503');
    // The platform alert for dead letters fires (no tenant), with the numbers and its runbook.
    const platform = await evaluate();
    expect(platform.map((d) => `${d.kind} ${d.rule} ${String(d.tenant_id)}`)).toEqual(['fire dead-letters null']);
    expect(platform[0]!.numbers).toMatchObject({ dead_letters: 3, tenants: 1, types: 'alert_delivery' });
    deadIsDead = false;
    const dry = await api.post('/v1/admin/control/dead-letters/replay').set(t.auth).set(json).send({ type: 'alert_delivery', tenant_id: 'burn-a', reason: 'receiver fixed', dry_run: true }).expect(200);
    expect(dry.body).toMatchObject({ matched: 3, affected: 0 });
    const replay = await api.post('/v1/admin/control/dead-letters/replay').set(t.auth).set(json).send({ type: 'alert_delivery', tenant_id: 'burn-a', reason: 'receiver fixed' }).expect(200);
    expect(replay.body).toMatchObject({ matched: 3, affected: 3 });
    await until('three deliveries after the replay', () => ok('/dead').length >= 3);
    const rules = ok('/dead').map((r) => r.body.rule).sort();
    expect(rules).toEqual(['slo-availability-fast-burn', 'slo-availability-medium-burn', 'slo-availability-slow-burn']);
    for (const r of ok('/dead')) expect(verifyAionisSignature(r.raw, r.headers['x-aionis-signature'] as string, secrets.dead!)).toEqual({ ok: true });
    expect((await dead()).items).toHaveLength(0);
  }, 60_000);

  it('recovery resolves the alerts (events, read model, deliveries to the routes that took the firing)', async () => {
    await traffic('burn-a', 200_000, 0);
    const decisions = await evaluate();
    expect(decisions.map((d) => `${d.kind} ${d.rule}`).sort()).toEqual(['resolve dead-letters', 'resolve slo-availability-fast-burn', 'resolve slo-availability-medium-burn', 'resolve slo-availability-slow-burn']);
    await until('the platform alert resolved in the read model', async () => {
      const r = await api.get('/v1/admin/control/alerts?rule=dead-letters').set(t.auth).expect(200);
      return (r.body.items as { state: string; tenant_id: string | null }[]).some((a) => a.state === 'resolved' && a.tenant_id === null);
    });
    const resolvedList = () => api.get('/v1/admin/control/alerts?state=resolved&tenant_id=burn-a').set(t.auth).expect(200);
    await until('the resolutions in the read model', async () => ((await resolvedList()).body.items as unknown[]).length === 3);
    const resolved = await resolvedList();
    expect(resolved.body.items).toHaveLength(3);
    for (const a of resolved.body.items as { resolved_at: string | null }[]) expect(a.resolved_at).not.toBeNull();
    expect((await api.get('/v1/admin/control/alerts?state=firing').set(t.auth).expect(200)).body.items).toEqual([]);
    await until('two resolutions to the flaky receiver', () => ok('/flaky').filter((r) => r.body.event === 'alert.resolved').length >= 2);
    expect(ok('/flaky').filter((r) => r.body.event === 'alert.resolved').map((r) => r.body.rule).sort()).toEqual(['slo-availability-fast-burn', 'slo-availability-medium-burn']);
  }, 40_000);

  it('SLO overrides are events behind the admin API; routes are changed by owners only', async () => {
    const put = await api.put('/v1/admin/control/tenants/burn-a/slo').set(t.auth).set(json).send({ availability_target: 0.999 }).expect(200);
    expect(put.body).toMatchObject({ tenant_id: 'burn-a', tier: 'growth', targets: { availability_target: 0.999 }, overridden: ['availability_target'], revision: 1 });
    expect((await api.get('/v1/admin/control/tenants/burn-a/slo').set(t.auth).expect(200)).body.targets.availability_target).toBe(0.999);
    expect((await api.put('/v1/admin/control/tenants/burn-a/slo').set(t.auth).set(json).send({ latency_threshold_ms: 300 })).status).toBe(400);
    expect((await api.put('/v1/admin/control/tenants/nobody/slo').set(t.auth).set(json).send({})).status).toBe(404);
    const cleared = await api.delete('/v1/admin/control/tenants/burn-a/slo').set(t.auth).expect(200);
    expect(cleared.body.overridden).toEqual([]);

    const op = await api.post('/v1/admin/control/operators').set(t.auth).set(json).send({ operator_id: 'op_oncall', display_name: 'On call', role: 'operator' }).expect(201);
    const opAuth = { Authorization: `Bearer ${(op.body as { token: string }).token}` };
    expect((await api.post('/v1/admin/control/alert-routes').set(opAuth).set(json).send({ route_id: 'x-route', kind: 'webhook', url: `${base}/x` })).status).toBe(403);
    expect((await api.get('/v1/admin/control/alert-routes').set(opAuth)).status).toBe(200);
    expect((await api.post('/v1/admin/control/alert-routes').set(t.auth).set(json).send({ route_id: 'flaky', kind: 'webhook', url: `${base}/x` })).status).toBe(409);
    const upd = await api.patch('/v1/admin/control/alert-routes/flaky').set(t.auth).set(json).send({ severities: ['page', 'ticket'] }).expect(200);
    expect(upd.body.severities).toEqual(['page', 'ticket']);
    expect((await api.post('/v1/admin/control/alert-routes/flaky/disable').set(t.auth).expect(200)).body.enabled).toBe(false);
    const slack = await api.get('/v1/admin/control/alert-routes/slack').set(t.auth).expect(200);
    expect(slack.body.url).not.toContain('/slack');
    const types = await sql<{ type: string }>`SELECT DISTINCT type FROM es_events WHERE type LIKE 'AlertRoute%' OR type LIKE 'TenantSlo%' ORDER BY type`.execute(t.tdb.database.db);
    expect(types.rows.map((r) => r.type)).toEqual(['AlertRouteCreated', 'AlertRouteDisabled', 'AlertRouteUpdated', 'TenantSloOverridesCleared', 'TenantSloOverridesSet']);
  });

  it('never keeps a route URL in the clear in the log, the read model or the audit trail; the API shows a webhook URL in full and a Slack URL by its origin', async () => {
    const raw = await sql<{ url: string }>`SELECT data->>'url' AS url FROM es_events WHERE type IN ('AlertRouteCreated', 'AlertRouteUpdated')`.execute(t.tdb.database.db);
    expect(raw.rows.length).toBeGreaterThanOrEqual(4);
    for (const r of raw.rows) {
      expect(r.url).toMatch(/^aionis-sealed:v1:/);
      expect(r.url).not.toContain('/slack');
      expect(r.url).not.toContain('/flaky');
    }
    const rm = await sql<{ url: string }>`SELECT url FROM rm_alert_routes`.execute(t.tdb.database.db);
    expect(rm.rows.every((r) => r.url.startsWith('aionis-sealed:v1:'))).toBe(true);
    const audit = await api.get('/v1/admin/control/audit-events?type=AlertRouteCreated').set(t.auth).expect(200);
    expect((audit.body.items as { data: { url: string } }[]).map((e) => e.data.url)).toEqual(expect.arrayContaining([`${base}/…`]));
    expect(JSON.stringify(audit.body)).not.toMatch(/\/(slack|flaky|dead|only-b)\b/);
    expect((await api.get('/v1/admin/control/alert-routes/dead').set(t.auth).expect(200)).body.url).toBe(`${base}/dead`);
    expect((await api.get('/v1/admin/control/alert-routes/slack').set(t.auth).expect(200)).body.url).toBe(`${base}/…`);
    // An unchanged URL seals to the same string: no event.
    const before = await api.get('/v1/admin/control/alert-routes/dead').set(t.auth).expect(200);
    const again = await api.patch('/v1/admin/control/alert-routes/dead').set(t.auth).set(json).send({ url: `${base}/dead` }).expect(200);
    expect(again.headers.etag).toBe(before.headers.etag);
  });
});
