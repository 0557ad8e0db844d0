import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { ProjectionsService } from '../../src/platform/projections/projections.service';
import type { CheckResult } from '../../src/ops/checks/check-result';
import { runCli } from '../support/cli';
import { startTestService, TEST_ADMIN_TOKEN, TEST_PEPPER, type TestService } from '../support/service';
import { createPgDatabase } from '../support/test-db';
import { pgOnly } from '../support/skips';

// Every test spawns CLIs (about a second each when the machine is idle, several under load).
jest.setTimeout(60_000);
const json = { 'Content-Type': 'application/json' };

type Check = CheckResult;
interface Summary {
  ok: boolean;
  gate: string;
  failing: string[];
  errors: number;
  warnings: number;
  checks: Check[];
  [k: string]: unknown;
}

/** Run the preflight CLI from source as a child process (async: the server under test runs in this process). */
async function preflight(env: Record<string, string>, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string; summary: Summary | null }> {
  const r = await runCli<Summary>('preflight-hosted.ts', args, env);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, summary: r.out };
}

const failingOf = (s: Summary | null): string[] => s?.failing ?? ['(no summary)'];
const checkOf = (s: Summary | null, name: string): Check | undefined => s?.checks.find((c) => c.name === name);

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * preflight:hosted against a real server on PostgreSQL (the CLI refuses anything else): a clean
 * deployment passes except for the warning of the placeholder embedding provider, and each
 * condition the test can create for real fails its own check with exit 2.
 */
