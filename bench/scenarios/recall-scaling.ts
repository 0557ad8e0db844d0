import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { KeyPrincipal } from '../../src/control-plane/api-keys/key-verifier';
import { MemoryRepository } from '../../src/data-plane/memory.repository';
import { EMBEDDING_DIMENSIONS } from '../../src/data-plane/memory.schemas';
import { MemoryService } from '../../src/data-plane/memory.service';
import type { QuotaEnforcer } from '../../src/data-plane/quotas/quota-enforcer';
import { VectorSupport } from '../../src/data-plane/vector-support';
import { loadConfig } from '../../src/platform/config/config';
import type { Database } from '../../src/platform/db/database';
import { migrateToLatest } from '../../src/platform/db/migrations';
import { PGliteDatabase } from '../../src/platform/db/pglite-database';
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context';
import { figure, type Figure } from '../lib/report';
import { round, summarize } from '../lib/stats';
import { freshDb } from './shared';

/**
 * Scenario 7. Recall latency (MemoryService.recall in this process: rank, neighbourhood, node
 * rows) with 1k, 10k and 100k nodes in one scope, on both ranking paths:
 *   - pgvector: only on the embedded PGlite (PostgreSQL 15 on Debian 12 has no pgvector package);
 *   - exact scan: on PostgreSQL (the path every server without the extension takes).
 * The baseline of each is its one ranking statement run raw (pgvector: the ORDER BY <=> query;
 * exact scan: fetching the scope's vectors), so the ratio is what recall adds around it.
 */
const PRINCIPAL: KeyPrincipal = { key_id: 'kbench', tenant_id: 'bench-recall', project_id: null, scopes: ['memory:read'], display: 'bench' };
const NS = { tenantId: 'bench-recall', projectKey: '', scope: 'big' };

/** Deterministic pseudo-random unit-ish vectors for the queries. */
function queryVector(seed: number): number[] {
  let x = seed * 2654435761 + 1;
  return Array.from({ length: EMBEDDING_DIMENSIONS }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  });
}

/** Add nodes until the scope holds `n`, generated in SQL (random vectors, ready), in batches. */
async function growScope(database: Database, n: number): Promise<void> {
  const have = await sql<{ c: number }>`SELECT count(*)::int AS c FROM memory_nodes WHERE tenant_id = ${NS.tenantId} AND scope = ${NS.scope}`.execute(database.db);
  let count = Number(have.rows[0]?.c ?? 0);
  const commitId = randomUUID();
  while (count < n) {
    const batch = Math.min(5000, n - count);
    await sql`
      INSERT INTO memory_nodes (tenant_id, project_key, scope, node_id, client_id, type, title, text_summary, slots, tier, salience, importance, confidence,
                                content_sha256, embedding, embedding_status, embedding_model, commit_id, created_at, updated_at)
      SELECT ${NS.tenantId}, '', ${NS.scope}, gen_random_uuid(), 'n-' || (${count} + g), 'concept', 'node ' || (${count} + g), 'a benchmark node',
             '{}'::jsonb, 'warm', 0.5, 0.5, 0.5, md5(g::text),
             (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, ${EMBEDDING_DIMENSIONS}) AS d WHERE g > 0),
             'ready', 'bench', ${commitId}::uuid, now(), now()
      FROM generate_series(1, ${batch}) AS g`.execute(database.db);
    count += batch;
  }
  // A few edges so the neighbourhood step has something to follow.
  await sql`
    INSERT INTO memory_edges (tenant_id, project_key, scope, edge_id, type, src_id, dst_id, weight, commit_id, created_at)
    SELECT ${NS.tenantId}, '', ${NS.scope}, gen_random_uuid(), 'related_to', a.node_id, b.node_id, 0.5, ${commitId}::uuid, now()
    FROM (SELECT node_id, row_number() OVER (ORDER BY node_id) AS r FROM memory_nodes WHERE tenant_id = ${NS.tenantId} AND scope = ${NS.scope}) a
    JOIN (SELECT node_id, row_number() OVER (ORDER BY node_id) AS r FROM memory_nodes WHERE tenant_id = ${NS.tenantId} AND scope = ${NS.scope}) b ON b.r = a.r + 1
    WHERE a.r % 10 = 0 AND NOT EXISTS (SELECT 1 FROM memory_edges e WHERE e.tenant_id = ${NS.tenantId} AND e.scope = ${NS.scope} AND e.src_id = a.node_id)`.execute(database.db);
  await sql`ANALYZE memory_nodes`.execute(database.db);
}

