import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Namespace } from '../../src/data-plane/memory/domain/ids';
import type { Consumer } from '../../src/data-plane/memory/domain/lanes';
import { MemoryRepository, vectorLiteral } from '../../src/data-plane/memory/memory.repository';
import { MemorySettingsRepository } from '../../src/data-plane/memory/memory-settings.repository';
import { type RecallRequest, RecallService } from '../../src/data-plane/memory/recall.service';
import { seedCandidateCount } from '../../src/data-plane/memory/recall/seeds';
import { VectorSupport } from '../../src/data-plane/vector-support';
import { type AppConfig, loadConfig } from '../../src/platform/config/config';
import type { Database } from '../../src/platform/db/database';
import { migrateToLatest } from '../../src/platform/db/migrations';
import { PGliteDatabase } from '../../src/platform/db/pglite-database';
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context';
import { figure, type Figure } from '../lib/report';
import { round, summarize } from '../lib/stats';
import { freshDb } from './shared';

/**
 * Scenario 7. Recall latency (RecallService.recall in this process, built as the data-plane module
 * builds it: stage 1 seeds, one hop of neighbourhood, node rows, activation, context text) with 1k,
 * 10k and 100k nodes in one scope at the configured embedding dimension (EMBEDDING_DIM, 1536 by
 * default), on both ranking paths:
 *   - pgvector: only on the embedded PGlite (PostgreSQL 15 on Debian 12 has no pgvector package);
 *   - exact scan: on PostgreSQL (the path every server without the extension takes).
 * The baseline of each is its one ranking statement run raw (pgvector: the ORDER BY <=> LIMIT k
 * query; exact scan: fetching the scope's vectors into this process), so the ratio is what recall
 * adds around it.
 */
const NS: Namespace = { tenantId: 'bench-recall', projectKey: '', scope: 'big' };
/** A tenant-wide key's reader: no agent, no team (shared nodes are visible). */
const READER: Consumer = { agentId: null, teamId: null };
/** Explicit knobs: 10 seeds (50 nearest candidates), one hop, at most 50 nodes and 50 edges. */
const REQUEST: RecallRequest = { limit: 10, neighborhood_hops: 1, max_nodes: 50, max_edges: 50, min_edge_weight: 0, min_edge_confidence: 0 };

/** Deterministic pseudo-random vectors for the queries. */
function queryVector(seed: number, dim: number): number[] {
  let x = (seed * 2654435761 + 1) % 2147483648;
  return Array.from({ length: dim }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  });
}

/**
 * Add nodes until the scope holds `n`, generated in SQL in batches: the columns
 * MemoryRepository.insertNodes writes (shared lane, no owner, hot, ready with a vector in
 * `embedding`; on a database with pgvector the VectorSupport trigger fills `embedding_vec`), the
 * tenant's stored-node counter kept in step, and every tenth node linked to the next one.
 */
async function growScope(database: Database, n: number, dim: number, log: (m: string) => void): Promise<void> {
  const have = await sql<{ c: number }>`SELECT count(*)::int AS c FROM memory_nodes WHERE tenant_id = ${NS.tenantId} AND project_key = '' AND scope = ${NS.scope}`.execute(database.db);
  let count = Number(have.rows[0]?.c ?? 0);
  const commitId = '00000000-0000-4000-8000-00000000be7c';
  const batchSize = dim > 512 ? 1000 : 5000;
  while (count < n) {
    const batch = Math.min(batchSize, n - count);
    await sql`
      INSERT INTO memory_nodes (tenant_id, project_key, scope, node_id, client_id, type, tier, title, text_summary, slots, raw_ref, evidence_ref, memory_lane,
                                producer_agent_id, owner_agent_id, owner_team_id, salience, importance, confidence, embedding, embedding_status, embedding_model,
                                commit_id, created_at, updated_at)
      SELECT ${NS.tenantId}, '', ${NS.scope}, gen_random_uuid(), NULL, 'concept', 'hot', 'node ' || (${count} + g), 'a benchmark node', '{}'::jsonb, NULL, NULL, 'shared',
             NULL, NULL, NULL, 0.5, 0.5, 0.5,
             (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, ${dim}) AS d WHERE g > 0),
             'ready', 'bench', ${commitId}::uuid, now(), now()
      FROM generate_series(1, ${batch}) AS g`.execute(database.db);
    await sql`
      INSERT INTO memory_tenant_counters (tenant_id, nodes) VALUES (${NS.tenantId}, ${batch})
      ON CONFLICT (tenant_id) DO UPDATE SET nodes = memory_tenant_counters.nodes + EXCLUDED.nodes`.execute(database.db);
    count += batch;
    if (count % 10_000 === 0 || count === n) log(`    ${count.toLocaleString('en-US')} nodes`);
  }
  // Statistics first: PGlite has no autovacuum, and the statements below and the measured ones need them.
  await sql`ANALYZE memory_nodes`.execute(database.db);
  // A few edges so the neighbourhood step has something to follow: every tenth node (in id order)
  // to the next one, one per (type, src, dst) as upsertEdges keeps them. One pass with lead(), no self-join.
  await sql`
    INSERT INTO memory_edges (tenant_id, project_key, scope, edge_id, type, src_id, dst_id, weight, confidence, decay_rate, commit_id, created_at, last_activated)
    SELECT ${NS.tenantId}, '', ${NS.scope}, gen_random_uuid(), 'related_to', x.node_id, x.next_id, 0.5, 0.5, 0.01, ${commitId}::uuid, now(), now()
    FROM (SELECT node_id, lead(node_id) OVER (ORDER BY node_id) AS next_id, row_number() OVER (ORDER BY node_id) AS r
          FROM memory_nodes WHERE tenant_id = ${NS.tenantId} AND project_key = '' AND scope = ${NS.scope}) x
    WHERE x.r % 10 = 0 AND x.next_id IS NOT NULL
    ON CONFLICT DO NOTHING`.execute(database.db);
  await sql`ANALYZE memory_edges`.execute(database.db);
}

