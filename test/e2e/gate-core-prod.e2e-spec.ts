import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { leftoverRows, PERF_TEARDOWN_TABLES, runLoad } from '../../src/ops/perf/load-run';
import type { CheckResult } from '../../src/ops/checks/check-result';
import { runCli } from '../support/cli';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from '../support/service';
import { pgOnly } from '../support/skips';

// Every test spawns CLIs (about a second each when the machine is idle, several under load).
jest.setTimeout(60_000);
const json = { 'Content-Type': 'application/json' };

type Check = CheckResult;
interface Summary {
  ok: boolean;
  gate: string;
  failing: string[];
  warnings: number;
  checks: Check[];
  skipped: string[];
  perf: { tenant_id: string; scope: string; write: { count: number; p95_ms: number } | null; recall: { count: number } | null; teardown: { event_recorded: boolean; leftover_rows: Record<string, number> } };
}

async function gate(env: Record<string, string>, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string; summary: Summary | null }> {
  const r = await runCli<Summary>('gate-core-prod.ts', args, env);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, summary: r.out };
}

/** The steps of the JSON progress lines on stderr; fails on any other stderr output. */
function progressSteps(stderr: string, operation: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { progress: string; step: string })
    .map((p) => {
      expect(p.progress).toBe(operation);
      return p.step;
    });
}

const checkOf = (s: Summary | null, name: string): Check | undefined => s?.checks.find((c) => c.name === name);

/**
 * gate:core:prod against a real server on PostgreSQL, with --skip-build (the build is not what is
 * under test here and costs minutes). The load run's perf tenant must be gone afterwards: its key
 * revoked, its rows deleted, PerfTenantTornDown in its stream.
 */
