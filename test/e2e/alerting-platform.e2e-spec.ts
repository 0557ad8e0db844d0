import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import request from 'supertest';
import { AlertEvaluator } from '../../src/alerting/alert-evaluator';
import type { Decision } from '../../src/alerting/burn-rate';
import { verifyAionisSignature } from '../../src/alerting/webhook-signature';
import { type EmbeddingProvider, EmbeddingError } from '../../src/data-plane/embeddings/embedding-provider';
import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import { FilesystemEvidenceStore } from '../../src/governance/evidence/evidence-store';
import { isoWeekOf } from '../../src/governance/reports/iso-week';
import { runWeeklyReport } from '../../src/governance/reports/weekly-report.job';
import { ProjectionsService } from '../../src/platform/projections/projections.service';
import { startTestService, type TestService } from '../support/service';
import { onlyIf } from '../support/skips';
import { usingPostgres } from '../support/test-db';

const ROOT = join(__dirname, '../..');
const json = { 'Content-Type': 'application/json' };
const RUNBOOK_BASE = 'https://git.example/aionis/blob/main';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface Received {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  readonly body: Record<string, unknown>;
}

/** The alerts every case runs with: no minimum firing time, no resolve delay, no re-fire hold. */
const ALERT_ENV = {
  PUBLIC_URL: 'https://aionis.example.com',
  RUNBOOK_BASE_URL: RUNBOOK_BASE,
  ALERT_MIN_FIRING_MS: '0',
  ALERT_RESOLVE_DELAY_MS: '0',
  ALERT_REFIRE_HOLD_MS: '0',
  OUTBOX_POLL_INTERVAL_MS: '50',
};

/**
 * One service of its own for the enclosing describe (so no alert state bleeds between cases), a
 * real local webhook receiver, and an on-call route that takes platform alerts. The checks are
 * those of an on-call engineer: the alert fires once (event on its stream, the alerts API with
 * its runbook and numbers, a signed delivery) and resolves once the condition is gone.
 */
