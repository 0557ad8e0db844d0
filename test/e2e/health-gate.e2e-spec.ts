import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import request from 'supertest';
import { PROJECTIONS } from '../../projections';
import { CROSS_TENANT_CHECKS } from '../../src/ops/checks/cross-tenant';
import { type CheckResult, HEALTH_CHECKS, type HealthOptions, type HealthThresholds, healthThresholds, runHealthChecks } from '../../src/ops/checks/health';
import { SCOPE_CHECKS } from '../../src/ops/checks/scope';
import { LATEST_MIGRATION } from '../../src/platform/db/migrations';
import { ProjectionsService } from '../../src/platform/projections/projections.service';
import { startTestService, type TestService } from '../support/service';
import { usingPostgres } from '../support/test-db';
import { pgOnly } from '../support/skips';

const ROOT = join(__dirname, '../..');
const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Each named health check passes on a clean, busy system and fails, alone, when the test breaks
 * it: with SQL inside a transaction the checks also run in (rolled back afterwards), or for real
 * (a write transaction held open by another connection; a stopped projector).
 */
describe('job:health-gate', () => {
  let t: TestService;
  let memoryRequests = 0;

  beforeAll(async () => {
    t = await startTestService({ env: { OUTBOX_POLL_INTERVAL_MS: '100' } });
    const api = request(t.url);
    for (const id of ['hg-a', 'hg-b']) {
      await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id, tier: 'enterprise' }).expect(201);
      const key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: id }).expect(201)).body.api_key as string;
      for (let i = 0; i < 2; i++) {
        await api
          .post('/v1/memory/write')
          .set({ 'x-api-key': key, ...json })
          .send({ scope: 's', input_text: `${i}`, nodes: [{ client_id: `n${i}`, type: 'event', title: `x${i}` }, { client_id: `m${i}`, type: 'event', title: `y${i}` }], edges: [{ type: 'related_to', src: { client_id: `n${i}` }, dst: { client_id: `m${i}` } }] })
          .expect(200);
        memoryRequests++;
      }
      await api.post('/v1/memory/find').set({ 'x-api-key': key, ...json }).send({ scope: 's' }).expect(200);
      memoryRequests++;
    }
    const db = t.tdb.database.db;
    // A clean system is one where the worker has embedded everything and the recorder has flushed.
    await waitFor('the outbox worker', async () => {
      const r = await sql<{ n: number }>`SELECT (SELECT count(*)::int FROM memory_nodes WHERE embedding_status <> 'ready') + (SELECT count(*)::int FROM memory_outbox WHERE status <> 'done') AS n`.execute(db);
      return Number(r.rows[0]?.n) === 0;
    });
    await waitFor('the telemetry flush', async () => {
      const r = await sql<{ n: number }>`SELECT coalesce(sum(total), 0)::int AS n FROM telemetry_rollups`.execute(db);
      return Number(r.rows[0]?.n) === memoryRequests;
    });
  }, 60_000);
  afterAll(async () => {
    await t.stop();
  });

  const thresholds = (given: Partial<HealthThresholds> = {}) => healthThresholds(t.config, given);
  const failing = (results: readonly CheckResult[]) => results.filter((r) => !r.pass).map((r) => r.name);

  /** Run `statements` and the checks in one transaction, then roll it back. */
  async function checksWith(statements: readonly string[], given: Partial<HealthThresholds> = {}, opts: Partial<HealthOptions> = {}): Promise<CheckResult[]> {
    const db = t.tdb.database.db;
    let results: CheckResult[] = [];
    await db
      .transaction()
      .execute(async (trx) => {
        for (const s of statements) await sql.raw(s).execute(trx);
        results = await runHealthChecks({ ...t.tdb.database, db: trx as unknown as typeof db }, { consistencySet: 'none', replay: false, ...opts, thresholds: thresholds(given) });
        throw new Error('rollback');
      })
      .catch((err: unknown) => {
        if ((err as Error).message !== 'rollback') throw err;
      });
    return results;
  }

  it('passes every check on a clean system, with each consistency set', async () => {
    const all = await runHealthChecks(t.tdb.database, { thresholds: thresholds(), consistencySet: 'all' });
    expect(all.map((r) => r.name)).toEqual([...HEALTH_CHECKS, ...SCOPE_CHECKS, ...CROSS_TENANT_CHECKS]);
    expect(all.filter((r) => !r.pass)).toEqual([]);
    expect((await runHealthChecks(t.tdb.database, { thresholds: thresholds() })).map((r) => r.name)).toEqual([...HEALTH_CHECKS, ...SCOPE_CHECKS]);
    expect((await runHealthChecks(t.tdb.database, { thresholds: thresholds(), consistencySet: 'cross_tenant' })).map((r) => r.name)).toEqual([...HEALTH_CHECKS, ...CROSS_TENANT_CHECKS]);
    expect((await runHealthChecks(t.tdb.database, { thresholds: thresholds(), consistencySet: 'none' })).map((r) => r.name)).toEqual([...HEALTH_CHECKS]);
    const open = all.find((r) => r.name === 'oldest_open_transaction')!;
    if (!usingPostgres()) expect(open.detail).toContain('n/a embedded');
    expect(all.find((r) => r.name === 'embedding_ready_ratio')!.detail).toContain('8/8 ready');
  });

  const job = (tenant: string) => `job_id = (SELECT job_id FROM memory_outbox WHERE tenant_id = '${tenant}' ORDER BY job_id LIMIT 1)`;
  const corruptions: [string[], string, string[], Partial<HealthThresholds>][] = [
    [['migrations_current'], 'a migration not applied', [`DELETE FROM aionis_migrations WHERE name = '${LATEST_MIGRATION}'`], {}],
    [['projectors_alive'], 'a projector heartbeat an hour old', ["UPDATE proj_checkpoints SET heartbeat_at = now() - interval '1 hour' WHERE projection = 'tenants'"], {}],
    [['projectors_alive'], 'a projection that never sent a heartbeat', ["UPDATE proj_checkpoints SET heartbeat_at = NULL WHERE projection = 'audit'"], {}],
    // A projection without a checkpoint row is dead, and its lag is unknown: never zero.
    [['projectors_alive', 'projection_lag'], 'a known projection without a checkpoint row', ["DELETE FROM proj_checkpoints WHERE projection = 'quotas'"], {}],
    [['projection_lag'], 'a checkpoint behind the log', ["UPDATE proj_checkpoints SET last_transaction_id = '0'::xid8, last_global_position = 0 WHERE projection = 'audit'"], { maxLagMs: 1 }],
    [['projection_versions_current'], 'a stored version this code does not run', ["UPDATE proj_checkpoints SET version = version + 1 WHERE projection = 'tenants'"], {}],
    [
      ['projection_dead_letters'],
      'a parked projection dead letter',
      [
        `INSERT INTO proj_dead_letters (projection, global_position, transaction_id, stream_id, event_id, event_type, category, error, status)
         VALUES ('tenants', 1, '1'::xid8, 'tenant-x', '00000000-0000-4000-8000-000000000001', 'X', 'poison', 'boom', 'parked')`,
      ],
      {},
    ],
    [['outbox_backlog'], 'more open jobs than allowed', [`UPDATE memory_outbox SET status = 'pending', attempts = 0, next_attempt_at = now() + interval '1 hour' WHERE ${job('hg-a')}`], { maxOutboxBacklog: 0 }],
    [
      ['outbox_oldest_age'],
      'an open job enqueued an hour ago',
      [`UPDATE memory_outbox SET status = 'pending', attempts = 0, next_attempt_at = now() + interval '1 hour', created_at = now() - interval '1 hour' WHERE ${job('hg-b')}`],
      {},
    ],
    [['outbox_dead_letters'], 'a dead-lettered job', [`UPDATE memory_outbox SET status = 'dead_letter', last_error = 'boom' WHERE ${job('hg-a')}`], {}],
    [
      ['telemetry_flushed'],
      'writes ten minutes ago and no telemetry',
      ['DELETE FROM telemetry_rollups', "UPDATE memory_commits SET created_at = created_at - interval '10 minutes'"],
      {},
    ],
    [['telemetry_flushed'], "one tenant's telemetry missing", ["DELETE FROM telemetry_rollups WHERE tenant_id = 'hg-b'", "UPDATE memory_commits SET created_at = created_at - interval '10 minutes'"], {}],
    [['embedding_ready_ratio'], 'most embeddings failed', ["UPDATE memory_nodes SET embedding_status = 'failed', embedding = NULL, embedding_model = NULL WHERE client_id <> 'n0'"], {}],
  ];

  it.each(corruptions)('%s fails (alone) on %s', async (names, _what, statements, given) => {
    const results = await checksWith(statements, given);
    expect(failing(results)).toEqual(names);
    for (const name of names) expect(results.find((r) => r.name === name)!.count).toBeGreaterThan(0);
    expect(failing(await runHealthChecks(t.tdb.database, { thresholds: thresholds(given), consistencySet: 'none' }))).toEqual([]);
  });

  it('a projection without a checkpoint row reports its lag as unknown, never as zero', async () => {
    const results = await checksWith(["DELETE FROM proj_checkpoints WHERE projection = 'quotas'"]);
    expect(results.find((r) => r.name === 'projection_lag')!.sample).toEqual([{ projection: 'quotas', problem: 'no_checkpoint', lag_ms: null }]);
    expect(results.find((r) => r.name === 'projectors_alive')!.sample).toEqual([{ projection: 'quotas', problem: 'no_checkpoint' }]);
    const none = await checksWith(['DELETE FROM proj_checkpoints']);
    const lag = none.find((r) => r.name === 'projection_lag')!;
    expect(lag).toMatchObject({ pass: false, count: PROJECTIONS.length });
    expect(lag.detail).toContain('lag unknown');
  });

  it('every health check but the open-transaction one has a corruption that fails it (that one is made for real below)', () => {
    expect(new Set([...corruptions.flatMap(([names]) => names), 'oldest_open_transaction'])).toEqual(new Set(HEALTH_CHECKS));
  });

  it('telemetry_flushed passes when the telemetry covers the writes, and when there were no writes in the last day', async () => {
    expect(failing(await checksWith(["UPDATE memory_commits SET created_at = created_at - interval '10 minutes'"]))).toEqual([]);
    expect(failing(await checksWith(['DELETE FROM telemetry_rollups', "UPDATE memory_commits SET created_at = created_at - interval '2 days'"]))).toEqual([]);
    // Writes of the last few seconds are not evidence yet: the recorder flushes every 5 s.
    expect(failing(await checksWith(['DELETE FROM telemetry_rollups', 'UPDATE memory_commits SET created_at = now()']))).toEqual([]);
    // Telemetry may trail by up to --telemetry-max-age-ms.
    const trailing = ["UPDATE telemetry_rollups SET minute = minute - interval '5 minutes'", "UPDATE memory_commits SET created_at = created_at - interval '1 minute'"];
    expect(failing(await checksWith(trailing))).toEqual(['telemetry_flushed']);
    expect(failing(await checksWith(trailing, { telemetryMaxAgeMs: 600_000 }))).toEqual([]);
  });

  it('thresholds move the limits: dead letters, backlog, ready ratio', async () => {
    const dead = [`UPDATE memory_outbox SET status = 'dead_letter' WHERE ${job('hg-a')}`];
    expect(failing(await checksWith(dead, { maxOutboxDeadLetters: 1 }))).toEqual([]);
    expect(failing(await checksWith(dead, { maxDeadLetters: 1 }))).toEqual([]);
    expect(failing(await checksWith(dead, { maxDeadLetters: 1, maxOutboxDeadLetters: 0 }))).toEqual(['outbox_dead_letters']);
    const failed = ["UPDATE memory_nodes SET embedding_status = 'failed', embedding = NULL, embedding_model = NULL WHERE tenant_id = 'hg-a' AND client_id = 'n0'"];
    expect(failing(await checksWith(failed))).toEqual(['embedding_ready_ratio']); // 7/8 = 0.875 < 0.9
    expect(failing(await checksWith(failed, { minEmbeddingReadyRatio: 0.85 }))).toEqual([]);
    const backlog = [`UPDATE memory_outbox SET status = 'pending', next_attempt_at = now() + interval '1 hour' WHERE ${job('hg-a')}`];
    expect(failing(await checksWith(backlog, { maxOutboxBacklog: 1 }))).toEqual([]);
    expect(failing(await checksWith(backlog, { maxOutboxBacklog: 0 }))).toEqual(['outbox_backlog']);
  });

  it('the chosen consistency set runs after the health checks and fails the gate', async () => {
    const tamper = ["UPDATE memory_commits SET input_sha256 = repeat('0', 64) WHERE tenant_id = 'hg-a' AND seq = 1"];
    expect(failing(await checksWith(tamper, {}, { consistencySet: 'scope' }))).toEqual(['commit_hash_valid']);
    expect(failing(await checksWith(tamper, {}, { consistencySet: 'cross_tenant' }))).toEqual([]);
    const ghost = ["INSERT INTO memory_scopes (tenant_id, project_key, scope) VALUES ('ghost', '', 's')"];
    expect(failing(await checksWith(ghost, {}, { consistencySet: 'cross_tenant' }))).toEqual(['memory_tenant_exists']);
    expect(failing(await checksWith([...tamper, ...ghost], {}, { consistencySet: 'all' }))).toEqual(['commit_hash_valid', 'memory_tenant_exists']);
  });

  pgOnly.it('oldest_open_transaction fails while another connection holds a write transaction open', async () => {
    const other = new pg.Client({ connectionString: t.tdb.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      const pid = (await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await other.query('SELECT pg_current_xact_id()'); // takes a transaction id, as any write does
      await sleep(400);
      const results = await runHealthChecks(t.tdb.database, { thresholds: thresholds({ maxOpenTxMs: 200 }), consistencySet: 'none' });
      expect(failing(results)).toEqual(['oldest_open_transaction']);
      const open = results.find((r) => r.name === 'oldest_open_transaction')!;
      expect(open.count).toBeGreaterThanOrEqual(1);
      expect(open.severity).toBe('error');
      // Ours, unless older ones of other databases on the same server fill the sample.
      if (open.count <= 5) expect(open.sample).toContainEqual(expect.objectContaining({ pid }));
      // Under the threshold it passes.
      expect(failing(await runHealthChecks(t.tdb.database, { thresholds: thresholds({ maxOpenTxMs: 60_000 }), consistencySet: 'none' }))).toEqual([]);
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      await other.end();
    }
  }, 30_000);

  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/health-gate.ts'), '--json', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: t.tdb.url ?? '' },
      encoding: 'utf8',
    });

  pgOnly.it('the CLI exits 0 clean, 2 on an error, 2 on a warning only with --strict-warnings, 1 on usage errors; --out writes summary.json', async () => {
    const db = t.tdb.database.db;
    const clean = cli('--consistency-check-set', 'all');
    expect(clean.status).toBe(0);
    const summary = JSON.parse(clean.stdout);
    expect(summary).toMatchObject({ ok: true, gate: 'health', consistency_check_set: 'all', errors: 0, warnings: 0 });
    expect(summary.checks.map((c: { name: string }) => c.name)).toEqual([...HEALTH_CHECKS, ...SCOPE_CHECKS, ...CROSS_TENANT_CHECKS]);
    expect(summary.thresholds).toEqual({
      maxLagMs: 30_000,
      heartbeatStaleMs: 30_000,
      maxDeadLetters: 0,
      maxOutboxDeadLetters: 0,
      maxOutboxBacklog: 1000,
      maxOutboxAgeMs: 600_000,
      minEmbeddingReadyRatio: 0.9,
      maxOpenTxMs: 30_000,
      telemetryMaxAgeMs: 120_000,
    });

    // A warning only: the writes' telemetry lost. (Not by moving the commits back in time: their
    // timestamps are part of the chain hash, so the default consistency set would fail on that.)
    await sql`DELETE FROM telemetry_rollups`.execute(db);
    await waitFor('every write to be past the telemetry flush grace (15 s)', async () => {
      const r = await sql<{ age: number }>`SELECT extract(epoch FROM clock_timestamp() - max(created_at))::float8 AS age FROM memory_commits`.execute(db);
      return Number(r.rows[0]?.age) > 16;
    });
    expect(cli().status).toBe(0);
    const strict = cli('--strict-warnings');
    expect(strict.status).toBe(2);
    expect(JSON.parse(strict.stdout)).toMatchObject({ ok: false, warnings: 1, errors: 0, failing: ['telemetry_flushed'] });

    // An error: a dead-lettered outbox job (within --max-dead-letters 1 it passes).
    await sql`UPDATE memory_outbox SET status = 'dead_letter' WHERE job_id = (SELECT job_id FROM memory_outbox ORDER BY job_id LIMIT 1)`.execute(db);
    const out = mkdtempSync(join(tmpdir(), 'aionis-health-'));
    try {
      const failed = cli('--out', out);
      expect(failed.status).toBe(2);
      const s = JSON.parse(failed.stdout);
      expect(s).toMatchObject({ ok: false, errors: 1, failing: ['outbox_dead_letters'] });
      expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'))).toEqual(s);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(existsSync(out)).toBe(false);
    expect(cli('--max-dead-letters', '1').status).toBe(0);
    await sql`UPDATE memory_outbox SET status = 'done' WHERE status = 'dead_letter'`.execute(db);

    // The default consistency set is scope: a tampered commit fails the gate, unless the set is none or cross_tenant.
    await sql`UPDATE memory_commits SET input_sha256 = repeat('0', 64) WHERE tenant_id = 'hg-a' AND seq = 1`.execute(db);
    const tampered = cli();
    expect(tampered.status).toBe(2);
    expect(JSON.parse(tampered.stdout)).toMatchObject({ consistency_check_set: 'scope', failing: ['commit_hash_valid'] });
    expect(cli('--consistency-check-set', 'none').status).toBe(0);
    expect(cli('--consistency-check-set', 'cross_tenant').status).toBe(0);
    expect(cli('--consistency-check-set', 'all').status).toBe(2);

    const unknown = cli('--bogus');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
    expect(cli('--consistency-check-set', 'everything').status).toBe(1);
    expect(cli('--min-embedding-ready-ratio', '1.5').status).toBe(1);
    expect(cli('--max-lag-ms', 'soon').status).toBe(1);
  }, 120_000);

  // Last: it stops this service's projector.
  it('a dead projector fails the gate (stopped for real; its heartbeat goes stale)', async () => {
    await t.service.app.get(ProjectionsService).stopAll();
    await sleep(1500);
    const results = await runHealthChecks(t.tdb.database, { thresholds: thresholds({ heartbeatStaleMs: 1000 }), consistencySet: 'none' });
    expect(failing(results)).toContain('projectors_alive');
    const alive = results.find((r) => r.name === 'projectors_alive')!;
    expect(alive.count).toBe(PROJECTIONS.length);
    expect(alive.sample).toContainEqual(expect.objectContaining({ problem: 'heartbeat_stale' }));
    if (usingPostgres()) {
      const stale = cli('--heartbeat-stale-ms', '1000', '--consistency-check-set', 'none');
      expect(stale.status).toBe(2);
      expect(JSON.parse(stale.stdout).failing).toContain('projectors_alive');
      // With the default threshold too, once the heartbeat is old enough.
      await sql`UPDATE proj_checkpoints SET heartbeat_at = now() - interval '1 hour'`.execute(t.tdb.database.db);
      const dead = cli();
      expect(dead.status).toBe(2);
      expect(JSON.parse(dead.stdout).failing).toContain('projectors_alive');
    }
  }, 60_000);
});
