import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { buildInfo } from '../../src/platform/build-info';
import { runCli } from '../support/cli';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from '../support/service';
import { pgOnly } from '../support/skips';

// release:gate runs take a few seconds each; the two evidence:bundle runs have their own timeouts.
jest.setTimeout(60_000);
const json = { 'Content-Type': 'application/json' };

interface Reason {
  code: string;
  detail: string;
  gate?: string;
  path?: string;
  failing?: string[];
}
interface GateResult {
  ok: boolean;
  release: string;
  decision: 'go' | 'go_with_guardrails' | 'no_go';
  bundle_id: string | null;
  key_source: string | null;
  reasons: Reason[];
  gates: { path: string; gate: string; ok: boolean; failing: string[] }[];
  event: { stream_id: string };
}
interface Check {
  name: string;
  severity: 'error' | 'warning';
  pass: boolean;
}
interface BundleResult {
  ok: boolean;
  gate: string;
  release: string;
  verdict: 'pass' | 'fail';
  failing: string[];
  checks: Check[];
  gates: { path: string; gate: string; ok: boolean; failing: string[] }[];
  bundle: { id: string; sequence: number; location: string; labels: Record<string, string>; files: { path: string; sha256: string; size: number }[] };
}

/** Run a CLI from source as a child process (async: the server under test runs in this process). */
function cli<T>(file: string, args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string; out: T | null }> {
  return runCli<T>(file, args, env);
}

const codes = (r: GateResult | null): string[] => (r ? [...new Set(r.reasons.map((x) => x.code))].sort() : ['(no output)']);

