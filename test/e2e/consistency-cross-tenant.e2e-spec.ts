import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { sql } from 'kysely';
import { type CheckResult, CROSS_TENANT_CHECKS, runCrossTenantChecks } from '../../src/ops/checks/cross-tenant';
import { seedMemory } from '../support/memory-seed';
import { startTestService, type TestService } from '../support/service';
import { pgOnly } from '../support/skips';

const ROOT = join(__dirname, '../..');
const NO_COMMIT = "'00000000-0000-4000-8000-000000000000'";
/** Namespaces of the seed, as SQL: tenant A's project scope `s`, its tenant-wide scope `s`, tenant B's project scope `s`. */
const A = "tenant_id = 'cx-a' AND project_key = 'cx-a-p' AND scope = 's'";
const A_WIDE = "tenant_id = 'cx-a' AND project_key = '' AND scope = 's'";
const B = "tenant_id = 'cx-b' AND project_key = 'cx-b-p' AND scope = 's'";
/** Tenant A's project key that never wrote anything (seedMemory labels it `spare`). */
const SPARE_A = "tenant_id = 'cx-a' AND label = 'spare'";
const commitIn = (ns: string, extra = 'true') => `(SELECT commit_id FROM memory_commits WHERE ${ns} AND ${extra} ORDER BY seq LIMIT 1)`;

/**
 * Each named cross-tenant check passes on a clean system (seeded through the real API on every
 * path that writes memory) and fails, alone, when the test breaks exactly its invariant with SQL
 * (inside a transaction that is rolled back afterwards; projection_equals_replay, which needs a
 * transaction of its own, on this test's own database and then repaired).
 */
