import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import request from 'supertest';
import { type EmbeddingProvider, EmbeddingError } from '../../src/data-plane/embeddings/embedding-provider';
import { AlertRecorder } from '../../src/alerting/alert-recorder';
import { ALERT_RULES } from '../../src/alerting/rules';
import { ALERTS_FILE, DASHBOARD_FILE, referencedMetrics } from '../support/deploy-config';
import { type Exposition, familyOf, parseExposition, samplesOf } from '../support/promql';
import { until } from '../support/until';
import { startTestService, type TestService } from '../support/service';
import { onlyIf, pgOnly } from '../support/skips';
import { usingPostgres } from '../support/test-db';

/**
 * /metrics on a real server after real traffic and a real outbox dead letter: every metric the
 * shipped Prometheus rules and Grafana dashboard read is exported, and the gauges read from the
 * database report what was seeded. METRICS_GAUGE_CACHE_MS=0 so each scrape reads the database.
 */
const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Only on PGlite: the embedded database has one session, so no open-transaction gauge (docs/observability.md). */
const pgliteOnly = onlyIf(!usingPostgres(), 'the PGlite case: on PostgreSQL the gauge has a series, tested below');
const PGLITE_ABSENT = new Set(['aionis_db_oldest_write_transaction_age_seconds']);