function platformAlertCase(options: { env?: Record<string, string>; embeddingProvider?: EmbeddingProvider }) {
  const h = {
    t: undefined as unknown as TestService,
    api: undefined as unknown as ReturnType<typeof request>,
    received: [] as Received[],
    secret: '',
    receiver: undefined as unknown as Server,
  };
  beforeAll(async () => {
    h.receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        h.received.push({ status: 200, headers: req.headers, raw, body: JSON.parse(raw) as Record<string, unknown> });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => h.receiver.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(h.receiver.address() as AddressInfo).port}/oncall`;
    h.t = await startTestService({ env: { ...ALERT_ENV, ...options.env }, ...(options.embeddingProvider ? { embeddingProvider: options.embeddingProvider } : {}) });
    h.api = request(h.t.url);
    const route = await h.api.post('/v1/admin/control/alert-routes').set(h.t.auth).set(json).send({ route_id: 'oncall', kind: 'webhook', url, include_platform: true }).expect(201);
    h.secret = (route.body as { signing_secret: string }).signing_secret;
  }, 60_000);
  afterAll(async () => {
    await h.t?.stop();
    await new Promise<void>((r) => h.receiver?.close(() => r()));
  });

  const tick = (): Promise<Decision[]> => h.t.service.app.get(AlertEvaluator).tick();
  const summary = (ds: readonly Decision[]) => ds.map((d) => `${d.kind} ${d.rule} ${String(d.tenant_id)}`);
  const streamEvents = async (rule: string) =>
    (await sql<{ stream_id: string; type: string }>`SELECT stream_id, type FROM es_events WHERE stream_id LIKE ${`alert-${rule}.%`} ORDER BY global_position`.execute(h.t.tdb.database.db)).rows;
  const listed = async (rule: string, state: 'firing' | 'resolved') =>
    (await h.api.get('/v1/admin/control/alerts').query({ state, rule }).set(h.t.auth).expect(200)).body.items as Record<string, unknown>[];

  /** Evaluates: exactly this platform alert fires (nothing else), and a second evaluation records nothing. */
  async function fires(rule: string): Promise<Decision> {
    const decisions = await tick();
    expect(summary(decisions)).toEqual([`fire ${rule} null`]);
    expect(await tick()).toEqual([]);
    expect(await streamEvents(rule)).toEqual([{ stream_id: `alert-${rule}.*`, type: 'AlertFired' }]);
    return decisions[0]!;
  }

  /** The alerts API lists it as firing, with its runbook section and the numbers that fired it. */
  async function listedFiring(rule: string, numbers: Record<string, unknown>): Promise<Record<string, unknown>> {
    await until(`${rule} firing in the alerts API`, async () => (await listed(rule, 'firing')).length === 1);
    const [alert] = await listed(rule, 'firing');
    expect(alert).toMatchObject({ rule, tenant_id: null, state: 'firing', resolved_at: null, runbook_url: `${RUNBOOK_BASE}/runbooks/alerts.md#${rule}` });
    expect(alert!.console_url).toBe(`https://aionis.example.com/console/alerts/${alert!.alert_id as string}`);
    expect(alert!.numbers).toMatchObject(numbers);
    // The alert's own resource (what its console page reads) is the same.
    expect((await h.api.get(`/v1/admin/control/alerts/${alert!.alert_id as string}`).set(h.t.auth).expect(200)).body).toEqual(alert);
    return alert!;
  }

  /** The on-call route received the message once, signed with its secret. */
  async function delivered(rule: string, event: 'alert.fired' | 'alert.resolved'): Promise<Record<string, unknown>> {
    const mine = () => h.received.filter((r) => r.body.rule === rule && r.body.event === event);
    await until(`the ${event} delivery of ${rule}`, () => mine().length >= 1);
    await sleep(300); // room for a duplicate to show up
    expect(mine()).toHaveLength(1);
    const r = mine()[0]!;
    expect(verifyAionisSignature(r.raw, r.headers['x-aionis-signature'] as string, h.secret)).toEqual({ ok: true });
    expect(r.body).toMatchObject({ rule, tenant_id: null, state: event === 'alert.fired' ? 'firing' : 'resolved', runbook_url: `${RUNBOOK_BASE}/runbooks/alerts.md#${rule}` });
    return r.body;
  }

  /** Evaluates after the condition cleared: it resolves (event, API, delivery) and stays resolved. */
  async function resolves(rule: string, alertId: string): Promise<Decision> {
    const decisions = await tick();
    expect(summary(decisions)).toEqual([`resolve ${rule} null`]);
    expect(await tick()).toEqual([]);
    expect((await streamEvents(rule)).map((e) => e.type)).toEqual(['AlertFired', 'AlertResolved']);
    await until(`${rule} resolved in the alerts API`, async () => (await listed(rule, 'resolved')).length === 1);
    expect(await listed(rule, 'firing')).toEqual([]);
    const [alert] = await listed(rule, 'resolved');
    expect(alert).toMatchObject({ alert_id: alertId, state: 'resolved' });
    expect(alert!.resolved_at).not.toBeNull();
    const body = await delivered(rule, 'alert.resolved');
    expect(body.alert_id).toBe(alertId);
    return decisions[0]!;
  }

  return { h, tick, fires, listedFiring, delivered, resolves };
}

describe('alerting: platform alert projection-lag (a projector stopped for real)', () => {
  const c = platformAlertCase({ env: { ALERT_PROJECTION_LAG_MS: '1000' } });

  it('fires while the quotas projector is stopped and events are appended; resolves once it runs and catches up', async () => {
    const { h } = c;
    const runner = h.t.service.app.get(ProjectionsService).runner('quotas')!;
    await runner.stop();
    expect(runner.state).toBe('stopped');
    // Events the stopped projector does not apply.
    for (const id of ['lag-a', 'lag-b']) await h.api.post('/v1/admin/control/tenants').set(h.t.auth).set(json).send({ tenant_id: id }).expect(201);
    const fired = await c.fires('projection-lag');
    expect(fired.numbers).toMatchObject({ stalled: 'quotas', threshold_ms: 1000 });
    const alert = await c.listedFiring('projection-lag', { stalled: 'quotas', threshold_ms: 1000 });
    await c.delivered('projection-lag', 'alert.fired');

    // The projector comes back (as a restarted process would) and catches up with the log.
    runner.start();
    await until('the quotas projector active and caught up', async () => {
      const q = (await h.t.service.app.get(ProjectionsService).health()).find((p) => p.projection === 'quotas')!;
      return q.state === 'active' && (q.lag_ms ?? 0) < 1000 && q.lag_events === 0;
    });
    const resolved = await c.resolves('projection-lag', alert.alert_id as string);
    expect(resolved.numbers).toMatchObject({ stalled: null, threshold_ms: 1000 });
  }, 60_000);
});

