import request from 'supertest';
import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import { MemoryService } from '../../src/data-plane/memory.service';
import { EMBEDDING_DIMENSIONS } from '../../src/data-plane/memory.schemas';
import { VectorSupport } from '../../src/data-plane/vector-support';
import { startTestService, type TestService } from '../support/service';
import { usingPostgres } from '../support/test-db';

/**
 * The two recall paths: pgvector (present on the embedded PGlite) and the exact in-process scan
 * (PostgreSQL 15 here has no vector extension). On PGlite both run on the same data and must give
 * the same top results; .ci/run runs this file on PGlite as well as on PostgreSQL.
 */
const json = { 'Content-Type': 'application/json' };
const WORDS = ['tea', 'coffee', 'kettle', 'bicycle', 'garden', 'invoice', 'meeting', 'python', 'database', 'holiday', 'rain', 'music'];

describe(`recall vector paths (${usingPostgres() ? 'PostgreSQL: exact scan only' : 'PGlite: pgvector and exact scan'})`, () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  let key = '';
  const local = new LocalEmbeddingProvider(EMBEDDING_DIMENSIONS);

  beforeAll(async () => {
    t = await startTestService();
    api = request(t.url);
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'vec-co', tier: 'enterprise' }).expect(201);
    key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'vec-co' }).expect(201)).body.api_key as string;
    // 72 nodes of two or three words each, with client-side embeddings (ready at once).
    const nodes = Array.from({ length: 72 }, (_, i) => {
      const text = `${WORDS[i % 12]} ${WORDS[(i * 5 + 3) % 12]} ${i % 3 === 0 ? WORDS[(i * 7 + 1) % 12] : ''}`.trim();
      return { client_id: `v${i}`, type: 'concept', title: text, embedding: local.embedOne(text) };
    });
    await api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 'vec', input_text: 'vectors', nodes }).expect(200);
  });
  afterAll(async () => {
    await t.stop();
  });

  it('uses pgvector exactly where the extension exists', () => {
    expect(t.service.app.get(VectorSupport).enabled).toBe(!usingPostgres());
  });

  it('returns the same top results on both paths for the same data', async () => {
    const memory = t.service.app.get(MemoryService);
    const ns = { tenantId: 'vec-co', projectKey: '', scope: 'vec' };
    for (const query of ['tea kettle', 'python database meeting', 'rain in the garden', 'holiday music', 'invoice']) {
      const q = local.embedOne(query);
      const scan = await memory.rank(ns, q, 10, 0, 'scan');
      expect(scan).toHaveLength(10);
      if (!t.service.app.get(VectorSupport).enabled) continue;
      const pg = await memory.rank(ns, q, 10, 0, 'pgvector');
      expect(pg.map((r) => r.id)).toEqual(scan.map((r) => r.id));
      for (let i = 0; i < pg.length; i++) expect(pg[i]!.similarity).toBeCloseTo(scan[i]!.similarity, 4);
    }
  });

  it('serves recall through the API on whichever path is active', async () => {
    const r = await api.post('/v1/memory/recall').set({ 'x-api-key': key, ...json }).send({ scope: 'vec', query_embedding: local.embedOne('tea kettle'), limit: 3 });
    expect(r.status).toBe(200);
    expect(r.body.seeds).toHaveLength(3);
    expect(r.body.seeds[0].title).toMatch(/tea|kettle/);
  });
});