pgOnly.describe('gate:core:prod', () => {
  let t: TestService;
  let env: Record<string, string>;

  beforeAll(async () => {
    t = await startTestService({ env: { KEY_PEPPER: randomBytes(32).toString('hex') } });
    env = { DATABASE_URL: t.tdb.url ?? '', AIONIS_BASE_URL: t.url, AIONIS_ADMIN_TOKEN: TEST_ADMIN_TOKEN };
  });
  afterAll(async () => {
    await t.stop();
  });

  async function expectTornDown(tenantId: string): Promise<void> {
    const db = t.tdb.database.db;
    expect(await leftoverRows(t.tdb.database, tenantId)).toEqual(Object.fromEntries(PERF_TEARDOWN_TABLES.map((table) => [table, 0])));
    const direct = await sql<{ n: number }>`
      SELECT (SELECT count(*) FROM memory_nodes WHERE tenant_id = ${tenantId}) + (SELECT count(*) FROM memory_commits WHERE tenant_id = ${tenantId})
           + (SELECT count(*) FROM memory_scopes WHERE tenant_id = ${tenantId}) + (SELECT count(*) FROM memory_outbox WHERE tenant_id = ${tenantId})
           + (SELECT count(*) FROM memory_edges WHERE tenant_id = ${tenantId}) + (SELECT count(*) FROM telemetry_rollups WHERE tenant_id = ${tenantId})
           + (SELECT count(*) FROM quota_usage WHERE tenant_id = ${tenantId}) + (SELECT count(*) FROM rate_limit_buckets WHERE tenant_id = ${tenantId})
           + (SELECT count(*) FROM memory_rule_defs WHERE tenant_id = ${tenantId}) + (SELECT count(*) FROM memory_pack_imports WHERE tenant_id = ${tenantId})
           + (SELECT count(*) FROM memory_tenant_counters WHERE tenant_id = ${tenantId}) + (SELECT count(*) FROM memory_decisions WHERE tenant_id = ${tenantId})
           + (SELECT count(*) FROM memory_rule_feedback WHERE tenant_id = ${tenantId}) + (SELECT count(*) FROM api_key_usage WHERE key_id IN (SELECT key_id FROM rm_api_keys WHERE tenant_id = ${tenantId})) AS n`.execute(db);
    expect(Number(direct.rows[0]?.n)).toBe(0);
    const events = await sql<{ type: string; data: { removed: Record<string, number> } }>`
      SELECT type, data FROM es_events WHERE stream_id = ${`tenant-${tenantId}`} ORDER BY stream_position`.execute(db);
    expect(events.rows.map((e) => e.type)).toEqual(expect.arrayContaining(['TenantCreated', 'PerfTenantTornDown']));
    const tenant = await request(t.url).get(`/v1/admin/control/tenants/${tenantId}`).set(t.auth).expect(200);
    expect(tenant.body).toMatchObject({ status: 'suspended', metadata: { purpose: 'perf', perf_torn_down_at: expect.any(String) } });
    const keys = await request(t.url).get('/v1/admin/control/api-keys').query({ tenant_id: tenantId }).set(t.auth).expect(200);
    expect(keys.body.items.length).toBeGreaterThan(0);
    expect(keys.body.items.every((k: { status: string }) => k.status === 'revoked')).toBe(true);
  }

  it('passes with --skip-build (reported as skipped warnings) and leaves nothing of its perf tenant behind', async () => {
    const out = mkdtempSync(join(tmpdir(), 'aionis-gate-core-'));
    try {
      const r = await gate(env, '--json', '--skip-build', '--requests', '30', '--out', out);
      // Progress while it runs goes to stderr, one JSON line per step; stdout is the summary alone.
      expect(progressSteps(r.stderr, 'gate:core:prod')).toEqual(['load run (30 requests, concurrency 4)', 'health-gate', 'consistency-cross-tenant', 'done']);
      expect(r.summary?.failing).toEqual([]);
      expect(r.status).toBe(0);
      const s = r.summary!;
      expect(s.checks.map((c) => c.name)).toEqual([
        'typecheck',
        'build',
        'perf_isolation_guard',
        'perf_write_p95',
        'perf_recall_p95',
        'perf_error_rate',
        'perf_teardown',
        'health_gate',
        'consistency_cross_tenant',
      ]);
      expect(s.skipped).toEqual(['typecheck', 'build']);
      expect(checkOf(s, 'build')).toMatchObject({ severity: 'warning', pass: false, detail: expect.stringMatching(/^SKIPPED/) });
      expect(s.warnings).toBe(2);
      expect(s.perf.tenant_id).toMatch(/^perf-[0-9a-f]+$/);
      expect(s.perf.scope).toMatch(/^perf-/);
      expect(s.perf.write?.count).toBe(30);
      expect(s.perf.recall?.count).toBe(30);
      expect(s.perf.teardown.event_recorded).toBe(true);
      expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'))).toMatchObject({ ok: true, gate: 'core_prod' });
      expect(JSON.parse(readFileSync(join(out, 'health-gate', 'summary.json'), 'utf8'))).toMatchObject({ ok: true });
      await expectTornDown(s.perf.tenant_id);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('an impossible --max-write-p95-ms 0 exits 2 naming perf_write_p95, and still tears the tenant down', async () => {
    const r = await gate(env, '--json', '--skip-build', '--requests', '10', '--max-write-p95-ms', '0');
    expect(r.status).toBe(2);
    expect(r.summary?.failing).toEqual(['perf_write_p95']);
    expect(checkOf(r.summary, 'perf_write_p95')!.detail).toMatch(/write p95 [\d.]+ ms exceeds 0 ms/);
    await expectTornDown(r.summary!.perf.tenant_id);
  });

  it("the load run's recalls find the nodes its writes stored (a recall of nothing measures nothing)", async () => {
    // A recording proxy in front of the service: every recall answer of the load run is kept.
    const seedCounts: number[] = [];
    const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k, v]) => typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k))) as Record<string, string>;
        const body = Buffer.concat(chunks);
        void fetch(`${t.url}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(body.length > 0 ? { body } : {}) })
          .then(async (r) => {
            const text = await r.text();
            if (req.url === '/v1/memory/recall' && r.status === 200) seedCounts.push(((JSON.parse(text) as { seeds?: unknown[] }).seeds ?? []).length);
            res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
            res.end(text);
          })
          .catch((err: unknown) => {
            res.writeHead(502);
            res.end(String(err));
          });
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    try {
      const { checks, report } = await runLoad({
        baseUrl: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`,
        adminToken: TEST_ADMIN_TOKEN,
        database: t.tdb.database,
        requests: 5,
        concurrency: 1,
        timeoutMs: 20_000,
        maxWriteP95Ms: 60_000,
        maxRecallP95Ms: 60_000,
        maxErrorRate: 0,
        runId: 'recall-finds',
      });
      expect(checks.filter((c) => !c.pass)).toEqual([]);
      expect(seedCounts).toHaveLength(5);
      // Five nodes written, recall limit 10: every recall has the five as seeds.
      expect(seedCounts).toEqual([5, 5, 5, 5, 5]);
      await expectTornDown(report.tenant_id);
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  it('--strict-warnings refuses a run that skipped the build', async () => {
    const r = await gate(env, '--json', '--skip-build', '--strict-warnings', '--requests', '5');
    expect(r.status).toBe(2);
    expect(r.summary?.failing).toEqual(['typecheck', 'build']);
  });

  it('usage errors exit 1; so does a token the server refuses (a runtime error, not a failed gate)', async () => {
    const refused = await gate({ ...env, AIONIS_ADMIN_TOKEN: 'aio_admin_not-a-real-token' }, '--json', '--skip-build', '--requests', '5');
    expect(refused.status).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/error: the server refused AIONIS_ADMIN_TOKEN: GET \/v1\/admin\/ops\/runtime answered 401/);
    expect((await gate(env, '--json', '--bogus')).status).toBe(1);
    expect((await gate(env, '--requests', '0')).status).toBe(1);
    expect((await gate({ ...env, AIONIS_ADMIN_TOKEN: '' }, '--skip-build')).status).toBe(1);
  });

  describe('POST /v1/admin/control/tenants/:id/perf-teardown', () => {
    const api = () => request(t.url);

    it('refuses a normal tenant with 422 tenant_not_perf and deletes nothing', async () => {
      await api().post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'acme-normal', tier: 'enterprise', metadata: { purpose: 'perf' } }).expect(201);
      const key = (await api().post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'acme-normal' }).expect(201)).body.api_key as string;
      await api().post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 'default', input_text: 'x', nodes: [{ client_id: 'n1', type: 'event', title: 'keep me' }] }).expect(200);
      const r = await api().post('/v1/admin/control/tenants/acme-normal/perf-teardown').set(t.auth).set(json).send({}).expect(422);
      expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(r.body).toMatchObject({ code: 'tenant_not_perf', status: 422, tenant_id: 'acme-normal' });
      const left = await leftoverRows(t.tdb.database, 'acme-normal');
      expect(left.memory_nodes).toBe(1);
      expect(left.memory_commits).toBe(1);
      const events = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE stream_id = 'tenant-acme-normal' AND type = 'PerfTenantTornDown'`.execute(t.tdb.database.db);
      expect(events.rows[0]?.n).toBe(0);
      expect((await api().get('/v1/admin/control/tenants/acme-normal').set(t.auth).expect(200)).body.status).toBe('active');
    });

    it('refuses a perf- tenant created without the marker, and the marker cannot be added later', async () => {
      await api().post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'perf-unmarked' }).expect(201);
      expect((await api().post('/v1/admin/control/tenants/perf-unmarked/perf-teardown').set(t.auth).expect(422)).body.code).toBe('tenant_not_perf');
      const patch = await api().patch('/v1/admin/control/tenants/perf-unmarked').set(t.auth).set(json).send({ metadata: { purpose: 'perf' } }).expect(400);
      expect(patch.body.code).toBe('validation_failed');
      expect((await api().post('/v1/admin/control/tenants/perf-unmarked/perf-teardown').set(t.auth).expect(422)).body.code).toBe('tenant_not_perf');
    });

    it('is refused for auditors (403) and answers 404 for an unknown tenant', async () => {
      await api().post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'perf-by-hand', metadata: { purpose: 'perf' } }).expect(201);
      const auditor = (await api().post('/v1/admin/control/operators').set(t.auth).set(json).send({ display_name: 'auditor', role: 'auditor' }).expect(201)).body.token as string;
      expect((await api().post('/v1/admin/control/tenants/perf-by-hand/perf-teardown').set({ Authorization: `Bearer ${auditor}` }).expect(403)).body.code).toBe('forbidden');
      expect((await api().post('/v1/admin/control/tenants/perf-nobody/perf-teardown').set(t.auth).expect(404)).body.code).toBe('tenant_not_found');
      await api().post('/v1/admin/control/tenants/perf-by-hand/perf-teardown').expect(401);
    });

    it('tears down a perf tenant once; a repeat records nothing; the tenant is closed for good', async () => {
      const first = await api().post('/v1/admin/control/tenants/perf-by-hand/perf-teardown').set(t.auth).set(json).send({ reason: 'manual cleanup' }).expect(200);
      expect(first.body).toMatchObject({ event_recorded: true, tenant: { tenant_id: 'perf-by-hand', status: 'suspended' }, removed: expect.objectContaining({ memory_nodes: 0 }) });
      const again = await api().post('/v1/admin/control/tenants/perf-by-hand/perf-teardown').set(t.auth).expect(200);
      expect(again.body).toMatchObject({ event_recorded: false, removed: null });
      const events = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE stream_id = 'tenant-perf-by-hand' AND type = 'PerfTenantTornDown'`.execute(t.tdb.database.db);
      expect(events.rows[0]?.n).toBe(1);
      expect((await api().post('/v1/admin/control/tenants/perf-by-hand/reactivate').set(t.auth).expect(409)).body.code).toBe('tenant_torn_down');
      const audit = await api().get('/v1/admin/control/audit-events').query({ tenant_id: 'perf-by-hand' }).set(t.auth).expect(200);
      expect(audit.body.items.map((e: { type: string }) => e.type)).toContain('PerfTenantTornDown');
    });
  });
});
