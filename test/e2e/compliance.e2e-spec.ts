import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { loadComplianceMapping } from '../../src/governance/compliance/mapping';
import { currentQuarter, periodBetween } from '../../src/governance/compliance/period';
import { archiveComplianceReport, generateComplianceReport } from '../../src/governance/compliance/report';
import { verifyBundle } from '../../src/governance/evidence/bundles';
import { archiveBundle } from '../../src/governance/evidence/evidence-archive';
import { FilesystemEvidenceStore } from '../../src/governance/evidence/evidence-store';
import { isoWeekOf } from '../../src/governance/reports/iso-week';
import { runCrossTenantChecks } from '../../src/ops/checks/cross-tenant';
import { runScopeChecks } from '../../src/ops/checks/scope';
import { recordGateRun, summarise } from '../../src/ops/cli/gate-report';
import { existingSealKey } from '../../src/platform/config/secrets';
import { PostgresEventStore } from '../../src/platform/event-store/postgres-event-store';
import { startTestService, type TestService } from '../support/service';
import { pgOnly } from '../support/skips';

const ROOT = join(__dirname, '../..');
const json = { 'Content-Type': 'application/json' };
const pgIt = pgOnly.it;
const CONTROLS = '/v1/admin/control/compliance/controls';

interface ControlView {
  id: string;
  status: string;
  evidence: { source: { kind: string }; latest: { at: string; ref: string; passed: boolean; detail: string } | null; age_days: number | null; status: string }[];
}

function cli(file: string, args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli', file), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    encoding: 'utf8',
    timeout: 90_000,
  });
  let out: Record<string, unknown> = {};
  try {
    out = JSON.parse(r.stdout || 'null') as Record<string, unknown>;
  } catch {
    out = { raw: r.stdout };
  }
  return { status: r.status, stderr: r.stderr, out };
}

