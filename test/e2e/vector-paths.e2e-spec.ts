import request from 'supertest';
import { FakeEmbeddingProvider } from '../../src/data-plane/embeddings/fake-provider';
import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import type { Namespace } from '../../src/data-plane/memory/domain/ids';
import { MemoryRepository } from '../../src/data-plane/memory/memory.repository';
import { RecallService } from '../../src/data-plane/memory/recall.service';
import { VectorSupport } from '../../src/data-plane/vector-support';
import { startTestService, type TestService } from '../support/service';
import { usingPostgres } from '../support/test-db';

/**
 * The two recall paths: pgvector (present on the embedded PGlite) and the exact in-process scan
 * (PostgreSQL 15 here has no vector extension). On PGlite both run on the same data and must give
 * the same seeds, with the same lane visibility; .ci/run runs this file on PGlite as well as on
 * PostgreSQL.
 *
 * The vectors are lexical (the local provider) plus a small deterministic perturbation per node:
 * the lexical embedder gives different texts similarities that are equal up to rounding ("python
 * kettle" and "kettle coffee" against "tea kettle"), and pgvector (single precision) and the scan
 * (double precision) order such near-ties by their rounding noise. Exact ties (the same vector
 * twice) are in the data on purpose: both paths break them by node id.
 */
const json = { 'Content-Type': 'application/json' };
const WORDS = ['tea', 'coffee', 'kettle', 'bicycle', 'garden', 'invoice', 'meeting', 'python', 'database', 'holiday', 'rain', 'music'];
const QUERIES = ['tea kettle', 'python database meeting', 'rain in the garden', 'holiday music', 'invoice'];
const nobody = { agentId: null, teamId: null };
const agentX = { agentId: 'agent-x', teamId: null };