pgOnly.describe('preflight:hosted', () => {
  const pepper = randomBytes(32).toString('hex');
  let t: TestService;
  let env: Record<string, string>;

  beforeAll(async () => {
    t = await startTestService({ env: { KEY_PEPPER: pepper } });
    env = { DATABASE_URL: t.tdb.url ?? '', AIONIS_BASE_URL: t.url, AIONIS_ADMIN_TOKEN: TEST_ADMIN_TOKEN };
  });
  afterAll(async () => {
    await t.stop();
  });

  it('GET /v1/admin/ops/runtime reports the effective configuration to every role, never the pepper', async () => {
    const api = request(t.url);
    await api.get('/v1/admin/ops/runtime').expect(401).expect('content-type', /application\/problem\+json/);
    const auditor = (await api.post('/v1/admin/control/operators').set(t.auth).set(json).send({ display_name: 'auditor', role: 'auditor' }).expect(201)).body.token as string;
    const r = await api.get('/v1/admin/ops/runtime').set({ Authorization: `Bearer ${auditor}` }).expect(200);
    expect(r.body).toMatchObject({
      version: expect.any(String),
      roles: ['api', 'projector', 'worker'],
      database: { kind: 'pg', migrations_current: true, pending_migrations: [], deployment_id: expect.stringMatching(/^[0-9a-f-]{36}$/) },
      pepper: { source: 'env', meets_policy: true, problems: [] },
      auth: { admin: 'operator_credentials', api_keys: 'required' },
      rate_limits: { enforced: true },
      embeddings: { provider: 'local', placeholder: true },
      owners: { active_owner_ids: ['op_bootstrap_owner'], only_bootstrap: true },
    });
    expect(Math.abs(Date.parse(r.body.server_time) - Date.now())).toBeLessThan(5000);
    expect(r.text).not.toContain(pepper);
    expect(r.headers['cache-control']).toBe('no-store');
  });

  it('a fresh deployment fails only because the bootstrap owner is the only owner; the pepper is never printed', async () => {
    const r = await preflight(env, '--json');
    expect(r.status).toBe(2);
    expect(failingOf(r.summary)).toEqual(['owners_not_bootstrap_only']);
    expect(checkOf(r.summary, 'embedding_provider_real')).toMatchObject({ severity: 'warning', pass: false });
    expect(r.stdout + r.stderr).not.toContain(pepper);
    const human = await preflight(env);
    expect(human.status).toBe(2);
    expect(human.stdout).toMatch(/FAIL\s+owners_not_bootstrap_only/);
    expect(human.stdout + human.stderr).not.toContain(pepper);
  });

  it('with a named owner it passes (exit 0); the placeholder embedding provider fails it only with --strict-warnings', async () => {
    await request(t.url).post('/v1/admin/control/operators').set(t.auth).set(json).send({ display_name: 'Alice', role: 'owner' }).expect(201);
    const out = mkdtempSync(join(tmpdir(), 'aionis-preflight-'));
    try {
      const r = await preflight(env, '--json', '--out', out);
      expect(r.status).toBe(0);
      expect(r.summary).toMatchObject({ ok: true, gate: 'preflight', errors: 0, warnings: 1, failing: [] });
      expect(r.summary!.checks.map((c) => c.name)).toEqual([
        'database_reachable',
        'migrations_current',
        'event_store_round_trip',
        'projections_caught_up',
        'projection_dead_letters',
        'outbox_dead_letters',
        'server_ready',
        'runtime_facts',
        'database_matches_server',
        'auth_required',
        'key_pepper_policy',
        'owners_not_bootstrap_only',
        'rate_limits_enforced',
        'embedding_provider_real',
        'clock_skew',
      ]);
      expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'))).toMatchObject({ ok: true, gate: 'preflight' });
      expect(readFileSync(join(out, 'summary.json'), 'utf8')).not.toContain(pepper);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    const strict = await preflight(env, '--json', '--strict-warnings');
    expect(strict.status).toBe(2);
    expect(failingOf(strict.summary)).toEqual(['embedding_provider_real']);
    // The probe: one PreflightProbeRecorded event per run, each on its own preflight stream, no tenant.
    const probes = await sql<{ stream_id: string; tenant_id: string | null; type: string; command_id: string | null; occurred_at: string; probed_at: string }>`
      SELECT stream_id, tenant_id, type, metadata->>'command_id' AS command_id, metadata->>'occurred_at' AS occurred_at, data->>'probed_at' AS probed_at
      FROM es_events WHERE stream_id LIKE 'preflight-%'`.execute(t.tdb.database.db);
    expect(probes.rows.length).toBeGreaterThanOrEqual(4);
    expect(new Set(probes.rows.map((p) => p.stream_id)).size).toBe(probes.rows.length);
    expect(probes.rows.every((p) => p.tenant_id === null && p.type === 'PreflightProbeRecorded')).toBe(true);
    // Appended through the one command path: a command id, and dated when the probe was taken.
    expect(probes.rows.every((p) => /^cmd:[0-9a-f-]{36}$/.test(p.command_id ?? '') && p.occurred_at === p.probed_at)).toBe(true);
  });

  it('dead letters over the threshold fail their check (projection and outbox separately)', async () => {
    const db = t.tdb.database.db;
    await sql`INSERT INTO proj_dead_letters (projection, global_position, transaction_id, stream_id, event_id, event_type, category, error, status)
      VALUES ('tenants', 1, '1'::xid8, 'tenant-ghost', '00000000-0000-4000-8000-000000000001', 'TenantUpdated', 'invalid_event_data', 'test', 'parked')`.execute(db);
    try {
      const r = await preflight(env, '--json');
      expect(r.status).toBe(2);
      expect(failingOf(r.summary)).toEqual(['projection_dead_letters']);
      expect(checkOf(r.summary, 'projection_dead_letters')).toMatchObject({ pass: false, count: 1 });
      expect((await preflight(env, '--json', '--max-dead-letters', '1')).status).toBe(0);
    } finally {
      await sql`DELETE FROM proj_dead_letters WHERE stream_id = 'tenant-ghost'`.execute(db);
    }
    await sql`INSERT INTO memory_outbox (job_id, tenant_id, project_key, scope, commit_id, type, payload, status, attempts, next_attempt_at, created_at, updated_at)
      VALUES ('00000000-0000-4000-8000-000000000002', 'ghost', '', 's', '00000000-0000-4000-8000-000000000003', 'embed_nodes', '{}', 'dead_letter', 8, now(), now(), now())`.execute(db);
    try {
      const r = await preflight(env, '--json');
      expect(r.status).toBe(2);
      expect(failingOf(r.summary)).toEqual(['outbox_dead_letters']);
    } finally {
      await sql`DELETE FROM memory_outbox WHERE tenant_id = 'ghost'`.execute(db);
    }
  });

  it('a clock-skew bound the measurement cannot prove fails clock_skew alone', async () => {
    const r = await preflight(env, '--json', '--max-clock-skew-ms', '0');
    expect(r.status).toBe(2);
    expect(failingOf(r.summary)).toEqual(['clock_skew']);
    expect(checkOf(r.summary, 'clock_skew')!.detail).toMatch(/server - database = -?\d+ ms/);
  });

  it('a server that is down fails the runtime checks with exit 2 (not 1); the database checks still pass', async () => {
    const r = await preflight({ ...env, AIONIS_BASE_URL: `http://127.0.0.1:${await closedPort()}` }, '--json');
    expect(r.status).toBe(2);
    expect(failingOf(r.summary)).toEqual(
      expect.arrayContaining(['server_ready', 'runtime_facts', 'auth_required', 'key_pepper_policy', 'owners_not_bootstrap_only', 'rate_limits_enforced', 'clock_skew', 'database_matches_server']),
    );
    for (const name of ['database_reachable', 'migrations_current', 'event_store_round_trip', 'projections_caught_up']) expect(checkOf(r.summary, name)?.pass).toBe(true);
  });

  it('a database that is not the server\'s fails database_matches_server', async () => {
    const other = await createPgDatabase('pf_other');
    try {
      const r = await preflight({ ...env, DATABASE_URL: other.url }, '--json');
      expect(r.status).toBe(2);
      expect(failingOf(r.summary)).toContain('database_matches_server');
      expect(checkOf(r.summary, 'database_reachable')?.pass).toBe(true);
    } finally {
      await other.drop();
    }
  });

  it('usage errors exit 1: an unknown flag, no admin token, no database URL', async () => {
    const unknown = await preflight(env, '--json', '--no-such-flag');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/unknown option '--no-such-flag'/);
    expect((await preflight({ ...env, AIONIS_ADMIN_TOKEN: '' }, '--json')).status).toBe(1);
    // A token the server refuses is a runtime error (exit 1), not a failed gate (exit 2).
    const refused = await preflight({ ...env, AIONIS_ADMIN_TOKEN: 'aio_admin_not-a-real-token' }, '--json');
    expect(refused.status).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/error: the server refused AIONIS_ADMIN_TOKEN: GET \/v1\/admin\/ops\/runtime answered 401/);
    expect((await preflight({ ...env, DATABASE_URL: '' }, '--json')).status).toBe(1);
    expect((await preflight(env, '--max-clock-skew-ms', 'soon')).status).toBe(1);
  });

  it('--run-gates runs gate:core:prod, the cross-tenant check and the health gate, each writing DIR/<gate>/summary.json', async () => {
    const out = mkdtempSync(join(tmpdir(), 'aionis-preflight-gates-'));
    try {
      const r = await preflight(env, '--json', '--run-gates', '--skip-build', '--perf-requests', '20', '--out', out);
      // Progress on stderr (one JSON line per step), never on stdout: stdout parses as the summary.
      const steps = r.stderr.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { progress: string; step: string; done: number; total: number });
      expect(steps.map((p) => [p.progress, p.step, p.done, p.total])).toEqual([
        ['preflight:hosted', 'database checks', 0, 5],
        ['preflight:hosted', 'server checks', 1, 5],
        ['preflight:hosted', 'gate-core-prod', 2, 5],
        ['preflight:hosted', 'consistency-cross-tenant', 3, 5],
        ['preflight:hosted', 'health-gate', 4, 5],
        ['preflight:hosted', 'done', 5, 5],
      ]);
      expect(failingOf(r.summary)).toEqual([]);
      expect(r.status).toBe(0);
      for (const name of ['gate_core_prod', 'gate_consistency_cross_tenant', 'gate_health_scope']) expect(checkOf(r.summary, name)).toMatchObject({ pass: true, severity: 'error' });
      for (const gate of ['gate-core-prod', 'consistency-cross-tenant', 'health-gate']) {
        expect(JSON.parse(readFileSync(join(out, gate, 'summary.json'), 'utf8'))).toMatchObject({ ok: true });
      }
      expect(JSON.parse(readFileSync(join(out, 'gate-core-prod', 'summary.json'), 'utf8'))).toMatchObject({ gate: 'core_prod', skipped: ['typecheck', 'build'] });
      expect(existsSync(join(out, 'summary.json'))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('a deployment whose pepper is a published default fails key_pepper_policy, and the value is never printed', async () => {
    const weak = await startTestService({ env: { KEY_PEPPER: TEST_PEPPER } });
    try {
      await request(weak.url).post('/v1/admin/control/operators').set(weak.auth).set(json).send({ display_name: 'Bob', role: 'owner' }).expect(201);
      const r = await preflight({ DATABASE_URL: weak.tdb.url ?? '', AIONIS_BASE_URL: weak.url, AIONIS_ADMIN_TOKEN: TEST_ADMIN_TOKEN }, '--json');
      expect(r.status).toBe(2);
      expect(failingOf(r.summary)).toEqual(['key_pepper_policy']);
      expect(checkOf(r.summary, 'key_pepper_policy')!.detail).toMatch(/known_default/);
      expect(r.stdout + r.stderr).not.toContain(TEST_PEPPER);
    } finally {
      await weak.stop();
    }
  });

  // Last: it stops this server's projector for good.
  it('a stopped projector (stale heartbeat) fails projections_caught_up and server_ready', async () => {
    await t.service.app.get(ProjectionsService).stopAll();
    await new Promise((r) => setTimeout(r, 1500));
    const r = await preflight(env, '--json', '--stale-ms', '1000');
    expect(r.status).toBe(2);
    expect(failingOf(r.summary)).toEqual(expect.arrayContaining(['projections_caught_up', 'server_ready']));
    expect(checkOf(r.summary, 'projections_caught_up')!.detail).toMatch(/heartbeat/);
  });
});
