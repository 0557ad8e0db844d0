import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { isoWeekOf } from '../../src/governance/reports/iso-week';
import { generateWeeklyReport } from '../../src/governance/reports/weekly-report.job';
import { runCliSync } from '../support/cli';
import { startTestService, type TestService } from '../support/service';
import { pgOnly } from '../support/skips';

const json = { 'Content-Type': 'application/json' };
const pgIt = pgOnly.it;
const cli = (file: string, args: string[], env: Record<string, string>) => {
  const r = runCliSync(file, args, env);
  return { ...r, out: r.out ?? {} };
};

async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}


/** Weekly governance reports on a seeded system: numbers, determinism, the admin API, the CLI and the archive. */
describe('governance weekly report', () => {
  let t: TestService;
  let archiveDir = '';
  let auditor = { Authorization: '' };
  const week = isoWeekOf(new Date());

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'aionis-gov-archive-'));
    t = await startTestService({ env: { ARCHIVE_DIR: archiveDir, GOVERNANCE_WEEKLY_REPORT_CRON: 'off', KEY_ROTATION_POLICY_DAYS: '1' } });
    const api = request(t.url);
    for (const id of ['gov-a', 'gov-b']) await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id }).expect(201);
    const k1 = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'gov-a', label: 'one' }).expect(201);
    const k2 = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'gov-a', label: 'two' }).expect(201);
    // Memory -> Policy in gov-a: one rule activated, a decision, feedback linked and not.
    const mem = (path: string, body: object) => api.post(`/v1/memory/${path}`).set('x-api-key', k2.body.api_key as string).set(json).send(body).then((r) => { if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`); return r; });
    const rule = await mem('write', { scope: 'gov', input_text: 'rule', auto_embed: false, nodes: [{ client_id: 'r1', type: 'rule', memory_lane: 'shared', slots: { if: {}, then: { tool: { prefer: ['search'] } } } }] });
    const ruleId = (rule.body.nodes as { id: string }[])[0]!.id;
    await mem('rules/state', { scope: 'gov', rule_node_id: ruleId, state: 'active', input_text: 'activate' });
    const decision = await mem('tools/select', { scope: 'gov', context: {}, candidates: ['search', 'browse'], run_id: 'gov-run' });
    await mem('tools/feedback', { scope: 'gov', outcome: 'positive', candidates: ['search', 'browse'], selected_tool: 'search', decision_id: decision.body.decision.decision_id, input_text: 'ok' });
    await mem('tools/feedback', { scope: 'gov', outcome: 'negative', candidates: ['search', 'browse'], selected_tool: 'browse', input_text: 'bad' });
    const k3 = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'gov-b', label: 'three' }).expect(201);
    await api.post(`/v1/admin/control/api-keys/${k1.body.key.key_id}/rotate`).set(t.auth).set(json).send({}).expect(201);
    await api.post(`/v1/admin/control/api-keys/${k3.body.key.key_id}/revoke`).set(t.auth).set(json).send({ reason: 'leaked' }).expect(200);
    await api.post('/v1/admin/control/tenants/gov-b/suspend').set(t.auth).set(json).send({ reason: 'unpaid' }).expect(200);
    const op = await api.post('/v1/admin/control/operators').set(t.auth).set(json).send({ operator_id: 'op_gov_auditor', display_name: 'Gov auditor', role: 'auditor' }).expect(201);
    auditor = { Authorization: `Bearer ${op.body.token as string}` };
    // Two outbox jobs of gov-a in the dead-letter state (the data plane's own table).
    for (let i = 0; i < 2; i++) {
      await sql`INSERT INTO memory_outbox (job_id, tenant_id, project_key, scope, commit_id, type, payload, status, attempts, next_attempt_at, created_at, updated_at)
        VALUES (${randomUUID()}, 'gov-a', '', 's', ${randomUUID()}, 'embed_nodes', '{}'::jsonb, 'dead_letter', 8, now(), now(), now())`.execute(t.tdb.database.db);
    }
    // This API instance measured when it stopped trusting its cache after the revocation and the rotation.
    await waitUntil('propagation samples', async () => ((await sql<{ n: number }>`SELECT count(*)::int AS n FROM key_propagation_samples`.execute(t.tdb.database.db)).rows[0]?.n ?? 0) >= 2);
  }, 60_000);
  afterAll(async () => {
    await t.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  it("counts the week's rotations, revocations (with measured propagation), suspensions and dead letters", async () => {
    const { report } = await generateWeeklyReport(t.tdb.database, { week, rotationPolicyDays: 90 });
    const a = report.tenants.find((x) => x.tenant_id === 'gov-a')!;
    const b = report.tenants.find((x) => x.tenant_id === 'gov-b')!;
    expect(a.keys.active).toBe(2); // "two" and the successor of "one"
    expect(a.rotations).toHaveLength(1);
    expect(a.rotations[0]?.propagation_ms).not.toBeNull();
    expect(a.dead_letters).toEqual({ open: 2, replayed: 0, discarded: 0 });
    expect(b.status).toBe('suspended');
    expect(b.revocations).toEqual([expect.objectContaining({ reason: 'leaked', instances: 1 })]);
    expect(b.revocations[0]?.propagation_ms).toBeLessThan(5000);
    expect(report.overall.tenants.suspended_this_week.map((s) => s.tenant_id)).toEqual(['gov-b']);
    expect(report.overall.operators.created.map((o) => o.operator_id)).toEqual(['op_bootstrap_owner', 'op_gov_auditor']);
    expect(report.checks.find((c) => c.name === 'audit_chain_intact')?.pass).toBe(true);
    expect(report.checks.find((c) => c.name === 'dead_letters_resolved')?.count).toBe(1);
    expect(a.policy.rules).toEqual(expect.objectContaining({ total: 1, by_state: { draft: 0, shadow: 0, active: 1, disabled: 0 }, private_without_owner: 0 }));
    expect(a.policy.rules.changes_this_week).toEqual([expect.objectContaining({ scope: 'gov', from: 'draft', to: 'active' })]);
    expect(a.policy.decisions).toEqual({ made: 1, created_from_feedback: 1 });
    expect(a.policy.feedback).toEqual(expect.objectContaining({ tool_feedback: 2, link_coverage: 0.5, outcomes: { positive: 1, negative: 1, neutral: 0 } }));
    expect(b.policy.decisions.made).toBe(0);
    expect(report.overall.policy.rule_changes).toHaveLength(1);
    expect(report.checks.find((c) => c.name === 'policy_private_rules_owned')?.pass).toBe(true);
    // A week that ends 8-14 days from now: with a 1-day policy every active key is past it.
    const later = isoWeekOf(new Date(Date.now() + 7 * 86_400_000));
    const { report: future } = await generateWeeklyReport(t.tdb.database, { week: later, rotationPolicyDays: 1 });
    expect(future.overall.keys.past_rotation_policy).toBe(future.overall.keys.active);
    expect(future.overall.keys.active).toBe(2);
  });

  it('is byte-identical when generated twice for the same week and log position, even after more writes', async () => {
    const first = await generateWeeklyReport(t.tdb.database, { week, rotationPolicyDays: 90 });
    await request(t.url).post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'gov-later' }).expect(201);
    const again = await generateWeeklyReport(t.tdb.database, { week, rotationPolicyDays: 90, position: first.report.log_position });
    expect(again.json.equals(first.json)).toBe(true);
    expect(again.markdown.equals(first.markdown)).toBe(true);
    const now = await generateWeeklyReport(t.tdb.database, { week, rotationPolicyDays: 90 });
    expect(now.report.log_position).not.toBe(first.report.log_position);
  });

  it('the admin API: operators run and read reports, auditors read but cannot run them', async () => {
    const api = request(t.url);
    await api.post('/v1/admin/control/governance/reports').set(auditor).set(json).send({ week: week.label }).expect(403);
    const run = await api.post('/v1/admin/control/governance/reports').set(t.auth).set(json).send({ week: week.label }).expect(201);
    expect(run.body).toMatchObject({ week: week.label, status: 'passed_with_warnings' });
    const id = run.body.id as string;
    const list = await api.get(`/v1/admin/control/governance/reports?week=${week.label}`).set(auditor).expect(200);
    expect(list.body.items.map((i: { id: string }) => i.id)).toContain(id);
    expect((await api.get('/v1/admin/control/governance/reports?status=failed').set(auditor).expect(200)).body.items).toEqual([]);
    const got = await api.get(`/v1/admin/control/governance/reports/${id}`).set(auditor).expect(200);
    expect(got.body).toMatchObject({ schema: 'aionis-governance-weekly/1', week: { label: week.label } });
    const md = await api.get(`/v1/admin/control/governance/reports/${id}?format=markdown`).set(auditor).expect(200);
    expect(md.headers['content-type']).toContain('text/markdown');
    expect(md.text).toContain(`# Governance weekly report ${week.label}`);
    const file = await api.get(`/v1/admin/control/governance/reports/${id}/files/report.json`).set(auditor).expect(200);
    expect(file.headers['x-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
    const manifest = await api.get(`/v1/admin/control/governance/reports/${id}?format=manifest`).set(auditor).expect(200);
    expect(manifest.body.manifest.files.map((f: { path: string }) => f.path)).toEqual(['WEEKLY_REPORT.md', 'report.json']);
    const evidence = await api.get('/v1/admin/control/evidence?kind=governance-weekly').set(auditor).expect(200);
    expect(evidence.body.items[0]).toMatchObject({ id, kind: 'governance-weekly', labels: { week: week.label } });
    // Bad input: a clear problem, never a 500.
    const bad = await api.post('/v1/admin/control/governance/reports').set(t.auth).set(json).send({ week: '2026-W99' }).expect(400);
    expect(bad.body.code).toBe('validation_failed');
    await api.get(`/v1/admin/control/governance/reports/${'0'.repeat(64)}`).set(auditor).expect(404);
    await api.get('/v1/admin/control/governance/reports/nope').set(auditor).expect(400);
    await api.get('/v1/admin/control/evidence?kind=other').set(auditor).expect(400);
  });

  pgIt('the CLI archives a signed bundle evidence:verify accepts, exits 2 on warnings only with --strict-warnings, and 2 on a broken audit chain', async () => {
    const env = { DATABASE_URL: t.tdb.url ?? '', DATA_DIR: t.config.dataDir, ARCHIVE_DIR: archiveDir };
    const out = mkdtempSync(join(tmpdir(), 'aionis-gov-out-'));
    const ok = cli('governance-weekly-report.ts', ['--week', week.label, '--json', '--out', out], env);
    expect(ok.status).toBe(0);
    expect(ok.out).toMatchObject({ ok: true, gate: 'governance_weekly', status: 'passed_with_warnings' });
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'))).toMatchObject({ week: { label: week.label } });
    expect(readFileSync(join(out, 'WEEKLY_REPORT.md'), 'utf8')).toContain('## API keys');
    expect(cli('governance-weekly-report.ts', ['--week', week.label, '--json', '--strict-warnings', '--no-archive'], env).status).toBe(2);
    const verified = cli('evidence-verify.ts', ['--all', '--archive', archiveDir, '--json'], {});
    expect(verified.out).toMatchObject({ ok: true, findings: [] });
    expect(verified.status).toBe(0);
    expect(cli('governance-weekly-report.ts', ['--week', 'W48'], env).status).toBe(1);
    // Without the service's signing key the CLI refuses to archive (it never makes up a key).
    expect(cli('governance-weekly-report.ts', ['--week', week.label], { DATABASE_URL: t.tdb.url ?? '', DATA_DIR: out }).status).toBe(1);
    // Edit an event behind the log's back: the report fails on the audit chain.
    const row = (await sql<{ global_position: number; data: unknown }>`SELECT global_position, data FROM es_events WHERE type = 'TenantSuspended' LIMIT 1`.execute(t.tdb.database.db)).rows[0]!;
    await sql`UPDATE es_events SET data = jsonb_set(data, '{reason}', '"forged"') WHERE global_position = ${row.global_position}`.execute(t.tdb.database.db);
    try {
      const failed = cli('governance-weekly-report.ts', ['--week', week.label, '--json', '--no-archive'], env);
      expect(failed.status).toBe(2);
      expect(failed.out.failing).toEqual(['audit_chain_intact']);
    } finally {
      await sql`UPDATE es_events SET data = ${JSON.stringify(row.data)}::jsonb WHERE global_position = ${row.global_position}`.execute(t.tdb.database.db);
      rmSync(out, { recursive: true, force: true });
    }
  }, 90_000);
});