function filesOf(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

const BUNDLE_FILES = [
  'RELEASE_EVIDENCE.md',
  'build.json',
  'gates/consistency-scope/summary.json',
  'gates/preflight/consistency-cross-tenant/summary.json',
  'gates/preflight/gate-core-prod/consistency-cross-tenant/summary.json',
  'gates/preflight/gate-core-prod/health-gate/summary.json',
  'gates/preflight/gate-core-prod/summary.json',
  'gates/preflight/health-gate/summary.json',
  'gates/preflight/summary.json',
  'governance-state.json',
  'sbom.cdx.json',
  'seal-head.json',
  'summary.json',
];

/**
 * Release snapshots and the release rule, against a real server on PostgreSQL (the gates refuse
 * anything else): evidence:bundle archives one signed bundle per release whatever the verdict;
 * release:gate lets a release go only with a verified bundle of exactly that release in which
 * every gate passed, and artefact links; every decision, refusals included, is an event.
 */
pgOnly.describe('release evidence: evidence:bundle and release:gate', () => {
  let t: TestService;
  let archiveDir = '';
  let scratch = '';
  let env: Record<string, string>;
  let good: BundleResult;
  const link = 'https://ci.example.com/aionis/actions/runs/42';

  const gate = (...args: string[]) => cli<GateResult>('release-gate.ts', ['--json', ...args], env);
  const decisions = async (release: string) =>
    (
      await sql<{ data: { decision: string; reasons: Reason[]; artifact_urls: string[]; bundle_id: string | null }; tenant_id: string | null; command_id: string | null }>`
        SELECT data, tenant_id, metadata->>'command_id' AS command_id FROM es_events WHERE stream_id = ${`release-${release}`} AND type = 'ReleaseDecisionRecorded' ORDER BY stream_position`.execute(t.tdb.database.db)
    ).rows;

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'aionis-release-archive-'));
    scratch = mkdtempSync(join(tmpdir(), 'aionis-release-scratch-'));
    // A real pepper (preflight refuses the published test one); a seal every second, so the bundle has a seal head to record.
    t = await startTestService({ env: { KEY_PEPPER: randomBytes(32).toString('hex'), ARCHIVE_DIR: archiveDir, GOVERNANCE_WEEKLY_REPORT_CRON: 'off', AUDIT_SEAL_INTERVAL_MS: '1000' } });
    // The CLIs report the commit the server (this process) reports, even if HEAD moves during the run.
    env = { DATABASE_URL: t.tdb.url ?? '', AIONIS_BASE_URL: t.url, AIONIS_ADMIN_TOKEN: TEST_ADMIN_TOKEN, DATA_DIR: t.config.dataDir, ARCHIVE_DIR: archiveDir, BUILD_COMMIT: buildInfo().commit };
  });
  afterAll(async () => {
    await t.stop();
    rmSync(archiveDir, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  it('refuses when there is no bundle at all: exit 2, a no_go decision recorded with its reason', async () => {
    const r = await gate('--release', '1.4.0', '--artifact-url', link);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(2);
    expect(r.out).toMatchObject({ ok: false, release: '1.4.0', decision: 'no_go', bundle_id: null, event: { stream_id: 'release-1.4.0' } });
    expect(codes(r.out)).toEqual(['no_bundle']);
    const recorded = await decisions('1.4.0');
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ tenant_id: null, command_id: expect.stringMatching(/^cmd:[0-9a-f-]{36}$/), data: { decision: 'no_go', artifact_urls: [link], reasons: [{ code: 'no_bundle' }] } });
  });

  it('evidence:bundle archives one signed bundle whose manifest covers every collected file (exit 0)', async () => {
    // Preflight requires a named owner besides the bootstrap one.
    await request(t.url).post('/v1/admin/control/operators').set(t.auth).set(json).send({ display_name: 'Release owner', role: 'owner' }).expect(201);
    const out = join(scratch, 'good');
    const r = await cli<BundleResult>('evidence-bundle.ts', ['--release', '1.4.0', '--skip-build', '--perf-requests', '20', '--json', '--out', out], env);
    if (r.status !== 0) throw new Error(`evidence:bundle exited ${r.status}:\n${r.stderr}\n${JSON.stringify(r.out?.checks.filter((c) => !c.pass), null, 2)}`);
    good = r.out!;
    expect(good).toMatchObject({ ok: true, gate: 'release_evidence', release: '1.4.0', verdict: 'pass', failing: [] });
    expect(good.bundle.labels).toEqual({ release: '1.4.0', verdict: 'pass', commit: buildInfo().commit, skip_build: 'true', strict_warnings: 'false' });
    expect(good.bundle.files.map((f) => f.path)).toEqual(BUNDLE_FILES);
    // Every file in the working directory is in the manifest with its hash, and nothing else is there.
    expect(filesOf(out)).toEqual(BUNDLE_FILES);
    for (const f of good.bundle.files) expect(createHash('sha256').update(readFileSync(join(out, f.path))).digest('hex')).toBe(f.sha256);
    expect(good.gates.map((g) => g.gate).sort()).toEqual(['core_prod', 'cross_tenant', 'cross_tenant', 'health', 'health', 'preflight', 'scope']);
    expect(good.gates.every((g) => g.ok)).toBe(true);
    // The skipped build is recorded, never silent: a failed warning here and in the core gate.
    const check = (name: string) => good.checks.find((c) => c.name === name);
    expect(check('build_not_skipped')).toMatchObject({ severity: 'warning', pass: false });
    expect(check('sbom_generated')).toMatchObject({ pass: true });
    expect(check('seal_head')).toMatchObject({ pass: true });
    expect(check('build_matches_server')).toMatchObject({ pass: true });
    const build = JSON.parse(readFileSync(join(out, 'build.json'), 'utf8')) as Record<string, unknown>;
    expect(build).toMatchObject({ release: '1.4.0', commit: buildInfo().commit, version: buildInfo().version, skip_build: true, skipped_steps: ['typecheck', 'build'], server: { commit: buildInfo().commit } });
    expect(JSON.parse(readFileSync(join(out, 'gates/preflight/gate-core-prod/summary.json'), 'utf8'))).toMatchObject({ gate: 'core_prod', skipped: ['typecheck', 'build'] });
    expect(JSON.parse(readFileSync(join(out, 'sbom.cdx.json'), 'utf8'))).toMatchObject({ bomFormat: 'CycloneDX' });
    const seal = JSON.parse(readFileSync(join(out, 'seal-head.json'), 'utf8')) as { seal: { seal_no: number; seal_hash: string; to: string; key_id: string; signature_valid: boolean } };
    expect(seal.seal).toMatchObject({ seal_no: expect.any(Number), seal_hash: expect.stringMatching(/^[0-9a-f]{64}$/), to: expect.stringMatching(/^\d+:\d+$/), signature_valid: true });
    expect(JSON.parse(readFileSync(join(out, 'governance-state.json'), 'utf8'))).toMatchObject({ latest_weekly_report: null, dead_letters: { outbox_open: 0, projection_parked: 0 } });
    expect(readFileSync(join(out, 'RELEASE_EVIDENCE.md'), 'utf8')).toMatch(/# Release evidence: 1\.4\.0[\s\S]*Verdict: \*\*PASS\*\*[\s\S]*SKIPPED/);
    // Archived in the deployment's archive and recorded in the log; evidence:verify accepts it offline.
    const verified = await cli<{ ok: boolean; findings: unknown[] }>('evidence-verify.ts', [good.bundle.id, '--archive', archiveDir, '--json'], {});
    expect(verified.out).toMatchObject({ ok: true, findings: [] });
    const logged = await sql<{ data: { bundle_id: string; labels: Record<string, string> } }>`
      SELECT data FROM es_events WHERE stream_id = 'evidence-release' AND type = 'EvidenceBundleArchived'`.execute(t.tdb.database.db);
    expect(logged.rows.map((x) => x.data.bundle_id)).toEqual([good.bundle.id]);
  }, 240_000);

  it('go with an artefact link: exit 0, ReleaseDecisionRecorded {decision: go}; go_with_guardrails needs a guardrail', async () => {
    const r = await gate('--release', '1.4.0', '--artifact-url', link, '--artifact-url', 'https://ci.example.com/screens/dashboard.png');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toMatchObject({ ok: true, decision: 'go', bundle_id: good.bundle.id, key_source: 'deployment', reasons: [] });
    expect(r.out!.gates).toHaveLength(8);
    const guarded = await gate('--release', '1.4.0', '--artifact-url', link, '--decision', 'go_with_guardrails', '--guardrail', 'canary 5% for 24 h', '--guardrail', 'rollback if recall p95 > 800 ms');
    expect(guarded.status).toBe(0);
    expect(guarded.out).toMatchObject({ decision: 'go_with_guardrails', reasons: [] });
    const bare = await gate('--release', '1.4.0', '--artifact-url', link, '--decision', 'go_with_guardrails');
    expect(bare.status).toBe(2);
    expect(codes(bare.out)).toEqual(['guardrails_missing']);
    expect((await decisions('1.4.0')).map((d) => d.data.decision)).toEqual(['no_go', 'go', 'go_with_guardrails', 'no_go']);
    const human = await cli('release-gate.ts', ['--release', '1.4.0', '--artifact-url', link], env);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/^release 1\.4\.0: GO \(bundle [0-9a-f]{16}, 8 gate summaries ok, key deployment\)/);
  });

  it('a pinned public key: the deployment key verifies; any other key refuses the bundle', async () => {
    const r = await request(t.url).get('/v1/audit/public-key').expect(200);
    const pem = (r.body as { public_key_pem: string }).public_key_pem;
    const pinned = join(scratch, 'deployment.pem');
    writeFileSync(pinned, pem);
    const ok = await gate('--release', '1.4.0', '--artifact-url', link, '--public-key', pinned);
    expect(ok.status).toBe(0);
    expect(ok.out).toMatchObject({ decision: 'go', key_source: 'pinned' });
    const other = join(scratch, 'other.pem');
    writeFileSync(other, generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString());
    const refused = await gate('--release', '1.4.0', '--artifact-url', link, '--public-key', other);
    expect(refused.status).toBe(2);
    expect(refused.out!.reasons).toEqual([expect.objectContaining({ code: 'bundle_not_verified', detail: expect.stringMatching(/pinned public key/) })]);
  });

  it('refuses a bundle of another release: the 1.4.0 bundle is no evidence for 1.5.0', async () => {
    const r = await gate('--release', '1.5.0', '--artifact-url', link);
    expect(r.status).toBe(2);
    expect(codes(r.out)).toEqual(['no_bundle']);
    expect(r.out!.reasons[0]!.detail).toMatch(/bundles exist for: 1\.4\.0/);
    expect((await decisions('1.5.0')).map((d) => d.data.decision)).toEqual(['no_go']);
    // Release names match exactly: v1.4.0 is not 1.4.0.
    expect(codes((await gate('--release', 'v1.4.0', '--artifact-url', link)).out)).toEqual(['no_bundle']);
  });

  it('refuses without artefact links (exit 2, recorded): none, screenshots only, file: or credentials in a link', async () => {
    const none = await gate('--release', '1.4.0');
    expect(none.status).toBe(2);
    expect(none.out).toMatchObject({ decision: 'no_go', bundle_id: good.bundle.id });
    expect(codes(none.out)).toEqual(['no_artifact_links']);
    const shots = await gate('--release', '1.4.0', '--artifact-url', 'https://img.example.com/approval.png', '--artifact-url', 'https://img.example.com/grafana.JPG');
    expect(shots.status).toBe(2);
    expect(codes(shots.out)).toEqual(['artifact_links_screenshots_only']);
    const file = await gate('--release', '1.4.0', '--artifact-url', 'file:///tmp/evidence');
    expect(file.status).toBe(2);
    expect(codes(file.out)).toEqual(['artifact_url_invalid']);
    const creds = await gate('--release', '1.4.0', '--artifact-url', link, '--artifact-url', 'https://user:secret@ci.example.com/x');
    expect(creds.status).toBe(2);
    expect(codes(creds.out)).toEqual(['artifact_url_invalid']);
    const recorded = await decisions('1.4.0');
    expect(recorded.slice(-4).map((d) => [d.data.decision, d.data.reasons.map((x) => x.code)])).toEqual([
      ['no_go', ['no_artifact_links']],
      ['no_go', ['artifact_links_screenshots_only']],
      ['no_go', ['artifact_url_invalid']],
      ['no_go', ['artifact_url_invalid']],
    ]);
  });

  it('a failed gate inside the bundle: evidence:bundle archives the no-go (exit 2) and release:gate names each failing gate', async () => {
    // Really failing: an outbox dead letter (preflight and the health gates fail on it), and an npm whose sbom fails.
    const db = t.tdb.database.db;
    await sql`INSERT INTO memory_outbox (job_id, tenant_id, project_key, scope, commit_id, type, payload, status, attempts, next_attempt_at, created_at, updated_at)
      VALUES ('00000000-0000-4000-8000-00000000d001', 'ghost', '', 's', '00000000-0000-4000-8000-00000000d002', 'embed_nodes', '{}', 'dead_letter', 8, now(), now(), now())`.execute(db);
    const fakeBin = join(scratch, 'bin');
    rmSync(fakeBin, { recursive: true, force: true });
    mkdirSync(fakeBin);
    writeFileSync(join(fakeBin, 'npm'), '#!/bin/sh\necho "npm error code ELSPROBLEMS" >&2\nexit 1\n');
    chmodSync(join(fakeBin, 'npm'), 0o755);
    let bad: BundleResult;
    try {
      const r = await cli<BundleResult>('evidence-bundle.ts', ['--release', '1.4.1', '--skip-build', '--perf-requests', '20', '--json'], { ...env, PATH: `${fakeBin}:${process.env.PATH ?? ''}` });
      if (r.status !== 2 || !r.out) throw new Error(`evidence:bundle exited ${r.status}:\n${r.stderr}\n${r.stdout.slice(0, 2000)}`);
      bad = r.out;
    } finally {
      await sql`DELETE FROM memory_outbox WHERE tenant_id = 'ghost'`.execute(db);
    }
    expect(bad).toMatchObject({ ok: false, verdict: 'fail', bundle: { labels: { release: '1.4.1', verdict: 'fail' }, sequence: 2 } });
    expect(bad.failing).toEqual(expect.arrayContaining(['gate_preflight_hosted', 'gate_summaries_ok', 'sbom_generated']));
    const paths = bad.bundle.files.map((f) => f.path);
    expect(paths).toContain('sbom-error.json');
    expect(paths).not.toContain('sbom.cdx.json');

    const r = await gate('--release', '1.4.1', '--artifact-url', link);
    expect(r.status).toBe(2);
    expect(r.out).toMatchObject({ decision: 'no_go', bundle_id: bad.bundle.id });
    expect(codes(r.out)).toEqual(['bundle_verdict_fail', 'gate_failed']);
    const failed = r.out!.reasons.filter((x) => x.code === 'gate_failed');
    expect(failed.map((x) => x.path).sort()).toEqual(
      expect.arrayContaining(['gates/preflight/summary.json', 'gates/preflight/health-gate/summary.json', 'gates/preflight/gate-core-prod/summary.json', 'gates/preflight/gate-core-prod/health-gate/summary.json', 'summary.json']),
    );
    expect(failed.find((x) => x.path === 'gates/preflight/summary.json')).toMatchObject({ gate: 'preflight', failing: expect.arrayContaining(['outbox_dead_letters']) });
    expect(failed.find((x) => x.path === 'gates/preflight/health-gate/summary.json')).toMatchObject({ gate: 'health', failing: expect.arrayContaining(['outbox_dead_letters']) });
    expect(failed.find((x) => x.path === 'summary.json')).toMatchObject({ gate: 'release_evidence', failing: expect.arrayContaining(['sbom_generated']) });
    expect((await decisions('1.4.1')).map((d) => [d.data.decision, d.data.bundle_id])).toEqual([['no_go', bad.bundle.id]]);
    // The 1.4.0 bundle still goes: each release is judged on its own newest bundle.
    expect((await gate('--release', '1.4.0', '--artifact-url', link)).status).toBe(0);
  }, 240_000);

  it('a tampered bundle is refused by verification (file hash), even when the edited summary says ok', async () => {
    const file = join(archiveDir, 'release', good.bundle.id, 'files', 'gates', 'preflight', 'gate-core-prod', 'summary.json');
    const original = readFileSync(file);
    const edited = JSON.parse(original.toString('utf8')) as { perf: { write: { p95_ms: number } | null } };
    if (edited.perf.write) edited.perf.write.p95_ms = 1;
    writeFileSync(file, `${JSON.stringify({ ...edited, ok: true, tampered: true }, null, 2)}\n`);
    try {
      const r = await gate('--release', '1.4.0', '--artifact-url', link);
      expect(r.status).toBe(2);
      expect(codes(r.out)).toEqual(['bundle_not_verified']);
      expect(r.out!.reasons[0]).toMatchObject({ path: 'gates/preflight/gate-core-prod/summary.json', detail: expect.stringMatching(/the file was changed/) });
      expect((await cli('evidence-verify.ts', [good.bundle.id, '--archive', archiveDir, '--json'], {})).status).toBe(2);
    } finally {
      writeFileSync(file, original);
    }
    expect((await gate('--release', '1.4.0', '--artifact-url', link)).status).toBe(0);
  });

  it('the audit trail and the evidence API show every decision and every release bundle', async () => {
    const api = request(t.url);
    const all = (await decisions('1.4.0')).length + (await decisions('1.4.1')).length + (await decisions('1.5.0')).length + (await decisions('v1.4.0')).length;
    let items: { stream: string; tenant_id: string | null; actor: { id: string; display: string }; data: { decision: string } }[] = [];
    for (const until = Date.now() + 15_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
      items = (await api.get('/v1/admin/control/audit-events?type=ReleaseDecisionRecorded&limit=1000').set(t.auth).expect(200)).body.items;
      if (items.length === all) break;
    }
    expect(items).toHaveLength(all);
    expect(new Set(items.map((i) => i.stream))).toEqual(new Set(['release-1.4.0', 'release-1.4.1', 'release-1.5.0', 'release-v1.4.0']));
    expect(items.every((i) => i.tenant_id === null && i.actor.display === 'release:gate' && i.actor.id.startsWith('cli:'))).toBe(true);
    expect(items.filter((i) => i.stream === 'release-1.4.1').map((i) => i.data.decision)).toEqual(['no_go']);
    const evidence = await api.get('/v1/admin/control/evidence?kind=release').set(t.auth).expect(200);
    expect(evidence.body.items.map((i: { labels: Record<string, string> }) => [i.labels.release, i.labels.verdict])).toEqual([
      ['1.4.1', 'fail'],
      ['1.4.0', 'pass'],
    ]);
  });

  it('usage errors exit 1 and record nothing', async () => {
    const count = async () => Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE type = 'ReleaseDecisionRecorded'`.execute(t.tdb.database.db)).rows[0]?.n);
    const before = await count();
    const cases: [string, string[], Record<string, string>, RegExp][] = [
      ['release-gate.ts', ['--artifact-url', link], env, /give --release/],
      ['release-gate.ts', ['--release', 'latest', '--artifact-url', link], env, /is not a semantic version/],
      ['release-gate.ts', ['--release', '1.4.0', '--artifact-url', link, '--decision', 'yolo'], env, /--decision must be/],
      ['release-gate.ts', ['--release', '1.4.0', '--artifact-url', link, '--guardrail', 'x'], env, /only applies with --decision go_with_guardrails/],
      ['release-gate.ts', ['--release', '1.4.0', '--artifact-url'], env, /argument missing/],
      ['release-gate.ts', ['--release', '1.4.0', '--no-such-flag'], env, /unknown option/],
      ['release-gate.ts', ['--release', '1.4.0', '--public-key', join(scratch, 'missing.pem')], env, /--public-key/],
      ['evidence-bundle.ts', ['--release', '1.4'], env, /is not a semantic version/],
      ['evidence-bundle.ts', ['--release', '1.4.2'], { ...env, AIONIS_ADMIN_TOKEN: '' }, /AIONIS_ADMIN_TOKEN/],
      ['evidence-bundle.ts', ['--release', '1.4.2', '--out', join(scratch, 'good')], env, /is not empty/],
      // No signing key: refused before any gate runs (it never makes one up).
      ['evidence-bundle.ts', ['--release', '1.4.2'], { ...env, DATA_DIR: scratch }, /no signing key/],
    ];
    for (const [file, args, e, message] of cases) {
      const r = await cli(file, args, e);
      expect([file, args, r.status]).toEqual([file, args, 1]);
      expect(r.stderr).toMatch(message);
    }
    expect(await count()).toBe(before);
    // Nothing was archived by the refused evidence:bundle runs.
    const archived = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE type = 'EvidenceBundleArchived'`.execute(t.tdb.database.db);
    expect(archived.rows[0]?.n).toBe(2);
  });
});