describe('job:consistency-check:cross-tenant', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService({ env: { OUTBOX_POLL_INTERVAL_MS: '100' } });
    await seedMemory(t, ['cx-a', 'cx-b'], t.config.embeddings.dimension);
  }, 120_000);
  afterAll(async () => {
    await t.stop();
  });

  const failing = (results: readonly CheckResult[]) => results.filter((r) => !r.pass).map((r) => r.name);

  it('passes every check on a clean system that has every kind of row the checks look at', async () => {
    const results = await runCrossTenantChecks(t.tdb.database);
    expect(results.map((r) => r.name)).toEqual(CROSS_TENANT_CHECKS);
    expect(results.filter((r) => !r.pass)).toEqual([]);
    const r = await sql<{ tenant_id: string; nodes: number; edges: number; rule_defs: number; jobs: number; pack_imports: number; parented: number; keys: number; namespaces: number }>`
      SELECT t.tenant_id,
        (SELECT count(*)::int FROM memory_nodes n WHERE n.tenant_id = t.tenant_id) AS nodes,
        (SELECT count(*)::int FROM memory_edges e WHERE e.tenant_id = t.tenant_id) AS edges,
        (SELECT count(*)::int FROM memory_rule_defs d WHERE d.tenant_id = t.tenant_id) AS rule_defs,
        (SELECT count(*)::int FROM memory_outbox o WHERE o.tenant_id = t.tenant_id) AS jobs,
        (SELECT count(*)::int FROM memory_pack_imports i WHERE i.tenant_id = t.tenant_id) AS pack_imports,
        (SELECT count(*)::int FROM memory_commits c WHERE c.tenant_id = t.tenant_id AND c.parent_id IS NOT NULL) AS parented,
        (SELECT count(DISTINCT c.key_id)::int FROM memory_commits c WHERE c.tenant_id = t.tenant_id) AS keys,
        (SELECT count(DISTINCT c.project_key)::int FROM memory_commits c WHERE c.tenant_id = t.tenant_id) AS namespaces
      FROM (VALUES ('cx-a'), ('cx-b')) AS t(tenant_id)`.execute(t.tdb.database.db);
    for (const row of r.rows) {
      // parented: rehydrate, activate, rules/state, feedback and tools/feedback in `s`, activate in `packed`.
      expect(row).toMatchObject({ rule_defs: 4, pack_imports: 1, parented: 6, keys: 2, namespaces: 2 });
      expect(row.nodes).toBeGreaterThan(0);
      expect(row.edges).toBeGreaterThan(0);
      expect(row.jobs).toBeGreaterThan(0);
    }
  });

  const corruptions: [string, string, string][] = [
    // The key read model.
    ['api_key_project_in_key_tenant', "a key bound to another tenant's project", `UPDATE rm_api_keys SET project_id = 'cx-b-p' WHERE ${SPARE_A}`],
    ['api_key_project_exists', 'a key bound to a project that does not exist', `UPDATE rm_api_keys SET project_id = 'gone' WHERE ${SPARE_A}`],
    ['read_model_tenant_matches_stream', "a key row carrying another tenant than its stream's", `UPDATE rm_api_keys SET tenant_id = 'cx-b', project_id = NULL WHERE ${SPARE_A}`],
    // Memory rows and the tenant, project and scope of their commits.
    ['memory_rows_match_commit_tenant', "a node written by another tenant's commit", `UPDATE memory_nodes SET commit_id = ${commitIn(B)} WHERE ${A} AND client_id = 'n0'`],
    ['memory_rows_match_commit_tenant', "a project's node written by a commit of the tenant-wide namespace", `UPDATE memory_nodes SET commit_id = ${commitIn(A_WIDE)} WHERE ${A} AND client_id = 'm0'`],
    ['memory_rows_match_commit_tenant', "an edge written by another tenant's commit", `UPDATE memory_edges SET commit_id = ${commitIn(B)} WHERE ${A} AND type = 'derived_from'`],
    ['memory_rows_match_commit_tenant', "a rule definition written by another tenant's commit", `UPDATE memory_rule_defs SET commit_id = ${commitIn(A.replace(/cx-a/g, 'cx-b'), "kind = 'write' AND seq = 5")} WHERE ${A}`],
    ['memory_rows_match_commit_tenant', "an outbox job in another scope than its commit's", `UPDATE memory_outbox SET scope = 'other' WHERE tenant_id = 'cx-a' AND scope = 's' AND project_key = 'cx-a-p'`],
    ['memory_rows_match_commit_tenant', "a pack import recorded against a commit of another scope", `UPDATE memory_pack_imports SET commit_id = ${commitIn(A)} WHERE tenant_id = 'cx-a'`],
    ['memory_rows_match_commit_tenant', "a decision recorded against another tenant's commit", `UPDATE memory_decisions SET commit_id = ${commitIn(B)} WHERE ${A}`],
    ['memory_rows_match_commit_tenant', "a rule feedback recorded against another tenant's commit", `UPDATE memory_rule_feedback SET commit_id = ${commitIn(B)} WHERE ${A}`],
    ['memory_rows_have_commits', 'a decision naming a commit that does not exist', `UPDATE memory_decisions SET commit_id = ${NO_COMMIT} WHERE ${B}`],
    ['memory_rows_have_commits', 'a rule feedback naming a commit that does not exist', `UPDATE memory_rule_feedback SET commit_id = ${NO_COMMIT} WHERE ${B}`],
    ['memory_rows_have_commits', 'a node naming a commit that does not exist', `UPDATE memory_nodes SET commit_id = ${NO_COMMIT} WHERE ${B} AND client_id = 'n1'`],
    ['memory_rows_have_commits', 'an edge naming a commit that does not exist', `UPDATE memory_edges SET commit_id = ${NO_COMMIT} WHERE ${B} AND type = 'part_of'`],
    ['memory_rows_have_commits', 'a rule definition naming a commit that does not exist', `UPDATE memory_rule_defs SET commit_id = ${NO_COMMIT} WHERE ${B}`],
    ['memory_rows_have_commits', 'an outbox job naming a commit that does not exist', `UPDATE memory_outbox SET commit_id = ${NO_COMMIT} WHERE tenant_id = 'cx-b'`],
    ['memory_rows_have_commits', 'a pack import naming a commit that does not exist', `UPDATE memory_pack_imports SET commit_id = ${NO_COMMIT} WHERE tenant_id = 'cx-b'`],
    // Commits: who wrote them, and their parents.
    ['memory_key_owned_by_tenant', "a commit written with another tenant's key", `UPDATE memory_commits SET key_id = (SELECT key_id FROM rm_api_keys WHERE tenant_id = 'cx-b' ORDER BY key_id LIMIT 1) WHERE ${A} AND seq = 2`],
    [
      'memory_key_owned_by_tenant',
      "a tenant-wide commit written with the tenant's project key",
      `UPDATE memory_commits SET key_id = (SELECT key_id FROM memory_commits WHERE ${A} AND seq = 1) WHERE ${A_WIDE}`,
    ],
    ['commit_parent_same_namespace', "a commit whose parent is another tenant's commit", `UPDATE memory_commits SET parent_id = ${commitIn(B)} WHERE ${A} AND kind = 'nodes_activate'`],
    ['commit_parent_same_namespace', 'a commit whose parent is in another namespace of its tenant', `UPDATE memory_commits SET parent_id = ${commitIn(A_WIDE)} WHERE ${A} AND seq = 2`],
    ['commit_parent_same_namespace', 'a commit whose parent is in another scope', `UPDATE memory_commits SET parent_id = ${commitIn("tenant_id = 'cx-a' AND project_key = 'cx-a-p' AND scope = 'other'")} WHERE ${A} AND seq = 3`],
    // Rows of tenants that do not exist.
    ['telemetry_tenant_exists', 'telemetry of a tenant that does not exist', "INSERT INTO telemetry_rollups VALUES ('ghost', '', 'k', 'write', now(), 1, 1, 0, 0, 0, 1, ARRAY[1,0,0,0,0,0,0,0,0,0,0]::bigint[])"],
    ['memory_tenant_exists', 'a memory scope of a tenant that does not exist', "INSERT INTO memory_scopes (tenant_id, project_key, scope) VALUES ('ghost', '', 's')"],
    ['memory_tenant_exists', 'a stored-node counter of a tenant that does not exist', "INSERT INTO memory_tenant_counters (tenant_id, nodes) VALUES ('ghost', 0)"],
  ];

  it.each(corruptions)('%s fails (alone) on %s', async (name, _what, corruption) => {
    const db = t.tdb.database.db;
    let results: CheckResult[] = [];
    await db
      .transaction()
      .execute(async (trx) => {
        const changed = await sql.raw(corruption).execute(trx);
        expect(Number(changed.numAffectedRows ?? 0)).toBeGreaterThan(0);
        // Run the checks inside the same transaction so they see the corruption; then roll back.
        results = await runCrossTenantChecks({ ...t.tdb.database, db: trx as unknown as typeof db }, 5, { replay: false });
        throw new Error('rollback');
      })
      .catch((err: unknown) => {
        if ((err as Error).message !== 'rollback') throw err;
      });
    expect(failing(results)).toEqual([name]);
    const failed = results.find((r) => r.name === name)!;
    expect(failed.count).toBeGreaterThan(0);
    expect(failed.sample.length).toBeGreaterThan(0);
    expect(failing(await runCrossTenantChecks(t.tdb.database))).toEqual([]);
  });

  it('memory_rows_match_commit_tenant and memory_rows_have_commits name the kind of row they found', async () => {
    const db = t.tdb.database.db;
    const kinds: Record<string, string[]> = {};
    await db
      .transaction()
      .execute(async (trx) => {
        for (const [, , corruption] of corruptions.filter(([n]) => n === 'memory_rows_match_commit_tenant' || n === 'memory_rows_have_commits')) await sql.raw(corruption).execute(trx);
        const results = await runCrossTenantChecks({ ...t.tdb.database, db: trx as unknown as typeof db }, 50, { replay: false });
        for (const r of results.filter((x) => !x.pass)) kinds[r.name] = [...new Set((r.sample as { kind?: string }[]).map((s) => s.kind ?? ''))].sort();
        throw new Error('rollback');
      })
      .catch((err: unknown) => {
        if ((err as Error).message !== 'rollback') throw err;
      });
    expect(kinds).toEqual({
      memory_rows_match_commit_tenant: ['decision', 'edge', 'node', 'outbox', 'pack_import', 'rule_definition', 'rule_feedback'],
      memory_rows_have_commits: ['decision', 'edge', 'node', 'outbox', 'pack_import', 'rule_definition', 'rule_feedback'],
    });
  });

  it('projection_equals_replay fails (alone) when a read model row differs from the log, and passes once repaired', async () => {
    const db = t.tdb.database.db;
    const before = await sql<{ display_name: string | null }>`SELECT display_name FROM rm_tenants WHERE tenant_id = 'cx-a'`.execute(db);
    await sql`UPDATE rm_tenants SET display_name = 'forged' WHERE tenant_id = 'cx-a'`.execute(db);
    try {
      expect(failing(await runCrossTenantChecks(t.tdb.database))).toEqual(['projection_equals_replay']);
    } finally {
      await sql`UPDATE rm_tenants SET display_name = ${before.rows[0]!.display_name} WHERE tenant_id = 'cx-a'`.execute(db);
    }
    expect(failing(await runCrossTenantChecks(t.tdb.database))).toEqual([]);
  });

  it('every check has at least one corruption that fails it', () => {
    expect(new Set([...corruptions.map(([name]) => name), 'projection_equals_replay'])).toEqual(new Set(CROSS_TENANT_CHECKS));
  });

  pgOnly.it('the CLI exits 0 when clean, 2 on a failed error-level check, and 2 on a warning only with --strict-warnings', async () => {
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
    await sql.raw(`UPDATE rm_api_keys SET project_id = 'gone' WHERE ${SPARE_A}`).execute(t.tdb.database.db);
    const failed = run();
    expect(failed.status).toBe(2);
    expect(JSON.parse(failed.stdout).checks.find((c: { name: string }) => c.name === 'api_key_project_exists')).toMatchObject({ pass: false, count: 1, severity: 'error' });
  }, 60_000);
});