async function measure(database: Database, memory: MemoryService, path: 'pgvector' | 'scan', samples: number): Promise<{ recall: number[]; raw: number[] }> {
  const recall: number[] = [];
  const raw: number[] = [];
  const opts = { scope: NS.scope, limit: 10, hops: 1 as const, maxNodes: 50, maxEdges: 50, minSimilarity: 0 };
  // One warm-up of each.
  await memory.recall(PRINCIPAL, { ...opts, embedding: queryVector(0) });
  for (let i = 1; i <= samples; i++) {
    const q = queryVector(i);
    let t0 = performance.now();
    const r = await memory.recall(PRINCIPAL, { ...opts, embedding: q });
    recall.push(performance.now() - t0);
    if (r.seeds.length !== 10) throw new Error(`recall returned ${r.seeds.length} seeds, expected 10`);
    t0 = performance.now();
    if (path === 'pgvector') {
      await sql`SELECT node_id::text AS id, coalesce(1 - (embedding_vec <=> ${sql.val(q)}::real[]::vector), 0) AS similarity FROM memory_nodes
                WHERE tenant_id = ${NS.tenantId} AND project_key = '' AND scope = ${NS.scope} AND embedding_status = 'ready' AND embedding_vec IS NOT NULL
                ORDER BY similarity DESC, node_id LIMIT 10`.execute(database.db);
    } else {
      await sql`SELECT node_id::text AS node_id, embedding FROM memory_nodes
                WHERE tenant_id = ${NS.tenantId} AND project_key = '' AND scope = ${NS.scope} AND embedding_status = 'ready' AND embedding IS NOT NULL`.execute(database.db);
    }
    raw.push(performance.now() - t0);
  }
  return { recall, raw };
}

function samplesFor(n: number, quick: boolean): number {
  if (quick) return 20;
  if (n <= 1000) return 200;
  if (n <= 10_000) return 60;
  return 15;
}

export const recallScenario: Scenario = {
  name: 'recall',
  title: 'Recall latency at 1k / 10k / 100k nodes in one scope: pgvector (PGlite) and exact scan (PostgreSQL)',
  async run(ctx: BenchContext): Promise<ScenarioOutput> {
    const sizes = ctx.quick ? [1000] : [1000, 10_000, 100_000];
    const figures: Figure[] = [];
    const notes: string[] = [];
    const config = loadConfig({ KEY_PEPPER: 'bench-pepper-0123456789abcdef0123456789abcdef', DATA_DIR: ctx.tmpDir, LOG_LEVEL: 'error' });
    // MemoryService.recall uses the repository and the vector support only; the quota enforcer is for writes.
    const serviceOn = async (database: Database) => {
      const vectors = new VectorSupport(database);
      await vectors.onModuleInit();
      return { vectors, memory: new MemoryService(new MemoryRepository(database), config, undefined as unknown as QuotaEnforcer, vectors) };
    };

    const pgDb = await freshDb(ctx, 'recall', 4);
    const onPg = await serviceOn(pgDb.database);
    if (onPg.vectors.enabled) notes.push('This PostgreSQL server has pgvector: the PostgreSQL figures are its pgvector path, not the exact scan.');
    ctx.log('  opening an in-memory PGlite (pgvector)');
    const pglite = await PGliteDatabase.open({});
    ctx.onCleanup(() => pglite.close());
    await migrateToLatest(pglite.db);
    const onLite = await serviceOn(pglite);
    if (!onLite.vectors.enabled) throw new Error('pgvector did not load on PGlite');

    for (const n of sizes) {
      const samples = samplesFor(n, ctx.quick);
      for (const [path, database, svc, where] of [
        ['pgvector', pglite, onLite, 'PGlite (in process)'],
        ['scan', pgDb.database, onPg, `PostgreSQL (${ctx.machine.postgres.replace(/^PostgreSQL /, '')})`],
      ] as const) {
        ctx.log(`  ${path} on ${where}: growing the scope to ${n.toLocaleString('en-US')} nodes, then ${samples} recalls`);
        const t0 = performance.now();
        await growScope(database, n);
        const loadS = (performance.now() - t0) / 1000;
        const m = await measure(database, svc.memory, path, samples);
        const r = summarize(m.recall);
        const raw = summarize(m.raw);
        for (const p of ['p50', 'p99'] as const) {
          figures.push(
            figure({
              id: `recall.${path}.${n}.${p}`,
              label: `recall, ${path === 'pgvector' ? 'pgvector path on PGlite' : 'exact-scan path on PostgreSQL'}, ${n.toLocaleString('en-US')} nodes, ${p}`,
              value: r[p],
              unit: 'ms',
              better: 'lower',
              baseline: {
                label: path === 'pgvector' ? `the raw pgvector ranking statement alone, ${p}` : `the raw candidate SELECT alone (the scope's vectors to this process), ${p}`,
                value: raw[p],
                unit: 'ms',
              },
              extra: { samples: r.count, max_ms: round(r.max, 2), load_s: round(loadS, 1) },
            }),
          );
        }
      }
    }
    notes.push('pgvector runs only on the embedded PGlite here (Debian 12 ships no pgvector for PostgreSQL 15), so the two paths also differ in engine: PGlite is single-session WASM in this process, PostgreSQL a real server.');
    notes.push('Both paths rank exactly (no approximate index), so they return the same top results (test/e2e/vector-paths.e2e-spec.ts). Vectors are random, 256 dimensions; the query is a fresh random vector each time; limit 10, 1 hop.');
    return { scale: { nodes: sizes.join(', '), dimensions: EMBEDDING_DIMENSIONS }, figures, notes };
  },
};
