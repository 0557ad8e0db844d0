import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { EMBEDDING_DIMENSIONS } from '../../src/data-plane/memory.schemas';
import { type CheckResult, runScopeChecks, SCOPE_CHECKS, type ScopeCheckOptions } from '../../src/ops/checks/scope';
import { startTestService, type TestService } from '../support/service';
import { usingPostgres } from '../support/test-db';

const ROOT = join(__dirname, '../..');
const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A client-chosen node id in upper case: the checks must compare ids case-insensitively, as PostgreSQL's uuid does. */
const UPPER_ID = 'ABCDEF01-2345-4678-89AB-CDEF01234567';

/**
 * Each named scope check passes on a clean system and fails, alone, when the test breaks its
 * invariant with SQL (inside a transaction the checks also run in, rolled back afterwards).
 */
describe('job:consistency-check:scope', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService({ env: { OUTBOX_POLL_INTERVAL_MS: '100' } });
    const api = request(t.url);
    for (const id of ['sc-a', 'sc-b']) {
      await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id, tier: 'enterprise' }).expect(201);
      await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: id, project_id: `${id}-p` }).expect(201);
      const key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: id, project_id: `${id}-p` }).expect(201)).body.api_key as string;
      const write = (body: Record<string, unknown>) => api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 's', ...body }).expect(200);
      // seq 1 and 2: two nodes and an edge each.
      for (let i = 0; i < 2; i++) {
        await write({ input_text: `${i}`, nodes: [{ client_id: `n${i}`, type: 'event', title: `x${i}` }, { client_id: `m${i}`, type: 'event' }], edges: [{ type: 'related_to', src: { client_id: `n${i}` }, dst: { client_id: `m${i}` } }] });
      }
      // seq 3: n0's content changes and the n0 -> m0 edge's weight, so both were written by two commits.
      await write({ input_text: 'update', nodes: [{ client_id: 'n0', type: 'event', title: 'x0 changed' }], edges: [{ type: 'related_to', src: { client_id: 'n0' }, dst: { client_id: 'm0' }, weight: 0.5 }] });
      // seq 4: a node with a client embedding (ready at once) and an id in upper case.
      await write({ input_text: 'vector', nodes: [{ id: UPPER_ID, type: 'concept', title: 'v', embedding: Array.from({ length: EMBEDDING_DIMENSIONS }, (_, i) => (i % 7) / 7) }] });
      // Another scope of the same tenant.
      await write({ scope: 'other', input_text: 'o', nodes: [{ client_id: 'o', type: 'topic', title: 'other scope' }] });
    }
    // The outbox worker embeds every node; the clean system is the one where it has finished.
    const until = Date.now() + 30_000;
    for (;;) {
      const r = await sql<{ n: number }>`
        SELECT (SELECT count(*) FROM memory_nodes WHERE embedding_status <> 'ready') + (SELECT count(*) FROM memory_outbox WHERE status <> 'done') AS n`.execute(t.tdb.database.db);
      if (Number(r.rows[0]?.n) === 0) break;
      if (Date.now() > until) throw new Error('timed out waiting for the outbox worker');
      await sleep(100);
    }
  }, 60_000);
  afterAll(async () => {
    await t.stop();
  });

  /** Run `statements` and the checks in one transaction, then roll it back. */
  async function checksWith(statements: readonly string[], opts: ScopeCheckOptions = {}): Promise<CheckResult[]> {
    const db = t.tdb.database.db;
    let results: CheckResult[] = [];
    await db
      .transaction()
      .execute(async (trx) => {
        for (const s of statements) await sql.raw(s).execute(trx);
        results = await runScopeChecks({ ...t.tdb.database, db: trx as unknown as typeof db }, opts);
        throw new Error('rollback');
      })
      .catch((err: unknown) => {
        if ((err as Error).message !== 'rollback') throw err;
      });
    return results;
  }
  const failing = (results: readonly CheckResult[]) => results.filter((r) => !r.pass).map((r) => r.name);

  it('passes every check on a clean system', async () => {
    const results = await runScopeChecks(t.tdb.database);
    expect(results.map((r) => r.name)).toEqual(SCOPE_CHECKS);
    expect(results.filter((r) => !r.pass)).toEqual([]);
    // The clean system really has what the checks look at.
    const counts = await sql<{ commits: number; nodes: number; edges: number; jobs: number }>`
      SELECT (SELECT count(*)::int FROM memory_commits) AS commits, (SELECT count(*)::int FROM memory_nodes) AS nodes,
             (SELECT count(*)::int FROM memory_edges) AS edges, (SELECT count(*)::int FROM memory_outbox) AS jobs`.execute(t.tdb.database.db);
    expect(counts.rows[0]).toEqual({ commits: 10, nodes: 12, edges: 4, jobs: 8 });
  });

  const A = "tenant_id = 'sc-a' AND scope = 's'";
  const B = "tenant_id = 'sc-b' AND scope = 's'";
  const corruptions: [string, string, string[]][] = [
    ['commit_chain_continuous', 'a seq gap [seq_gap]', [`UPDATE memory_commits SET seq = seq + 10 WHERE ${A} AND seq = 4`]],
    ['commit_chain_continuous', 'a parent hash that is not the parent commit hash [parent_hash_mismatch]', [`UPDATE memory_commits SET parent_hash = repeat('0', 64) WHERE ${B} AND seq = 2`]],
    ['commit_chain_continuous', 'a second root [extra_root]', [`UPDATE memory_commits SET parent_commit_id = NULL WHERE ${A} AND seq = 3`]],
    ['scope_head_matches_chain', 'a head commit count that is not the chain length [commit_count_mismatch]', [`UPDATE memory_scopes SET commit_count = commit_count + 1 WHERE ${A}`]],
    ['scope_head_matches_chain', 'a head hash that is not the last commit hash [head_hash_mismatch]', [`UPDATE memory_scopes SET head_hash = repeat('0', 64) WHERE ${B}`]],
    ['commit_hash_valid', 'tampered commit content [commit_hash_mismatch]', [`UPDATE memory_commits SET input_sha256 = repeat('0', 64) WHERE ${A} AND seq = 1`]],
    ['commit_hash_valid', 'a diff hash that is not the hash of the diff [diff_hash_mismatch]', [`UPDATE memory_commits SET diff_sha256 = repeat('0', 64) WHERE ${A} AND seq = 2`]],
    ['commit_hash_valid', 'a tampered actor on the head commit [commit_hash_mismatch]', [`UPDATE memory_commits SET actor_key_id = 'someone-else' WHERE ${B} AND seq = 4`]],
    ['node_written_by_scope_commit', "a node content hash its commit never wrote [content_hash_mismatch]", [`UPDATE memory_nodes SET content_sha256 = repeat('0', 64) WHERE ${B} AND client_id = 'm1'`]],
    [
      'node_written_by_scope_commit',
      'a node pointing at an older commit of its scope than the one that last changed it [changed_by_later_commit]',
      [`UPDATE memory_nodes SET commit_id = (SELECT commit_id FROM memory_commits WHERE ${A} AND seq = 1) WHERE ${A} AND client_id = 'n0'`],
    ],
    ['edge_written_by_scope_commit', 'an edge weight no commit wrote [content_mismatch]', [`UPDATE memory_edges SET weight = 0.25 WHERE ${B}`]],
    ['commit_diff_rows_exist', 'an edge a commit wrote is gone', [`DELETE FROM memory_edges WHERE ${A} AND weight = 0.5`]],
    ['embedding_status_matches_vector', "a 'ready' node without a vector [ready_without_vector]", [`UPDATE memory_nodes SET embedding = NULL WHERE ${A} AND client_id = 'n1'`]],
    ['embedding_status_matches_vector', "a vector on a 'failed' node [vector_without_ready]", [`UPDATE memory_nodes SET embedding_status = 'failed' WHERE ${B} AND client_id = 'm0'`]],
    [
      'embedding_dimensions_valid',
      'a vector of the wrong dimension',
      [
        // With pgvector the sync trigger would refuse a 10-dimensional vector: disable it in this transaction only.
        `DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'memory_nodes_sync_vector') THEN ALTER TABLE memory_nodes DISABLE TRIGGER memory_nodes_sync_vector; END IF; END $$`,
        `UPDATE memory_nodes SET embedding = embedding[1:10] WHERE ${A} AND client_id = 'm1'`,
      ],
    ],
    [
      'pending_embeddings_queued',
      'a pending node no open job will embed',
      [`UPDATE memory_nodes SET embedding_status = 'pending', embedding = NULL, embedding_model = NULL WHERE ${B} AND client_id = 'n1'`],
    ],
    [
      'outbox_attempts_within_max',
      'a pending job that has used up its attempts',
      [`UPDATE memory_outbox SET status = 'pending', attempts = max_attempts, next_attempt_at = now() + interval '1 hour' WHERE job_id = (SELECT job_id FROM memory_outbox WHERE ${A} LIMIT 1)`],
    ],
    [
      'outbox_claims_within_timeout',
      'a job claimed an hour ago',
      [`UPDATE memory_outbox SET status = 'processing', attempts = 1, claimed_at = now() - interval '1 hour', claimed_by = 'dead-worker' WHERE job_id = (SELECT job_id FROM memory_outbox WHERE ${B} LIMIT 1)`],
    ],
  ];

  it.each(corruptions)('%s fails (alone) on %s', async (name, _what, statements) => {
    const results = await checksWith(statements);
    expect(failing(results)).toEqual([name]);
    const failed = results.find((r) => r.name === name)!;
    expect(failed.count).toBeGreaterThan(0);
    expect(failed.sample.length).toBeGreaterThan(0);
    // The kind of break each check names, where it names one.
    const kind = /\[(\w+)\]$/.exec(_what)?.[1];
    if (kind) expect(failed.sample).toContainEqual(expect.objectContaining({ problem: kind }));
    expect(failing(await runScopeChecks(t.tdb.database))).toEqual([]);
  });

  it('every check has at least one corruption that fails it', () => {
    expect(new Set(corruptions.map(([name]) => name))).toEqual(new Set(SCOPE_CHECKS));
  });

  it('--tenant and --scope limit the checks to the chosen scopes', async () => {
    const tamper = [`UPDATE memory_commits SET input_sha256 = repeat('0', 64) WHERE ${A} AND seq = 1`];
    expect(failing(await checksWith(tamper, { tenantId: 'sc-a' }))).toEqual(['commit_hash_valid']);
    expect(failing(await checksWith(tamper, { tenantId: 'sc-a', scope: 's' }))).toEqual(['commit_hash_valid']);
    expect(failing(await checksWith(tamper, { tenantId: 'sc-b' }))).toEqual([]);
    expect(failing(await checksWith(tamper, { tenantId: 'sc-a', scope: 'other' }))).toEqual([]);
    expect(failing(await checksWith(tamper, { scope: 's' }))).toEqual(['commit_hash_valid']);
  });

  it('--max-attempts lowers the attempt limit below the one recorded on each job', async () => {
    const job = [`UPDATE memory_outbox SET status = 'pending', attempts = 2, next_attempt_at = now() + interval '1 hour' WHERE job_id = (SELECT job_id FROM memory_outbox WHERE ${A} LIMIT 1)`];
    expect(failing(await checksWith(job))).toEqual([]);
    expect(failing(await checksWith(job, { maxAttempts: 2 }))).toEqual(['outbox_attempts_within_max']);
  });

  it('--claim-timeout-ms sets how old a claim may be', async () => {
    const job = [`UPDATE memory_outbox SET status = 'processing', attempts = 1, claimed_at = now() - interval '10 seconds', claimed_by = 'w' WHERE job_id = (SELECT job_id FROM memory_outbox WHERE ${A} LIMIT 1)`];
    expect(failing(await checksWith(job))).toEqual([]);
    const results = await checksWith(job, { claimTimeoutMs: 1000 });
    expect(failing(results)).toEqual(['outbox_claims_within_timeout']);
    expect(results.find((r) => r.name === 'outbox_claims_within_timeout')).toMatchObject({ severity: 'warning', count: 1 });
  });

  (usingPostgres() ? it : it.skip)('the CLI exits 0 clean, 2 on an error, 2 on a warning only with --strict-warnings, 1 on usage errors; --out writes summary.json', async () => {
    const db = t.tdb.database.db;
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/consistency-scope.ts'), '--json', ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: t.tdb.url ?? '' },
        encoding: 'utf8',
      });
    const clean = run();
    expect(clean.status).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({ ok: true, gate: 'scope', errors: 0, warnings: 0, options: { max_attempts: 8, claim_timeout_ms: 300_000 } });

    // A warning: a claim 10 s old, stale for --claim-timeout-ms 1000 (the worker's own timeout is 300 s, so it stays).
    await sql`UPDATE memory_outbox SET status = 'processing', claimed_at = now() - interval '10 seconds', claimed_by = 'w'
      WHERE job_id = (SELECT job_id FROM memory_outbox WHERE tenant_id = 'sc-b' LIMIT 1)`.execute(db);
    expect(run().status).toBe(0);
    expect(run('--claim-timeout-ms', '1000').status).toBe(0);
    const strict = run('--claim-timeout-ms', '1000', '--strict-warnings');
    expect(strict.status).toBe(2);
    expect(JSON.parse(strict.stdout)).toMatchObject({ ok: false, warnings: 1, errors: 0, failing: ['outbox_claims_within_timeout'] });
    await sql`UPDATE memory_outbox SET status = 'done', claimed_at = NULL, claimed_by = NULL WHERE status = 'processing'`.execute(db);

    // An error: tampered commit content in sc-a.
    await sql`UPDATE memory_commits SET input_sha256 = repeat('0', 64) WHERE tenant_id = 'sc-a' AND scope = 's' AND seq = 1`.execute(db);
    const out = mkdtempSync(join(tmpdir(), 'aionis-scope-'));
    try {
      const failed = run('--out', out);
      expect(failed.status).toBe(2);
      const summary = JSON.parse(failed.stdout);
      expect(summary).toMatchObject({ ok: false, gate: 'scope', errors: 1, failing: ['commit_hash_valid'] });
      expect(summary.checks.find((c: { name: string }) => c.name === 'commit_hash_valid')).toMatchObject({ pass: false, count: 1, severity: 'error' });
      expect(existsSync(join(out, 'summary.json'))).toBe(true);
      expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'))).toEqual(summary);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(run('--tenant', 'sc-b').status).toBe(0);
    expect(run('--tenant', 'sc-a', '--scope', 'other').status).toBe(0);
    expect(run('--tenant', 'sc-a').status).toBe(2);

    const unknown = run('--bogus');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('unknown argument --bogus');
    expect(run('--max-attempts', 'many').status).toBe(1);
  }, 120_000);
});