// PostgreSQL only: the embedded database is one connection inside this process (no second
// transaction can be held open beside the service's), and the evaluator does not read open
// transactions there (PlatformSignalsRepository reports null, never a breach).
onlyIf(usingPostgres(), 'PGlite is one connection in this process: no second write transaction can be held open beside the service, and the evaluator does not read open transactions there').describe(
  'alerting: platform alert oldest-write-transaction (a real open transaction on a second connection)',
  () => {
    const c = platformAlertCase({ env: { ALERT_OPEN_TRANSACTION_MS: '1000' } });

    it('fires while another connection holds a write transaction open; its delivery goes out, the read model waits for the commit; resolves after it', async () => {
      const { h } = c;
      const other = new pg.Client({ connectionString: h.t.tdb.url });
      await other.connect();
      let pid = 0;
      try {
        await other.query('BEGIN');
        pid = (await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        await other.query('SELECT pg_current_xact_id()'); // takes a transaction id, as any write does
        await sleep(1300);
        const fired = await c.fires('oldest-write-transaction');
        expect(fired.numbers).toMatchObject({ pid, threshold_ms: 1000 });
        expect(Number(fired.numbers.age_ms)).toBeGreaterThan(1000);
        // The delivery goes through the outbox, which does not wait for older transactions...
        const body = await c.delivered('oldest-write-transaction', 'alert.fired');
        expect(body.numbers).toMatchObject({ pid });
        // ...but the alerts read model is a gap-safe reader: it waits behind the open transaction
        // (runbooks/alerts.md says so: the webhook or Slack message comes first).
        await sleep(1000);
        expect((await h.api.get('/v1/admin/control/alerts').query({ rule: 'oldest-write-transaction' }).set(h.t.auth).expect(200)).body.items).toEqual([]);
        await other.query('COMMIT');
      } finally {
        await other.query('ROLLBACK').catch(() => undefined);
        await other.end();
      }
      const alert = await c.listedFiring('oldest-write-transaction', { pid, threshold_ms: 1000 });
      const resolved = await c.resolves('oldest-write-transaction', alert.alert_id as string);
      expect(resolved.numbers).toMatchObject({ age_ms: null, pid: null });
    }, 60_000);
  },
);

describe('alerting: platform alert outbox-backlog-age (an embedding provider failing retryably)', () => {
  const local = new LocalEmbeddingProvider(1536);
  let down = true;
  const provider: EmbeddingProvider = {
    model: local.model,
    dimensions: local.dimensions,
    embed: (texts) => (down ? Promise.reject(new EmbeddingError('provider answers 503', true, 503)) : local.embed(texts)),
  };
  const c = platformAlertCase({ env: { ALERT_OUTBOX_MAX_AGE_MS: '1000', OUTBOX_MAX_ATTEMPTS: '100' }, embeddingProvider: provider });

  it('fires while an embedding job keeps failing and retrying past ALERT_OUTBOX_MAX_AGE_MS; resolves once the provider recovers and the job completes', async () => {
    const { h } = c;
    await h.api.post('/v1/admin/control/tenants').set(h.t.auth).set(json).send({ tenant_id: 'backlog-co' }).expect(201);
    const key = (await h.api.post('/v1/admin/control/api-keys').set(h.t.auth).set(json).send({ tenant_id: 'backlog-co' }).expect(201)).body.api_key as string;
    await h.api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 's', input_text: 'x', nodes: [{ client_id: 'n1', type: 'event', title: 'waits for its embedding' }] }).expect(200);
    const job = async () =>
      (await sql<{ status: string; attempts: number; age_ms: number }>`
        SELECT status, attempts, (extract(epoch FROM clock_timestamp() - created_at) * 1000)::int AS age_ms FROM memory_outbox WHERE type = 'embed_nodes'`.execute(h.t.tdb.database.db)).rows[0];
    await until('the embedding job retried and older than 1 s', async () => {
      const j = await job();
      return Boolean(j && j.attempts >= 1 && j.status === 'pending' && Number(j.age_ms) > 1100);
    });
    const fired = await c.fires('outbox-backlog-age');
    expect(fired.numbers).toMatchObject({ overdue_jobs: 1, threshold_ms: 1000 });
    expect(Number(fired.numbers.oldest_open_job_ms)).toBeGreaterThan(1000);
    const alert = await c.listedFiring('outbox-backlog-age', { overdue_jobs: 1, threshold_ms: 1000 });
    await c.delivered('outbox-backlog-age', 'alert.fired');

    down = false;
    await until('the embedding job done after its backoff', async () => (await job())?.status === 'done', 30_000);
    // The deliveries are outbox jobs too: none is left open.
    await until('no open outbox job', async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_outbox WHERE status IN ('pending', 'processing')`.execute(h.t.tdb.database.db)).rows[0]!.n === 0);
    const resolved = await c.resolves('outbox-backlog-age', alert.alert_id as string);
    expect(resolved.numbers).toMatchObject({ overdue_jobs: 0, oldest_open_job_ms: null });
  }, 60_000);
});

describe('alerting: platform alert seal-schedule-missed (no worker role: the sealer does not run)', () => {
  // AUDIT_SEAL_INTERVAL_MS=1000: an event unsealed for more than 3 s is late. This service runs
  // the api and projector roles only, so nothing seals (and nothing delivers): the test evaluates
  // with this process's evaluator, as a worker would.
  let worker: TestService | undefined;
  // Declared before the case's hooks, so the worker stops before the database it shares goes.
  afterAll(async () => {
    await worker?.stop();
  });
  const c = platformAlertCase({ env: { AIONIS_ROLES: 'api,projector', AUDIT_SEAL_INTERVAL_MS: '1000' } });

  it('fires when events wait for a seal longer than three intervals; resolves once a worker is back and its sealer has sealed them', async () => {
    const { h } = c;
    await h.api.post('/v1/admin/control/tenants').set(h.t.auth).set(json).send({ tenant_id: 'seal-co' }).expect(201);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_seals`.execute(h.t.tdb.database.db)).rows[0]!.n).toBe(0);
    await sleep(3200);
    const fired = await c.fires('seal-schedule-missed');
    expect(fired.numbers).toMatchObject({ threshold_ms: 3000 });
    expect(Number(fired.numbers.oldest_unsealed_event_ms)).toBeGreaterThan(3000);
    const alert = await c.listedFiring('seal-schedule-missed', { threshold_ms: 3000 });
    // Nothing delivers without a worker: the message waits in the outbox.
    await sleep(500);
    expect(h.received).toHaveLength(0);

    // A worker-role process starts on the same database: its sealer seals the backlog after one
    // interval, and its outbox worker sends the waiting message.
    worker = await startTestService({ tdb: h.t.tdb, env: { ...ALERT_ENV, AIONIS_ROLES: 'worker', AUDIT_SEAL_INTERVAL_MS: '1000' } });
    await c.delivered('seal-schedule-missed', 'alert.fired');
    await until('the worker\'s first seal', async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_seals`.execute(h.t.tdb.database.db)).rows[0]!.n > 0);
    const resolved = await c.resolves('seal-schedule-missed', alert.alert_id as string);
    expect(resolved.numbers).toMatchObject({ threshold_ms: 3000 });
    expect(Number(resolved.numbers.oldest_unsealed_event_ms ?? 0)).toBeLessThanOrEqual(3000);
    await worker.stop();
    worker = undefined;
  }, 60_000);
});

// The schedule: daily at the minute 65 minutes ago (so its last fire is past the evaluator's
// one-hour grace), reporting on the week of the fire ('current'), where this test's tenant is.
// Near the start of a week (Monday 00:00-01:06 UTC) that fire is in the previous week, which
// has no tenant: nothing is due then.
const fire = new Date(Math.floor((Date.now() - 65 * 60_000) / 60_000) * 60_000);
const sameWeek = Date.parse(isoWeekOf(fire).end) > Date.now() + 5 * 60_000;
onlyIf(sameWeek, 'the last fire 65 minutes ago is in the previous ISO week (Monday 00:00-01:06 UTC): no tenant was due then').describe(
  'alerting: platform alert governance-schedule-missed (a scheduled run that failed for real)',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'aionis-gov-alert-'));
    // The archive "directory" is a regular file: archiving the scheduled report fails (ENOTDIR).
    const brokenArchive = join(dir, 'not-a-directory');
    writeFileSync(brokenArchive, 'x');
    const c = platformAlertCase({
      env: {
        GOVERNANCE_WEEKLY_REPORT_CRON: `${fire.getUTCMinutes()} ${fire.getUTCHours()} * * *`,
        GOVERNANCE_WEEKLY_REPORT_WEEK: 'current',
        GOVERNANCE_SCHEDULER_TICK_MS: '1000',
        ARCHIVE_DIR: brokenArchive,
      },
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('fires when the last fire had a tenant due and its run failed; resolves once the week is run by hand as the runbook says', async () => {
      const { h } = c;
      const db = h.t.tdb.database.db;
      await h.api.post('/v1/admin/control/tenants').set(h.t.auth).set(json).send({ tenant_id: 'gov-co' }).expect(201);
      // The scheduler (worker role) claims the period and its run fails.
      const failed = async () => (await sql<{ data: { error: string } }>`SELECT data FROM es_events WHERE type = 'GovernanceReportRunFailed'`.execute(db)).rows;
      await until('the scheduled run failed', async () => (await failed()).length === 1);
      expect((await failed())[0]!.data.error).toMatch(/ENOTDIR|EEXIST|not a directory/i);
      const fired = await c.fires('governance-schedule-missed');
      const week = isoWeekOf(fire);
      const numbers = { schedule: `${fire.getUTCMinutes()} ${fire.getUTCHours()} * * *`, last_fire: fire.toISOString(), week: week.label, scheduled_run: 'failed', completed: 'no' };
      expect(fired.numbers).toEqual(numbers);
      const alert = await c.listedFiring('governance-schedule-missed', numbers);
      await c.delivered('governance-schedule-missed', 'alert.fired');

      // The runbook: fix the cause, then run the week the alert names by hand, into a working
      // archive, signed with the deployment's key. On PostgreSQL with the runbook's own command
      // (job:governance-weekly-report, a separate process); the embedded database has one
      // connection, so there the test runs what that command runs, in this process.
      const archive = join(dir, 'archive');
      if (usingPostgres()) {
        const cli = spawnSync(
          process.execPath,
          ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/governance-weekly-report.ts'), '--week', fired.numbers.week as string, '--json'],
          { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: h.t.tdb.url!, DATA_DIR: h.t.config.dataDir, ARCHIVE_DIR: archive } },
        );
        expect(`${cli.status} ${cli.stderr}`).toMatch(/^[02] /); // 2: a check of the report failed (it is archived all the same)
        expect(JSON.parse(cli.stdout)).toMatchObject({ week: week.label, bundle_id: expect.any(String) });
      } else {
        const done = await runWeeklyReport(
          { database: h.t.tdb.database, eventStore: h.t.service.infra.store, archive: new FilesystemEvidenceStore(archive), key: h.t.service.infra.secrets.sealKey, version: 'test' },
          { week, rotationPolicyDays: h.t.config.governance.keyRotationPolicyDays, actor: { type: 'operator', id: 'cli:oncall' }, trigger: 'cli' },
        );
        expect(done.bundle.id).toBeTruthy();
      }
      const resolved = await c.resolves('governance-schedule-missed', alert.alert_id as string);
      expect(resolved.numbers).toMatchObject({ last_fire: fire.toISOString(), week: week.label, scheduled_run: 'failed', completed: 'yes' });
    }, 60_000);
  },
);