/** The compliance view on a real service: evidence from real actions, statuses, filters, the report and its archive. */
describe('compliance controls and report', () => {
  let t: TestService;
  let archiveDir = '';
  let auditor = { Authorization: '' };
  const mapping = loadComplianceMapping();
  const byId = (controls: ControlView[]) => new Map(controls.map((c) => [c.id, c]));
  const get = async (query = '') => (await request(t.url).get(`${CONTROLS}${query}`).set(auditor).expect(200)).body as { controls: ControlView[]; summary: Record<string, number>; system: { tenants: number }; as_of: string; log_position: string; mapping_version: number };

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'aionis-cmp-archive-'));
    t = await startTestService({ env: { ARCHIVE_DIR: archiveDir, GOVERNANCE_WEEKLY_REPORT_CRON: 'off' } });
    const op = await request(t.url).post('/v1/admin/control/operators').set(t.auth).set(json).send({ operator_id: 'op_cmp_auditor', display_name: 'Compliance auditor', role: 'auditor' }).expect(201);
    auditor = { Authorization: `Bearer ${op.body.token as string}` };
  }, 60_000);
  afterAll(async () => {
    await t.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  it('on a fresh system every control has no evidence, and the system reports zero tenants', async () => {
    const body = await get();
    expect(body.mapping_version).toBe(1);
    expect(body.system.tenants).toBe(0);
    expect(body.controls).toHaveLength(mapping.controls.length);
    expect(body.controls.every((c) => c.status === 'no_evidence' && c.evidence.every((e) => e.latest === null && e.age_days === null))).toBe(true);
    expect(body.summary).toEqual({ satisfied: 0, stale: 0, failing: 0, no_evidence: mapping.controls.length });
    expect(body.log_position).toMatch(/^\d+:\d+$/);
  });

  it('validates its filters (400 validation_failed) and requires an operator token', async () => {
    const api = request(t.url);
    for (const q of ['?status=bogus', '?framework=pci', '?framework=soc2:CC9.9', '?framework=iso27001:A.9.99', '?extra=1', '?as_of=yesterday', '?as_of=2999-01-01T00:00:00Z']) {
      const r = await api.get(`${CONTROLS}${q}`).set(auditor).expect(400);
      expect(r.headers['content-type']).toContain('application/problem+json');
      expect(r.body.code).toBe('validation_failed');
    }
    await api.get(CONTROLS).expect(401);
    const iso = await get('?framework=iso27001:A.8.24');
    expect(iso.controls.map((c) => c.id).sort()).toEqual(mapping.controls.filter((c) => c.frameworks.iso27001.includes('A.8.24')).map((c) => c.id).sort());
    const soc2 = await get('?framework=soc2&status=no_evidence');
    expect(soc2.controls).toHaveLength(mapping.controls.length);
    expect((await get('?status=satisfied')).controls).toEqual([]);
  });

  it('drills: owners and operators record them, auditors may not, only mapped runbooks are accepted', async () => {
    const api = request(t.url);
    await api.post('/v1/admin/control/compliance/drills').set(auditor).set(json).send({ runbook: 'runbooks/key-compromise.md', outcome: 'passed' }).expect(403);
    const bad = await api.post('/v1/admin/control/compliance/drills').set(t.auth).set(json).send({ runbook: 'runbooks/nope.md', outcome: 'maybe', extra: 1 }).expect(400);
    expect(bad.body.code).toBe('validation_failed');
    const fields = (bad.body.errors as { field: string }[]).map((e) => e.field).sort();
    expect(fields).toEqual(expect.arrayContaining(['body.outcome', 'body.runbook']));
    const ok = await api.post('/v1/admin/control/compliance/drills').set(t.auth).set(json).send({ runbook: 'runbooks/key-compromise.md', outcome: 'passed', notes: 'tabletop: leaked key in CI log' }).expect(201);
    expect(ok.body).toMatchObject({ runbook: 'runbooks/key-compromise.md', outcome: 'passed', actor: 'operator:op_bootstrap_owner', drill_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    // Appended through the one command path: a command id, the request's ids.
    const drillEvent = await sql<{ command_id: string | null; request_id: string | null }>`
      SELECT metadata->>'command_id' AS command_id, metadata->>'request_id' AS request_id FROM es_events WHERE event_id::text = ${ok.body.drill_id as string}`.execute(t.tdb.database.db);
    expect(drillEvent.rows).toEqual([{ command_id: expect.stringMatching(/^cmd:[0-9a-f-]{36}$/), request_id: ok.headers['x-request-id'] }]);
    // The drill is in the audit trail like any other event (the audit read model catches up asynchronously).
    const until = Date.now() + 25_000;
    let trail = '';
    while (!trail.includes(ok.body.drill_id as string) && Date.now() < until) {
      trail = JSON.stringify((await api.get('/v1/admin/control/audit-events?type=DrillRecorded').set(auditor).expect(200)).body);
      if (!trail.includes(ok.body.drill_id as string)) await new Promise((r) => setTimeout(r, 100));
    }
    expect(trail).toContain(ok.body.drill_id as string);
  }, 30_000);

  it('after real actions (rotation, revocation, operator token rotation, gates, the weekly report) the mapped controls are satisfied', async () => {
    const api = request(t.url);
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'cmp-a' }).expect(201);
    const k1 = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'cmp-a', label: 'one' }).expect(201);
    await api.post(`/v1/admin/control/api-keys/${k1.body.key.key_id}/rotate`).set(t.auth).set(json).send({}).expect(201);
    const k2 = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'cmp-a', label: 'two' }).expect(201);
    await api.post(`/v1/admin/control/api-keys/${k2.body.key.key_id}/revoke`).set(t.auth).set(json).send({ reason: 'drill' }).expect(200);
    await api.post('/v1/admin/control/operators').set(t.auth).set(json).send({ operator_id: 'op_cmp_rotated', display_name: 'Rotated', role: 'operator' }).expect(201);
    await api.post('/v1/admin/control/operators/op_cmp_rotated/rotate-token').set(t.auth).set(json).send({}).expect(201);

    // The two isolation gates, run for real against this database and recorded as the CLIs record them.
    const db = t.tdb.database;
    const cross = summarise('cross_tenant', await runCrossTenantChecks(db), false);
    const scope = summarise('scope', await runScopeChecks(db), false);
    expect({ cross: cross.failing, scope: scope.failing }).toEqual({ cross: [], scope: [] });
    await recordGateRun(db, cross, 'job:consistency-check:cross-tenant');
    await recordGateRun(db, scope, 'job:consistency-check:scope');
    const gateRuns = await sql<{ command_id: string | null }>`SELECT metadata->>'command_id' AS command_id FROM es_events WHERE stream_id = 'gate-runs'`.execute(db.db);
    expect(gateRuns.rows.length).toBeGreaterThanOrEqual(2);
    expect(gateRuns.rows.every((r) => /^cmd:[0-9a-f-]{36}$/.test(r.command_id ?? ''))).toBe(true);

    // The weekly report through the admin API (archived as a signed governance-weekly bundle).
    await api.post('/v1/admin/control/governance/reports').set(t.auth).set(json).send({ week: isoWeekOf(new Date()).label }).expect(201);

    const body = await get();
    const c = byId(body.controls);
    expect(body.system.tenants).toBe(1);
    for (const id of ['AC-03', 'AC-04', 'KM-01', 'KM-02', 'KM-03', 'KM-04', 'LM-01', 'LM-04', 'BR-01']) expect({ id, status: c.get(id)?.status }).toEqual({ id, status: 'satisfied' });
    for (const id of ['CM-01', 'CM-03', 'BR-02', 'IR-03']) expect({ id, status: c.get(id)?.status }).toEqual({ id, status: 'no_evidence' });
    const km1 = c.get('KM-01')!;
    expect(km1.evidence.find((e) => e.source.kind === 'event_type')?.latest).toMatchObject({ ref: expect.stringMatching(/^event:/), passed: true, detail: expect.stringContaining('ApiKeyRotated') });
    expect(km1.evidence.find((e) => e.source.kind === 'weekly_report_check')?.latest?.ref).toMatch(/^bundle:governance-weekly\/[0-9a-f]{64}\/report\.json#keys_within_rotation_policy$/);
    expect(km1.evidence.every((e) => e.age_days === 0)).toBe(true);
    expect(body.summary.satisfied).toBeGreaterThanOrEqual(9);
    expect(Object.values(body.summary).reduce((a, b) => a + b, 0)).toBe(mapping.controls.length);
  }, 60_000);

  it('a failing gate run makes its controls failing; the controls that read another check keep their evidence', async () => {
    const db = t.tdb.database;
    await recordGateRun(db, summarise('cross_tenant', [{ name: 'api_key_project_in_key_tenant', severity: 'error', pass: false, count: 1, sample: [], detail: 'a key points at another tenant' }], false), 'test');
    await request(t.url).post('/v1/admin/control/compliance/drills').set(t.auth).set(json).send({ runbook: 'runbooks/projector.md', outcome: 'failed', notes: 'the standby did not take over' }).expect(201);
    const c = byId((await get()).controls);
    expect(c.get('AC-03')?.status).toBe('failing');
    expect(c.get('AC-03')?.evidence.find((e) => e.status === 'failing')?.latest?.detail).toContain('cross_tenant gate FAILED');
    expect(c.get('AC-04')?.status).toBe('failing');
    expect(c.get('IR-02')?.status).toBe('failing');
    // projection_equals_replay is not in the failing run: the latest run that reported it still stands.
    expect(c.get('BR-01')?.status).toBe('satisfied');
    const failing = await get('?status=failing');
    expect(failing.controls.map((x) => x.id).sort()).toEqual(expect.arrayContaining(['AC-03', 'AC-04', 'IR-02']));
    expect(failing.summary.failing).toBe(failing.controls.length);
    expect(failing.summary.satisfied).toBe(0);
    // Deterministic given (position, as_of): an earlier as_of sees only what was recorded before it.
    const before = await get(`?as_of=${encodeURIComponent('2020-01-01T00:00:00Z')}`);
    expect(before.controls.every((x) => x.status === 'no_evidence')).toBe(true);
    expect(before.system.tenants).toBe(0);
  });

  it('bundles are verified, not trusted: an edited weekly report and a release bundle with a failed verdict are failing evidence', async () => {
    const store = new FilesystemEvidenceStore(archiveDir);
    await archiveBundle(t.tdb.database, new PostgresEventStore(t.tdb.database), store, existingSealKey(t.config), {
      kind: 'release',
      labels: { release: '9.9.9', verdict: 'fail' },
      files: [{ path: 'summary.json', content: Buffer.from('{"ok":false}\n') }],
      logPosition: '0:0',
      actor: { type: 'operator', id: 'test' },
      command: 'test',
      version: 'test',
    });
    const weeklyDir = join(archiveDir, 'governance-weekly');
    const [weeklyId] = readdirSync(weeklyDir);
    const reportFile = join(weeklyDir, weeklyId!, 'files', 'report.json');
    const original = readFileSync(reportFile);
    writeFileSync(reportFile, Buffer.concat([original, Buffer.from(' ')]));
    try {
      const c = byId((await get()).controls);
      expect(c.get('CM-03')?.status).toBe('failing');
      expect(c.get('CM-03')?.evidence[0]?.latest?.detail).toContain('records a failed result');
      for (const id of ['KM-04', 'LM-01', 'LM-04']) expect({ id, status: c.get(id)?.status }).toEqual({ id, status: 'failing' });
      expect(c.get('LM-01')?.evidence[0]?.latest?.detail).toContain('does NOT verify');
    } finally {
      writeFileSync(reportFile, original);
    }
    expect(byId((await get()).controls).get('LM-01')?.status).toBe('satisfied');
  });

  it('archives a compliance bundle (controls, OSCAL assessment results, report, mapping) that verifies, deterministically', async () => {
    const store = new FilesystemEvidenceStore(archiveDir);
    const deps = { database: t.tdb.database, archive: store, version: 'test' };
    const period = currentQuarter(new Date());
    const files = await generateComplianceReport(deps, mapping, { period });
    expect(files.status).toBe('failed');
    expect(files.files.map((f) => f.path)).toEqual(['controls.json', 'assessment-results.json', 'COMPLIANCE_REPORT.md', 'mapping.json']);
    const oscal = JSON.parse(files.files[1]!.content.toString('utf8'))['assessment-results'];
    expect(oscal.results[0].findings).toHaveLength(mapping.controls.length);
    expect(oscal.results[0].findings.find((f: { target: { 'target-id': string } }) => f.target['target-id'] === 'AC-03').target.status.state).toBe('not-satisfied');
    expect(oscal.results[0].findings.find((f: { target: { 'target-id': string } }) => f.target['target-id'] === 'KM-01').target.status.state).toBe('satisfied');
    expect(files.files[2]!.content.toString('utf8')).toContain(`# Compliance report ${period.label}`);
    const bundle = await archiveComplianceReport({ ...deps, eventStore: new PostgresEventStore(t.tdb.database), key: existingSealKey(t.config) }, files, { type: 'operator', id: 'test' });
    expect(await verifyBundle(store, 'compliance', bundle.id)).toEqual([]);
    expect(bundle.manifest.labels).toMatchObject({ period: period.label, status: 'failed' });
    // A closed window and a fixed position give byte-identical documents.
    const window = periodBetween(period.start, new Date(Date.now() - 1000).toISOString());
    const a = await generateComplianceReport(deps, mapping, { period: window, position: files.report.log_position });
    await request(t.url).post('/v1/admin/control/compliance/drills').set(t.auth).set(json).send({ runbook: 'runbooks/audit-replay.md', outcome: 'passed' }).expect(201);
    const b = await generateComplianceReport(deps, mapping, { period: window, position: files.report.log_position });
    expect(b.files[0]!.content.equals(a.files[0]!.content)).toBe(true);
    expect(b.files[1]!.content.equals(a.files[1]!.content)).toBe(true);
  });

  pgIt('the CLI archives a verifiable compliance bundle, exits 2 on failing controls, refuses an empty system and rejects bad usage', async () => {
    const env = { DATABASE_URL: t.tdb.url ?? '', DATA_DIR: t.config.dataDir, ARCHIVE_DIR: archiveDir };
    const out = mkdtempSync(join(tmpdir(), 'aionis-cmp-out-'));
    const bundles = () => (existsSync(join(archiveDir, 'compliance')) ? readdirSync(join(archiveDir, 'compliance')).length : 0);
    try {
      const period = currentQuarter(new Date()).label;
      const before = bundles();
      const run = cli('compliance-report.ts', ['--period', period, '--json', '--out', out], env);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(2);
      expect(run.out).toMatchObject({ ok: false, status: 'failed', tenants: 1, bundle_id: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(run.out.failing).toEqual(expect.arrayContaining(['AC-03', 'AC-04']));
      expect(bundles()).toBe(before + 1);
      const oscal = JSON.parse(readFileSync(join(archiveDir, 'compliance', run.out.bundle_id as string, 'files', 'assessment-results.json'), 'utf8'));
      expect(oscal['assessment-results'].results[0].findings).toHaveLength(mapping.controls.length);
      expect(oscal['assessment-results'].metadata['oscal-version']).toBe('1.1.2');
      expect(readFileSync(join(out, 'controls.json'), 'utf8')).toContain('"mapping_version": 1');
      expect(readFileSync(join(out, 'COMPLIANCE_REPORT.md'), 'utf8')).toContain('| AC-03 |');
      const verified = cli('evidence-verify.ts', ['--all', '--archive', archiveDir, '--json'], {});
      expect(verified.out).toMatchObject({ ok: true, findings: [] });
      expect(verified.status).toBe(0);
      // An empty system (no tenant existed in 2020): refused as a failure, nothing archived.
      const empty = cli('compliance-report.ts', ['--from', '2020-01-01T00:00:00Z', '--to', '2020-02-01T00:00:00Z', '--json'], env);
      expect(empty.status).toBe(2);
      expect(empty.out).toMatchObject({ ok: false, refused: 'empty_system', tenants: 0 });
      expect(bundles()).toBe(before + 1);
      // --no-archive: the same verdict, no bundle, no key needed.
      const noArchive = cli('compliance-report.ts', ['--period', period, '--json', '--no-archive'], { DATABASE_URL: t.tdb.url ?? '', DATA_DIR: out, ARCHIVE_DIR: archiveDir });
      expect(noArchive.status).toBe(2);
      expect(noArchive.out).toMatchObject({ ok: false, bundle_id: null });
      // Usage errors exit 1.
      expect(cli('compliance-report.ts', ['--period', '2026-Q5'], env).status).toBe(1);
      expect(cli('compliance-report.ts', ['--period', period, '--from', '2026-01-01'], env).status).toBe(1);
      expect(cli('compliance-report.ts', ['--period', '2999-Q1'], env).status).toBe(1);
      // Archiving without the service's signing key is refused (never a made-up key).
      expect(cli('compliance-report.ts', ['--period', period], { DATABASE_URL: t.tdb.url ?? '', DATA_DIR: out, ARCHIVE_DIR: archiveDir }).status).toBe(1);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
