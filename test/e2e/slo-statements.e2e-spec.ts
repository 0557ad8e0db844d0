import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { AlertRecorder } from '../../src/alerting/alert-recorder';
import { TelemetryRepository } from '../../src/data-plane/telemetry/telemetry.repository';
import { verifyBundle } from '../../src/governance/evidence/bundles';
import { FilesystemEvidenceStore } from '../../src/governance/evidence/evidence-store';
import { runCli, runCliSync } from '../support/cli';
import { startTestService, type TestService } from '../support/service';
import { pgOnly } from '../support/skips';

const json = { 'Content-Type': 'application/json' };
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const iso = (ms: number) => new Date(ms).toISOString();
const monthOf = (ms: number) => new Date(ms).toISOString().slice(0, 7);
const MIN = 60_000;

/** Raw text of a response (the statement is sent as canonical JSON bytes). */
const text = (r: request.Response): string => (typeof r.text === 'string' ? r.text : '');

/**
 * SLO statements on a real service: rollups seeded for two tenants on both sides of the boundary
 * between last month and this one, real alert events recorded through the AlertRecorder, the
 * statement computed and issued through the admin API and the CLI, the bundle verified offline,
 * tenant isolation and byte-for-byte determinism.
 */
describe('SLO statements (API, CLI, signed evidence)', () => {
  let t: TestService;
  let archiveDir = '';
  const base = '/v1/admin/control/tenants';
  const now = Date.now();
  const curStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
  const prevStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth() - 1, 1);
  const PREV = monthOf(prevStart);
  // Two months back: beyond a starter tenant's retention even in the month-close hold (docs/slo.md).
  const OLD = monthOf(Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth() - 2, 1));
  const CUR = monthOf(curStart);
  const A = 'slo-stmt-a';
  const B = 'slo-stmt-b';
  const C = 'slo-stmt-starter';
  let alertA = '';
  let alertB = '';

  async function rollup(tenant: string, minute: number, total: number, s5xx: number, slow = 0): Promise<void> {
    // enterprise threshold 250 ms: the `slow` requests land in the 500 ms bucket
    const buckets = [total - slow, 0, 0, 0, 0, 0, slow, 0, 0, 0, 0];
    await t.service.app.get(TelemetryRepository).addRollup({ tenant, project: '', key: 'k', endpoint: 'write', minute: iso(minute), rollup: { total, status_2xx: total - s5xx, status_4xx: 0, status_429: 0, status_5xx: s5xx, latency_sum_ms: total, buckets } });
  }

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'aionis-slo-archive-'));
    t = await startTestService({ env: { ARCHIVE_DIR: archiveDir, GOVERNANCE_WEEKLY_REPORT_CRON: 'off' } });
    for (const [tenant_id, tier] of [[A, 'enterprise'], [B, 'enterprise'], [C, 'starter']] as const) {
      await request(t.url).post(base).set(t.auth).set(json).send({ tenant_id, display_name: tenant_id, tier }).expect(201);
    }
    // Last month: A 1000 requests (2 failed, 20 slow) in two minutes, one of them its last; B 500 with 100 failed.
    await rollup(A, prevStart + 5 * MIN, 400, 1, 10);
    await rollup(A, curStart - MIN, 600, 1, 10);
    await rollup(A, curStart - MIN, 0, 0); // additive upsert: the same minute counts once
    await rollup(B, curStart - MIN, 500, 100);
    // This month (its first minute, in the past whatever the date): A 100 clean requests, B 50.
    await rollup(A, curStart, 100, 0);
    await rollup(B, curStart, 50, 0);
    // Real alert events: A's fires 30 minutes before the boundary and resolves 30 s into this month; B's stays open.
    const recorder = t.service.app.get(AlertRecorder);
    const fire = (tenant: string, at: number) => recorder.record({ kind: 'fire', rule: 'slo-availability-fast-burn', tenant_id: tenant, severity: 'page', numbers: { sli: 'availability' } }, () => new Date(at));
    alertA = (await fire(A, curStart - 30 * MIN))!.alert_id;
    alertB = (await fire(B, curStart - 45 * MIN))!.alert_id;
    await recorder.record({ kind: 'resolve', alert_id: alertA, rule: 'slo-availability-fast-burn', tenant_id: A, numbers: {} }, () => new Date(curStart + 30_000));
  }, 60_000);
  afterAll(async () => {
    await t.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  const get = (tenant: string, month: string) => request(t.url).get(`${base}/${tenant}/slo-statements/${month}`).set(t.auth);

  it("computes last month from A's rollups and events only: availability, latency, budget, the open incident clipped at the month's end", async () => {
    const r = await get(A, PREV).expect(200).expect('Content-Type', /application\/json/);
    const body = text(r);
    expect(r.headers['x-statement-sha256']).toBe(sha(body));
    const s = JSON.parse(body);
    expect(s).toMatchObject({
      schema: 'aionis-slo-statement/1',
      tenant_id: A,
      computable: true,
      period: { month: PREV, start: iso(prevStart), end: iso(curStart), as_of: iso(curStart), provisional: now < curStart + 10 * MIN },
      targets: { tier: 'enterprise', availability_target: 0.999, latency_threshold_ms: 250, latency_target: 0.99, basis: 'at_creation', changes: [] },
      requests: { total: 1000, status_5xx: 2 },
      availability: { requests: 1000, good: 998, bad: 2, ratio: 0.998, met: false, error_budget: { allowed_bad: 1, consumed: 2, remaining: -1 } },
      latency: { requests: 1000, good: 980, bad: 20, ratio: 0.98, met: false, threshold_ms: 250, p50_ms: 5, p95_ms: 5, p99_ms: 500, error_budget: { allowed_bad: 10, consumed: 2 } },
      incidents: { count: 1, open: 1, page: 1, total_duration_seconds: 1800 },
      migrations: [],
      maintenance: { windows: [], excluded_minutes: 0 },
      data: { minutes_with_rollups: 2 },
    });
    expect(s.incidents.items).toEqual([expect.objectContaining({ alert_id: alertA, open: true, resolved_at: null, started_before_period: false, duration_seconds: 1800 })]);
    expect(s.data.minutes_in_period).toBe((curStart - prevStart) / MIN);
    // Tenant B's numbers and alert never appear in A's statement.
    expect(body).not.toContain(B);
    expect(body).not.toContain(alertB);
    // Determinism: the same month again gives the same bytes.
    expect(text(await get(A, PREV).expect(200))).toBe(body);
  });

  it("B's statement is B's own: its rollups, its open alert", async () => {
    const s = JSON.parse(text(await get(B, PREV).expect(200)));
    expect(s).toMatchObject({ tenant_id: B, availability: { requests: 500, bad: 100 }, incidents: { count: 1, open: 1 } });
    expect(s.incidents.items[0].alert_id).toBe(alertB);
    expect(JSON.stringify(s)).not.toContain(A);
  });

  it('this month is provisional, covers up to the current minute, and shows the incident that began last month, now resolved', async () => {
    const s = JSON.parse(text(await get(A, CUR).expect(200)));
    expect(s.period).toMatchObject({ month: CUR, provisional: true });
    expect(Date.parse(s.period.as_of)).toBeLessThanOrEqual(Date.now());
    expect(s.requests.total).toBe(Date.now() >= curStart + MIN ? 100 : 0);
    expect(s.incidents.items).toEqual([expect.objectContaining({ alert_id: alertA, open: false, started_before_period: true, resolved_at: iso(curStart + 30_000), duration_seconds: 30 })]);
    const md = await request(t.url).get(`${base}/${A}/slo-statements/${CUR}`).query({ format: 'markdown' }).set(t.auth).expect(200).expect('Content-Type', /text\/markdown/);
    expect(text(md)).toContain(`# SLO statement: ${A}, ${CUR} (PROVISIONAL)`);
  });

  it('issues the statement as a signed bundle that verifies offline, records SloStatementIssued, and re-issuing the same statement records nothing', async () => {
    const expected = text(await get(A, PREV).expect(200));
    const r = await request(t.url).post(`${base}/${A}/slo-statements/${PREV}`).set(t.auth).expect(200);
    expect(r.body).toMatchObject({ issued: true, issue: { tenant_id: A, month: PREV, statement_sha256: sha(expected), as_of: iso(curStart) } });
    const id = r.body.issue.bundle_id as string;
    expect(r.body.location).toBe(`file://${archiveDir}/slo-statement/${id}`);
    // The archived statement.json is the endpoint's bytes.
    expect(readFileSync(join(archiveDir, 'slo-statement', id, 'files', 'statement.json'), 'utf8')).toBe(expected);
    expect(readFileSync(join(archiveDir, 'slo-statement', id, 'files', 'SLO_STATEMENT.md'), 'utf8')).toContain(`# SLO statement: ${A}, ${PREV}`);
    expect(await verifyBundle(new FilesystemEvidenceStore(archiveDir), 'slo-statement', id)).toEqual([]);
    // The issue is an event of the tenant, through the command path (actor and metadata of the request).
    const ev = await sql<{ data: { bundle_id: string; statement_sha256: string }; metadata: { actor: { id: string }; request_id: string | null }; tenant_id: string }>`
      SELECT data, metadata, tenant_id FROM es_events WHERE stream_id = ${`slostatements-${A}`} AND type = 'SloStatementIssued'`.execute(t.tdb.database.db);
    expect(ev.rows).toHaveLength(1);
    const row = ev.rows[0]!;
    const data = typeof row.data === 'string' ? JSON.parse(row.data) : row.data;
    const meta = typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata;
    expect(data).toMatchObject({ bundle_id: id, statement_sha256: sha(expected) });
    expect(row.tenant_id).toBe(A);
    expect(meta.request_id).toEqual(expect.any(String));
    // Same statement again: the same bundle, no new event or bundle.
    const again = await request(t.url).post(`${base}/${A}/slo-statements/${PREV}`).set(t.auth).expect(200);
    expect(again.body).toMatchObject({ issued: false, issue: { bundle_id: id } });
    const list = await request(t.url).get(`${base}/${A}/slo-statements`).set(t.auth).expect(200);
    expect(list.body.items).toEqual([expect.objectContaining({ bundle_id: id, month: PREV, statement_sha256: sha(expected) })]);
    // Offline verification by the operator's tool (no database): the bundle and its chain.
    const verified = runCliSync('evidence-verify.ts', [id, '--archive', archiveDir, '--json']);
    expect(verified.out).toMatchObject({ ok: true, findings: [], target: { kind: 'slo-statement', id } });
    expect(verified.status).toBe(0);
    // A statement that changed (a new rollup in the month) is a new issue, chained after the first.
    await rollup(A, prevStart + 10 * MIN, 10, 0);
    const changed = await request(t.url).post(`${base}/${A}/slo-statements/${PREV}`).set(t.auth).expect(200);
    expect(changed.body.issue.bundle_id).not.toBe(id);
    expect(changed.body.statement.requests.total).toBe(1010);
    const all = runCliSync('evidence-verify.ts', ['--all', '--archive', archiveDir, '--json']);
    expect(all.out).toMatchObject({ ok: true, findings: [] });
  });

  it('a month beyond the telemetry retention says it cannot be computed and cannot be issued', async () => {
    // starter keeps 7 days of rollups (and a closed month's for 7 days after it ends); the month before last began at least 59 days ago.
    await rollup(C, prevStart - MIN, 100, 0);
    const s = JSON.parse(text(await get(C, OLD).expect(200)));
    expect(s).toMatchObject({ computable: false, reason: 'beyond_telemetry_retention' });
    expect(s).not.toHaveProperty('availability');
    const r = await request(t.url).post(`${base}/${C}/slo-statements/${OLD}`).set(t.auth).expect(422);
    expect(r.body.code).toBe('slo_statement_not_computable');
  });

  it('refuses unknown tenants, malformed and future months', async () => {
    expect((await get('slo-stmt-nobody', PREV).expect(404)).body.code).toBe('tenant_not_found');
    expect((await get(A, '2026-13').expect(400)).body.errors).toEqual([{ field: 'params.month', message: expect.stringMatching(/calendar month/) }]);
    expect((await get(A, 'last').expect(400)).body.code).toBe('validation_failed');
    expect((await get(A, '2999-01').expect(400)).body.errors).toEqual([{ field: 'params.month', message: 'has not started yet' }]);
    await request(t.url).post(`${base}/slo-stmt-nobody/slo-statements/${PREV}`).set(t.auth).expect(404);
  });

  pgOnly.it('the CLI issues the same statement (exit 0), exits 2 beyond retention and 1 for a bad month or an unknown tenant', async () => {
    const env = { DATABASE_URL: t.tdb.url ?? '', DATA_DIR: t.config.dataDir, ARCHIVE_DIR: archiveDir };
    const expected = text(await get(B, PREV).expect(200));
    const first = await runCli<{ ok: boolean; issued: boolean; bundle_id: string; statement_sha256: string; statement: { tenant_id: string } }>('slo-statement.ts', ['--tenant', B, '--month', PREV, '--json'], env);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.out).toMatchObject({ ok: true, issued: true, statement_sha256: sha(expected), statement: { tenant_id: B } });
    expect(readFileSync(join(archiveDir, 'slo-statement', first.out!.bundle_id, 'files', 'statement.json'), 'utf8')).toBe(expected);
    // The API sees the CLI's issue: the same statement is not issued twice.
    const api = await request(t.url).post(`${base}/${B}/slo-statements/${PREV}`).set(t.auth).expect(200);
    expect(api.body.issue.bundle_id).toBe(first.out!.bundle_id);
    expect(api.body.issue.issued_by).toMatch(/^cli:/);
    const again = await runCli<{ issued: boolean; bundle_id: string }>('slo-statement.ts', ['--tenant', B, '--month', PREV, '--json'], env);
    expect(again.status).toBe(0);
    expect(again.out).toMatchObject({ issued: false, bundle_id: first.out!.bundle_id });
    expect(runCliSync('evidence-verify.ts', [first.out!.bundle_id, '--archive', archiveDir]).status).toBe(0);

    const beyond = await runCli('slo-statement.ts', ['--tenant', C, '--month', OLD, '--json'], env);
    expect(beyond.status).toBe(2);
    expect(beyond.out).toMatchObject({ ok: false, refused: 'not_computable' });
    const unknown = await runCli('slo-statement.ts', ['--tenant', 'slo-stmt-nobody', '--month', PREV, '--json'], env);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/tenant slo-stmt-nobody does not exist/);
    const future = await runCli('slo-statement.ts', ['--tenant', A, '--month', '2999-01'], env);
    expect(future.status).toBe(1);
    expect(future.stderr).toMatch(/has not started yet/);
  }, 120_000);

  it('the CLI refuses a malformed month or a missing tenant before touching a database (exit 1)', () => {
    expect(runCliSync('slo-statement.ts', ['--tenant', A, '--month', '2026-13']).status).toBe(1);
    const missing = runCliSync('slo-statement.ts', ['--month', PREV]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/--tenant is required/);
  });
});