describe('/metrics: the shipped alerts and dashboard read real metrics (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  const failing: EmbeddingProvider = { model: 'broken', dimensions: 1536, embed: () => Promise.reject(new EmbeddingError('provider down', true)) };

  const scrape = async (): Promise<Exposition> => {
    const res = await api.get('/metrics').expect(200);
    return parseExposition(res.text);
  };
  const deadLetters = async (): Promise<number> =>
    Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_outbox WHERE status = 'dead_letter'`.execute(t.tdb.database.db)).rows[0]?.n ?? 0);

  beforeAll(async () => {
    t = await startTestService({ env: { OUTBOX_MAX_ATTEMPTS: '1', OUTBOX_POLL_INTERVAL_MS: '50', METRICS_GAUGE_CACHE_MS: '0' }, embeddingProvider: failing });
    api = request(t.url);
    // Traffic: 2xx, 4xx (no key, unknown tenant) and two writes whose embedding jobs dead-letter.
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'metrics-co' }).expect(201);
    const key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'metrics-co' }).expect(201)).body.api_key as string;
    for (let i = 0; i < 2; i++) {
      await api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 's', input_text: `${i}`, memory_lane: 'shared', nodes: [{ client_id: `m-${i}`, type: 'event', title: `node ${i}` }] }).expect(200);
    }
    await api.post('/v1/memory/find').set(json).send({ scope: 's' }).expect(401);
    await api.get('/v1/admin/control/tenants/nobody').set(t.auth).expect(404);
    const until = Date.now() + 15_000;
    while ((await deadLetters()) < 2 && Date.now() < until) await sleep(50);
    expect(await deadLetters()).toBe(2);
    // The backlog, seeded behind the worker's back: jobs not due for an hour (never claimed) and one claimed just now.
    const ins = (status: string, attempts: number, ageS: number) => sql`
      INSERT INTO memory_outbox (job_id, tenant_id, project_key, scope, commit_id, type, payload, status, attempts, max_attempts, next_attempt_at, claimed_at, claimed_by, created_at, updated_at)
      VALUES (${randomUUID()}::uuid, 'metrics-co', 'default', 's', ${randomUUID()}::uuid, 'embed_nodes', '{"nodes":[]}'::jsonb, ${status}, ${attempts}, 1,
              now() + interval '1 hour', ${status === 'processing' ? sql`now()` : sql`NULL`}, ${status === 'processing' ? 'metrics-test' : null},
              now() - make_interval(secs => ${ageS}), now())`.execute(t.tdb.database.db);
    await ins('pending', 0, 1200);
    await ins('pending', 0, 30);
    await ins('pending', 1, 600);
    await ins('processing', 1, 60);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('exports every metric that alerts.yml and the Grafana dashboard reference', async () => {
    const e = await scrape();
    const referenced = referencedMetrics();
    expect(referenced.size).toBeGreaterThanOrEqual(8);
    const missing: string[] = [];
    for (const [name, where] of referenced) {
      if (!usingPostgres() && PGLITE_ABSENT.has(name)) continue;
      const family = familyOf(name, e.types);
      // Exported = declared and with at least one series of that exact name in this scrape.
      if (!family || samplesOf(e, name).length === 0) missing.push(`${name} (${where.join('; ')})`);
    }
    expect({ files: [ALERTS_FILE, DASHBOARD_FILE], missing }).toEqual({ files: [ALERTS_FILE, DASHBOARD_FILE], missing: [] });
    expect(familyOf('aionis_http_request_duration_seconds_bucket', e.types)).toBe('aionis_http_request_duration_seconds');
    expect(e.types.get('aionis_http_request_duration_seconds')).toBe('histogram');
    // The latency SLO's bucket bound is a real bucket.
    expect(samplesOf(e, 'aionis_http_request_duration_seconds_bucket', { le: '0.5' }).length).toBeGreaterThan(0);
    expect(samplesOf(e, 'aionis_http_requests_total', { status: '401' }).length).toBeGreaterThan(0);
  });

  it('reports the seeded backlog and the dead letters by job type, with no tenant label', async () => {
    const e = await scrape();
    const one = (name: string, labels: Record<string, string>): number => {
      const s = samplesOf(e, name, labels);
      expect({ name, labels, series: s.length }).toEqual({ name, labels, series: 1 });
      return s[0]!.value;
    };
    expect(one('aionis_outbox_backlog_jobs', { type: 'embed_nodes', status: 'pending' })).toBe(2);
    expect(one('aionis_outbox_backlog_jobs', { type: 'embed_nodes', status: 'retrying' })).toBe(1);
    expect(one('aionis_outbox_backlog_jobs', { type: 'embed_nodes', status: 'processing' })).toBe(1);
    const age = one('aionis_outbox_backlog_oldest_age_seconds', { type: 'embed_nodes' });
    expect(age).toBeGreaterThanOrEqual(1200);
    expect(age).toBeLessThan(1300);
    expect(one('aionis_outbox_dead_letter_jobs', { type: 'embed_nodes' })).toBe(2);
    expect(one('aionis_outbox_job_failures_total', { type: 'embed_nodes', outcome: 'dead_letter' })).toBe(2);
    for (const name of ['aionis_outbox_backlog_jobs', 'aionis_outbox_backlog_oldest_age_seconds', 'aionis_outbox_dead_letter_jobs', 'aionis_db_oldest_write_transaction_age_seconds', 'aionis_alerts_firing']) {
      for (const s of samplesOf(e, name)) expect(s.labels).not.toHaveProperty('tenant_id');
    }
    // A replay empties the dead letters and the next scrape says so (no cache in this test).
    await api.post('/v1/admin/control/dead-letters/discard').set(t.auth).set(json).send({ tenant_id: 'metrics-co', reason: 'metrics test' }).expect(200);
    expect(samplesOf(await scrape(), 'aionis_outbox_dead_letter_jobs', { type: 'embed_nodes' })[0]?.value).toBe(0);
  });

  it('aionis_alerts_firing reports the alerts read model: every rule at 0, a firing alert on its rule and severity, 0 again once resolved', async () => {
    const firing = async () => Object.fromEntries(samplesOf(await scrape(), 'aionis_alerts_firing').map((x) => [`${x.labels.rule}/${x.labels.severity}`, x.value]));
    const before = await firing();
    expect(Object.keys(before).sort()).toEqual(ALERT_RULES.map((r) => `${r.rule}/${r.severity}`).sort());
    expect(Object.values(before).every((v) => v === 0)).toBe(true);
    // A real alert, recorded as the evaluator records one (event + read model).
    const recorder = t.service.app.get(AlertRecorder);
    const fired = await recorder.record({ kind: 'fire', rule: 'slo-availability-fast-burn', tenant_id: 'metrics-co', severity: 'page', numbers: { burn_rate_long: 20 } });
    expect(fired).not.toBeNull();
    await until('the firing alert in the gauge', async () => (await firing())['slo-availability-fast-burn/page'] === 1);
    expect((await firing())['slo-availability-slow-burn/ticket']).toBe(0);
    await recorder.record({ kind: 'resolve', alert_id: fired!.alert_id, rule: 'slo-availability-fast-burn', tenant_id: 'metrics-co', numbers: {} });
    await until('the resolution in the gauge', async () => (await firing())['slo-availability-fast-burn/page'] === 0);
  });

  it('a later registration replaces the read model\'s count; removing it leaves no series', async () => {
    const unregister = t.service.infra.metrics.registerFiringAlerts(() =>
      Promise.resolve([
        { rule: 'AionisAvailabilityBurnFast', severity: 'page', firing: 2 },
        { rule: 'AionisOutboxDeadLetters', severity: 'ticket', firing: 0 },
      ]),
    );
    const e = await scrape();
    expect(samplesOf(e, 'aionis_alerts_firing').map((s) => [s.labels.rule, s.labels.severity, s.value])).toEqual([
      ['AionisAvailabilityBurnFast', 'page', 2],
      ['AionisOutboxDeadLetters', 'ticket', 0],
    ]);
    unregister();
    expect(samplesOf(await scrape(), 'aionis_alerts_firing')).toEqual([]);
  });

  it('a failing count source leaves aionis_alerts_firing out of the scrape instead of failing /metrics', async () => {
    const unregister = t.service.infra.metrics.registerFiringAlerts(() => Promise.reject(new Error('alerts table missing')));
    const e = await scrape();
    expect(samplesOf(e, 'aionis_alerts_firing')).toEqual([]);
    expect(samplesOf(e, 'aionis_outbox_dead_letter_jobs').length).toBeGreaterThan(0);
    unregister();
  });

  pgliteOnly.it('on PGlite, the open-transaction gauge has no series (one embedded session: nothing to measure)', async () => {
    expect(samplesOf(await scrape(), 'aionis_db_oldest_write_transaction_age_seconds')).toEqual([]);
  });

  pgOnly.it('reports the age of the oldest open write transaction of this database', async () => {
    expect(samplesOf(await scrape(), 'aionis_db_oldest_write_transaction_age_seconds')[0]?.value).toBeLessThan(60);
    const client = new pg.Client({ connectionString: t.tdb.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT txid_current()'); // a transaction id: it has "written"
      await sleep(1500);
      const age = samplesOf(await scrape(), 'aionis_db_oldest_write_transaction_age_seconds')[0]?.value ?? -1;
      expect(age).toBeGreaterThanOrEqual(1.4);
      expect(age).toBeLessThan(30);
      await client.query('COMMIT');
      // Gone once committed (the service's own write transactions are short).
      expect(samplesOf(await scrape(), 'aionis_db_oldest_write_transaction_age_seconds')[0]?.value).toBeLessThan(age);
    } finally {
      await client.end();
    }
  });
});
