import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { listBundles } from '../../src/governance/evidence/bundles';
import { FilesystemEvidenceStore } from '../../src/governance/evidence/evidence-store';
import { type ServiceProcess, spawnService } from '../support/process';
import { startTestService, TEST_ADMIN_TOKEN, TEST_PEPPER } from '../support/service';
import { createTestDatabase, type TestDatabase } from '../support/test-db';
import { pgOnly } from '../support/skips';

const pgDescribe = pgOnly.describe;

/**
 * The scheduled weekly report with two service processes on one database: every period is
 * claimed by exactly one of them, and exactly one bundle is archived per period.
 */
pgDescribe('governance scheduler across two processes', () => {
  let tdb: TestDatabase;
  let dir = '';
  const procs: ServiceProcess[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'aionis-sched-'));
    // A tenant first: the schedule never reports on an empty system.
    const seed = await startTestService({ tdb, env: { GOVERNANCE_WEEKLY_REPORT_CRON: 'off' } });
    await request(seed.url).post('/v1/admin/control/tenants').set(seed.auth).set({ 'Content-Type': 'application/json' }).send({ tenant_id: 'sched-co' }).expect(201);
    await seed.stop();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await tdb.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs once per period', async () => {
    const sealKey = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const common = {
      DATABASE_URL: tdb.url ?? '',
      KEY_PEPPER: TEST_PEPPER,
      ADMIN_BOOTSTRAP_TOKEN: TEST_ADMIN_TOKEN,
      AUDIT_SEAL_PRIVATE_KEY: sealKey,
      ARCHIVE_DIR: join(dir, 'archive'),
      GOVERNANCE_WEEKLY_REPORT_CRON: '* * * * *',
      GOVERNANCE_SCHEDULER_TICK_MS: '1000',
      // The week so far: the seeded tenant exists in it (a past week without tenants is never reported).
      GOVERNANCE_WEEKLY_REPORT_WEEK: 'current',
      PORT: '0',
      LOG_LEVEL: 'warn',
    };
    for (const name of ['a', 'b']) procs.push(spawnService({ ...common, DATA_DIR: join(dir, name) }));
    await Promise.all(procs.map((p) => p.url()));
    const db = tdb.database.db;
    const completed = async () =>
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE type = 'GovernanceReportRunCompleted'`.execute(db)).rows[0]?.n ?? 0;
    const deadline = Date.now() + 90_000;
    // Two periods (two minutes), both instances ticking every second all along.
    while ((await completed()) < 2) {
      if (Date.now() > deadline) throw new Error(`no two scheduled runs in time:\n${procs.map((p) => p.out()).join('\n')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 2500));
    const claims = await sql<{ stream_id: string; n: number; instances: string[] }>`
      SELECT stream_id, count(*)::int AS n, array_agg(DISTINCT data->>'instance') AS instances FROM es_events
      WHERE type = 'GovernanceReportRunClaimed' GROUP BY stream_id ORDER BY stream_id`.execute(db);
    expect(claims.rows.length).toBeGreaterThanOrEqual(2);
    for (const c of claims.rows) expect(c.n).toBe(1);
    const perPeriod = await sql<{ stream_id: string; types: string[] }>`
      SELECT stream_id, array_agg(type ORDER BY stream_position) AS types FROM es_events
      WHERE stream_id LIKE 'governance-schedule-%' GROUP BY stream_id ORDER BY stream_id`.execute(db);
    for (const p of perPeriod.rows.filter((r) => r.types.includes('GovernanceReportRunCompleted'))) {
      expect(p.types).toEqual(['GovernanceReportRunClaimed', 'GovernanceReportRunCompleted']);
    }
    const done = perPeriod.rows.filter((r) => r.types.includes('GovernanceReportRunCompleted')).length;
    const bundles = await listBundles(new FilesystemEvidenceStore(join(dir, 'archive')), 'governance-weekly');
    expect(bundles).toHaveLength(done);
    expect(bundles.map((b) => b.manifest.sequence)).toEqual(bundles.map((_, i) => i + 1));
  }, 120_000);
});