/** The path's ranking statement alone, raw: what RecallService.nearest cannot do without. */
async function rawRanking(database: Database, path: 'pgvector' | 'scan', q: readonly number[], k: number): Promise<number> {
  if (path === 'pgvector') {
    const v = sql`${vectorLiteral(q)}::real[]::vector`;
    const r = await sql`
      SELECT node_id::text AS id, embedding_vec <=> ${v} AS distance FROM memory_nodes
      WHERE tenant_id = ${NS.tenantId} AND project_key = '' AND scope = ${NS.scope} AND embedding_status = 'ready' AND embedding_vec IS NOT NULL
      ORDER BY embedding_vec <=> ${v}, node_id LIMIT ${k}`.execute(database.db);
    return r.rows.length;
  }
  const r = await sql`
    SELECT node_id::text AS id, array_send(embedding) AS v FROM memory_nodes
    WHERE tenant_id = ${NS.tenantId} AND project_key = '' AND scope = ${NS.scope} AND embedding_status = 'ready' AND embedding IS NOT NULL`.execute(database.db);
  return r.rows.length;
}

async function measure(database: Database, recall: RecallService, path: 'pgvector' | 'scan', samples: number, dim: number): Promise<{ recall: number[]; raw: number[] }> {
  const out = { recall: [] as number[], raw: [] as number[] };
  const resolved = recall.prepare(REQUEST, false);
  const k = seedCandidateCount(resolved.knobs.limit);
  // One warm-up of each, except where a single call takes minutes (the exact scan at 100k: the smaller sizes warmed the process up).
  if (samples >= 3) {
    await recall.recall(NS, READER, REQUEST, queryVector(0, dim), resolved, 0);
    await rawRanking(database, path, queryVector(0, dim), k);
  }
  for (let i = 1; i <= samples; i++) {
    const q = queryVector(i, dim);
    let t0 = performance.now();
    const r = await recall.recall(NS, READER, REQUEST, q, resolved, 0);
    out.recall.push(performance.now() - t0);
    if (r.seeds.length !== 10) throw new Error(`recall returned ${r.seeds.length} seeds, expected 10`);
    t0 = performance.now();
    const rows = await rawRanking(database, path, q, k);
    out.raw.push(performance.now() - t0);
    if (rows === 0) throw new Error('the raw ranking statement returned no rows');
  }
  return out;
}

/**
 * Samples per size and path. The exact scan moves every vector of the scope into this process
 * (100k x 1536 floats as text is ~1.5 GB): it gets fewer samples at the larger sizes.
 */
function samplesFor(n: number, path: 'pgvector' | 'scan', quick: boolean): number {
  if (quick) return path === 'scan' ? 5 : 20;
  if (path === 'pgvector') return n <= 1000 ? 200 : n <= 10_000 ? 50 : 10;
  return n <= 1000 ? 20 : n <= 10_000 ? 5 : 1;
}

/** The sizes: 1k/10k/100k (quick: 1k); BENCH_RECALL_NODES=1000,10000 overrides them (profiling). */
function sizesFor(quick: boolean): number[] {
  const override = (process.env.BENCH_RECALL_NODES ?? '')
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((x) => Number.isInteger(x) && x >= 100);
  if (override.length > 0) return override.sort((a, b) => a - b);
  return quick ? [1000] : [1000, 10_000, 100_000];
}