describe(`recall vector paths (${usingPostgres() ? 'PostgreSQL: exact scan only' : 'PGlite: pgvector and exact scan'})`, () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  let key = '';
  let local: LocalEmbeddingProvider;
  /** The lexical vector of `text`, perturbed by a tiny pseudo-random vector seeded by `salt`. */
  let vectorOf: (text: string, salt: string) => number[];
  const ns: Namespace = { tenantId: 'vec-co', projectKey: '', scope: 'vec' };
  const pgvector = () => t.service.app.get(VectorSupport).enabled;

  beforeAll(async () => {
    t = await startTestService();
    local = new LocalEmbeddingProvider(t.config.embeddings.dimension);
    const noise = new FakeEmbeddingProvider(t.config.embeddings.dimension);
    vectorOf = (text, salt) => {
      const n = noise.embedOne(salt);
      return local.embedOne(text).map((x, j) => x + 0.002 * n[j]!);
    };
    api = request(t.url);
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'vec-co', tier: 'enterprise' }).expect(201);
    key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'vec-co' }).expect(201)).body.api_key as string;
    // 72 shared nodes of two or three words each, with client-side embeddings (ready at once).
    const nodes = Array.from({ length: 72 }, (_, i) => {
      const text = `${WORDS[i % 12]} ${WORDS[(i * 5 + 3) % 12]} ${i % 3 === 0 ? WORDS[(i * 7 + 1) % 12] : ''}`.trim();
      return { client_id: `v${i}`, type: 'concept', title: text, embedding: vectorOf(text, `v${i}`) };
    });
    // Exact ties: three nodes with the very same vector, near every query about tea.
    const twins = ['t0', 't1', 't2'].map((c) => ({ client_id: c, type: 'concept', title: 'tea twin', embedding: vectorOf('tea twin', 'twin') }));
    // 6 private nodes of agent-x, each the exact text of a query (the best match for it when visible).
    const privateNodes = QUERIES.map((q, i) => ({ client_id: `x${i}`, type: 'concept', title: `private ${q}`, embedding: local.embedOne(q), memory_lane: 'private', owner_agent_id: 'agent-x' }));
    await api
      .post('/v1/memory/write')
      .set({ 'x-api-key': key, ...json })
      .send({ scope: 'vec', input_text: 'vectors', memory_lane: 'shared', nodes: [...nodes, ...twins, ...privateNodes] })
      .expect(200);
  });
  afterAll(async () => {
    await t.stop();
  });

  it('the exact scan reads the scope a page at a time: every visible ready vector once, whole, in node id order', async () => {
    const repo = t.service.app.get(MemoryRepository);
    const scan = async (consumer: { agentId: string | null; teamId: string | null }) => {
      const pages: number[] = [];
      const ids: string[] = [];
      await repo.scanReadyVectors(ns, consumer, 7, (rows) => {
        pages.push(rows.length);
        ids.push(...rows.map((r) => r.id));
        for (const r of rows) expect(r.embedding).toHaveLength(t.config.embeddings.dimension);
      });
      return { pages, ids };
    };
    const shared = await scan(nobody);
    expect(shared.ids).toHaveLength(75); // 72 nodes and 3 twins; agent-x's private nodes are not visible
    expect(shared.ids).toEqual([...shared.ids].sort());
    expect(shared.pages).toEqual([...Array.from({ length: 10 }, () => 7), 5]);
    const mine = await scan(agentX);
    expect(mine.ids).toHaveLength(75 + QUERIES.length);
    expect(new Set(mine.ids).size).toBe(mine.ids.length);
  });

  it('uses pgvector exactly where the extension exists', () => {
    expect(pgvector()).toBe(!usingPostgres());
  });

  it('returns the same seeds, in the same order with the same similarities, on both paths', async () => {
    const recall = t.service.app.get(RecallService);
    for (const query of QUERIES) {
      const q = local.embedOne(query);
      const scan = await recall.nearest(ns, q, 10, nobody, 'scan');
      expect(scan).toHaveLength(10);
      // Ranked by similarity, highest first.
      for (let i = 1; i < scan.length; i++) expect(scan[i - 1]!.similarity).toBeGreaterThanOrEqual(scan[i]!.similarity);
      expect(scan[0]!.node.title).toEqual(expect.stringMatching(new RegExp(query.split(' ').filter((w) => WORDS.includes(w)).join('|'))));
      // Equal similarities are ordered by node id.
      for (let i = 1; i < scan.length; i++) if (scan[i - 1]!.similarity === scan[i]!.similarity) expect(scan[i - 1]!.node.id < scan[i]!.node.id).toBe(true);
      if (!pgvector()) continue;
      const pg = await recall.nearest(ns, q, 10, nobody, 'pgvector');
      expect(pg.map((r) => r.node.id)).toEqual(scan.map((r) => r.node.id));
      for (let i = 0; i < pg.length; i++) expect(pg[i]!.similarity).toBeCloseTo(scan[i]!.similarity, 4);
      // The whole node, not only its id, is the same on both paths.
      expect(pg.map((r) => r.node)).toEqual(scan.map((r) => r.node));
    }
  });

  it('breaks exact ties by node id on both paths (three nodes with the same vector)', async () => {
    const recall = t.service.app.get(RecallService);
    const q = vectorOf('tea twin', 'twin');
    const scan = await recall.nearest(ns, q, 5, nobody, 'scan');
    const twinIds = scan.slice(0, 3).map((r) => r.node.id);
    expect(scan.slice(0, 3).map((r) => r.node.title)).toEqual(['tea twin', 'tea twin', 'tea twin']);
    expect(new Set(scan.slice(0, 3).map((r) => r.similarity)).size).toBe(1);
    expect(twinIds).toEqual([...twinIds].sort());
    if (!pgvector()) return;
    const pg = await recall.nearest(ns, q, 5, nobody, 'pgvector');
    expect(pg.map((r) => r.node.id)).toEqual(scan.map((r) => r.node.id));
  });

  it('applies lane visibility identically on both paths: private nodes only for their owner', async () => {
    const recall = t.service.app.get(RecallService);
    const paths = pgvector() ? (['scan', 'pgvector'] as const) : (['scan'] as const);
    for (const [i, query] of QUERIES.entries()) {
      const q = local.embedOne(query);
      for (const path of paths) {
        const owner = await recall.nearest(ns, q, 10, agentX, path);
        expect(owner[0]).toMatchObject({ node: { client_id: `x${i}`, memory_lane: 'private' }, similarity: expect.closeTo(1, 5) });
        const other = await recall.nearest(ns, q, 10, nobody, path);
        expect(other.map((r) => r.node.client_id)).not.toContain(`x${i}`);
        expect(other.every((r) => r.node.memory_lane === 'shared')).toBe(true);
      }
      if (pgvector()) {
        const [scan, pg] = await Promise.all([recall.nearest(ns, q, 10, agentX, 'scan'), recall.nearest(ns, q, 10, agentX, 'pgvector')]);
        expect(pg.map((r) => r.node.id)).toEqual(scan.map((r) => r.node.id));
      }
    }
  });

  it('serves recall through the API on whichever path is active, with the seeds the scan ranks first', async () => {
    const q = local.embedOne('tea kettle');
    const r = await api.post('/v1/memory/recall').set({ 'x-api-key': key, ...json }).send({ scope: 'vec', query_embedding: q, limit: 3 });
    expect(r.status).toBe(200);
    expect(r.body.seeds).toHaveLength(3);
    const scan = await t.service.app.get(RecallService).nearest(ns, q, 3, nobody, 'scan');
    expect(r.body.seeds.map((s: { id: string }) => s.id)).toEqual(scan.map((s) => s.node.id));
    expect(r.body.seeds[0].title).toMatch(/tea|kettle/);
  });
});
