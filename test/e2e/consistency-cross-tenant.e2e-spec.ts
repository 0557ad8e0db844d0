import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { CROSS_TENANT_CHECKS, runCrossTenantChecks } from '../../src/ops/checks/cross-tenant';
import { startTestService, type TestService } from '../support/service';
import { usingPostgres } from '../support/test-db';

const ROOT = join(__dirname, '../..');
const json = { 'Content-Type': 'application/json' };

/**
 * Each named cross-tenant check passes on a clean system and fails, alone, when the test breaks
 * its invariant with SQL (each corruption inside a transaction that is rolled back afterwards).
 */
describe('job:consistency-check:cross-tenant', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService();
    const api = request(t.url);
    for (const id of ['cx-a', 'cx-b']) {
      await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id, tier: 'enterprise' }).expect(201);
      await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: id, project_id: `${id}-p` }).expect(201);
      const key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: id, project_id: `${id}-p` }).expect(201)).body.api_key as string;
      for (let i = 0; i < 2; i++) {
        await api
          .post('/v1/memory/write')
          .set({ 'x-api-key': key, ...json })
          .send({ scope: 's', input_text: `${i}`, nodes: [{ client_id: `n${i}`, type: 'event', title: `x${i}` }, { client_id: `m${i}`, type: 'event' }], edges: [{ type: 'related_to', src: { client_id: `n${i}` }, dst: { client_id: `m${i}` } }] })
          .expect(200);
      }
    }
  });
  afterAll(async () => {
    await t.stop();
  });

  it('passes every check on a clean system', async () => {
    const results = await runCrossTenantChecks(t.tdb.database);
    expect(results.map((r) => r.name)).toEqual(CROSS_TENANT_CHECKS);
    expect(results.filter((r) => !r.pass)).toEqual([]);
  });

  const corruptions: [string, string][] = [
    ['api_key_project_in_key_tenant', "UPDATE rm_api_keys SET project_id = 'cx-b-p' WHERE tenant_id = 'cx-a'"],
    ['api_key_project_exists', "UPDATE rm_api_keys SET project_id = 'gone' WHERE tenant_id = 'cx-a'"],
    ['read_model_tenant_matches_stream', "UPDATE rm_api_keys SET tenant_id = 'cx-b', project_id = NULL WHERE tenant_id = 'cx-a'"],
    ['memory_rows_match_commit_tenant', "UPDATE memory_outbox SET scope = 'other' WHERE tenant_id = 'cx-a'"],
    ['memory_rows_have_commits', "UPDATE memory_outbox SET commit_id = '00000000-0000-4000-8000-000000000000' WHERE tenant_id = 'cx-b'"],
    ['commit_parent_same_namespace', "UPDATE memory_commits SET parent_commit_id = (SELECT commit_id FROM memory_commits WHERE tenant_id = 'cx-b' LIMIT 1) WHERE tenant_id = 'cx-a' AND seq = 2"],
    ['telemetry_tenant_exists', "INSERT INTO telemetry_rollups VALUES ('ghost', '', 'k', 'write', now(), 1, 1, 0, 0, 0, 1, ARRAY[1,0,0,0,0,0,0,0,0,0,0]::bigint[])"],
    ['memory_tenant_exists', "INSERT INTO memory_scopes (tenant_id, project_key, scope) VALUES ('ghost', '', 's')"],
  ];

  it.each(corruptions)('%s fails (alone) when its invariant is broken', async (name, corruption) => {
    const db = t.tdb.database.db;
    let failing: string[] = [];
    await db
      .transaction()
      .execute(async (trx) => {
        await sql.raw(corruption).execute(trx);
        // Run the checks inside the same transaction so they see the corruption; then roll back.
        const results = await runCrossTenantChecks({ ...t.tdb.database, db: trx as unknown as typeof db }, 5, { replay: false });
        failing = results.filter((r) => !r.pass).map((r) => r.name);
        throw new Error('rollback');
      })
      .catch((err: unknown) => {
        if ((err as Error).message !== 'rollback') throw err;
      });
    expect(failing).toEqual([name]);
    expect((await runCrossTenantChecks(t.tdb.database)).every((r) => r.pass)).toBe(true);
  });

  (usingPostgres() ? it : it.skip)('the CLI exits 0 when clean, 2 on a failed error-level check, and 2 on a warning only with --strict-warnings', async () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/consistency-cross-tenant.ts'), '--json', ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: t.tdb.url ?? '' },
        encoding: 'utf8',
      });
    expect(run().status).toBe(0);
    await sql`INSERT INTO telemetry_rollups VALUES ('ghost', '', 'k', 'write', now(), 1, 1, 0, 0, 0, 1, ARRAY[1,0,0,0,0,0,0,0,0,0,0]::bigint[])`.execute(t.tdb.database.db);
    expect(run().status).toBe(0);
    const strict = run('--strict-warnings');
    expect(strict.status).toBe(2);
    expect(JSON.parse(strict.stdout)).toMatchObject({ ok: false, warnings: 1, errors: 0 });
    await sql`UPDATE rm_api_keys SET project_id = 'gone' WHERE tenant_id = 'cx-a'`.execute(t.tdb.database.db);
    const failed = run();
    expect(failed.status).toBe(2);
    expect(JSON.parse(failed.stdout).checks.find((c: { name: string }) => c.name === 'api_key_project_exists')).toMatchObject({ pass: false, count: 1, severity: 'error' });
  });
});