/** RecallService as DataPlaneModule wires it (MemoryRepository, VectorSupport after its onModuleInit, the config). */
async function recallOn(database: Database, config: AppConfig, ctx: BenchContext) {
  const vectors = new VectorSupport(new MemorySettingsRepository(database), database, config);
  await vectors.onModuleInit();
  ctx.onCleanup(() => vectors.onApplicationShutdown());
  return { vectors, recall: new RecallService(new MemoryRepository(database), vectors, config) };
}

interface PathSetup {
  readonly path: 'pgvector' | 'scan';
  readonly database: Database;
  readonly recall: RecallService;
  readonly where: string;
}

/** Grow the scope to each size on each path, then measure recall and the raw ranking statement there. */
async function measureSizes(ctx: BenchContext, sizes: readonly number[], paths: readonly PathSetup[], dim: number): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const n of sizes) {
    for (const { path, database, recall, where } of paths) {
      const samples = samplesFor(n, path, ctx.quick);
      ctx.log(`  ${path} on ${where}: growing the scope to ${n.toLocaleString('en-US')} nodes of ${dim} dimensions, then ${samples} recalls`);
      const t0 = performance.now();
      await growScope(database, n, dim, ctx.log);
      const loadS = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      const m = await measure(database, recall, path, samples, dim);
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
              label: path === 'pgvector' ? `the raw pgvector ranking statement alone (ORDER BY <=> LIMIT 50), ${p}` : `the raw candidate SELECT alone (the scope's vectors to this process in binary, one statement), ${p}`,
              value: raw[p],
              unit: 'ms',
            },
            extra: { samples: r.count, max_ms: round(r.max, 2), baseline_max_ms: round(raw.max, 2), load_s: round(loadS, 1), measure_s: round((performance.now() - t1) / 1000, 1) },
          }),
        );
      }
    }
  }
  return figures;
}

export const recallScenario: Scenario = {
  name: 'recall',
  title: 'Recall latency at 1k / 10k / 100k nodes in one scope: pgvector (PGlite) and exact scan (PostgreSQL)',
  async run(ctx: BenchContext): Promise<ScenarioOutput> {
    const sizes = sizesFor(ctx.quick);
    const notes: string[] = [];
    const config = loadConfig({ KEY_PEPPER: 'bench-pepper-0123456789abcdef0123456789abcdef', DATA_DIR: ctx.tmpDir, LOG_LEVEL: 'error' });
    const dim = config.embeddings.dimension;

    const pgDb = await freshDb(ctx, 'recall', 4);
    const onPg = await recallOn(pgDb.database, config, ctx);
    if (onPg.vectors.enabled) notes.push('This PostgreSQL server has pgvector: the PostgreSQL figures are its pgvector path, not the exact scan.');
    ctx.log('  opening a PGlite (pgvector) in the scratch directory');
    const liteDir = join(ctx.tmpDir, 'recall-pglite');
    const pglite = await PGliteDatabase.open({ dataDir: liteDir });
    // Closed (and its 1-3 GB of files removed) when this scenario ends, so that it weighs on no later scenario.
    let closing: Promise<void> | undefined;
    const closeLite = (): Promise<void> => (closing ??= pglite.close().then(() => rmSync(liteDir, { recursive: true, force: true })));
    ctx.onCleanup(closeLite);
    let figures: Figure[];
    try {
      await migrateToLatest(pglite.db);
      const onLite = await recallOn(pglite, config, ctx);
      if (!onLite.vectors.enabled) throw new Error('pgvector did not load on PGlite');
      figures = await measureSizes(
        ctx,
        sizes,
        [
          { path: 'pgvector', database: pglite, recall: onLite.recall, where: 'PGlite (in process)' },
          { path: 'scan', database: pgDb.database, recall: onPg.recall, where: `PostgreSQL (${ctx.machine.postgres.replace(/^PostgreSQL /, '')})` },
        ],
        dim,
      );
    } finally {
      await onPg.vectors.onApplicationShutdown();
      await closeLite();
    }
    notes.push('pgvector runs only on the embedded PGlite here (Debian 12 ships no pgvector for PostgreSQL 15), so the two paths also differ in engine: PGlite is single-session WASM in this process, PostgreSQL a real server.');
    notes.push(
      `Both paths rank exactly (no approximate index), so they return the same top results (test/e2e/vector-paths.e2e-spec.ts). Vectors are random, ${dim} dimensions (EMBEDDING_DIM); the query is a fresh random vector each time; limit 10 (50 nearest candidates), 1 hop, a tenant-wide reader, shared nodes.`,
    );
    const samples = Object.fromEntries(sizes.map((n) => [`samples_${n}`, `pgvector ${samplesFor(n, 'pgvector', ctx.quick)}, scan ${samplesFor(n, 'scan', ctx.quick)}`]));
    return { scale: { nodes: sizes.join(', '), dimensions: dim, ...samples }, figures, notes };
  },
};
