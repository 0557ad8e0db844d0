import { sql } from 'kysely';
import request from 'supertest';
import { cosine, type EmbeddingProvider, EmbeddingError } from '../../src/data-plane/embeddings/embedding-provider';
import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import { startTestService, type TestService } from '../support/service';

const json = { 'Content-Type': 'application/json' };
/** EMBEDDING_DIM's default: the test services run with it. */
const DIM = 1536;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(t: TestService, tenants: string[]): Promise<Record<string, string>> {
  const api = request(t.url);
  const keys: Record<string, string> = {};
  for (const id of tenants) {
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id }).expect(201);
    keys[id] = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: id }).expect(201)).body.api_key as string;
  }
  return keys;
}

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('derived embeddings and recall (real server, local provider)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  let keys: Record<string, string>;

  beforeAll(async () => {
    t = await startTestService({ env: { OUTBOX_POLL_INTERVAL_MS: '100' } });
    api = request(t.url);
    keys = await setup(t, ['rec-a', 'rec-b']);
  });
  afterAll(async () => {
    await t.stop();
  });

  const as = (tenant: string) => ({ 'x-api-key': keys[tenant]!, ...json });

  it('embeds written nodes asynchronously from the text §1.8 names for their type, and recalls by text with neighbourhood and context', async () => {
    const w = await api
      .post('/v1/memory/write')
      .set(as('rec-a'))
      .send({
        scope: 'kitchen',
        input_text: 'kitchen notes from the morning',
        memory_lane: 'shared',
        nodes: [
          { client_id: 'tea', type: 'concept', title: 'Green tea', text_summary: 'Alice drinks green tea every morning' },
          { client_id: 'kettle', type: 'entity', title: 'Kettle', text_summary: 'An electric kettle boils water' },
          { client_id: 'bike', type: 'entity', title: 'Bicycle', text_summary: 'Bob rides a red bicycle to work' },
          { client_id: 'boiled', type: 'event', title: 'Boiling', text_summary: 'The kettle boiled at seven' },
          { client_id: 'bare', type: 'event' },
        ],
        edges: [{ type: 'related_to', src: { client_id: 'tea' }, dst: { client_id: 'kettle' }, weight: 0.9 }],
      });
    expect(w.status).toBe(200);
    expect(w.body.embedding_backfill).toEqual({ enqueued: true, pending_nodes: 5 });
    // The write answered before any embedding existed; the worker makes them ready.
    const statuses = async () => {
      const f = await api.post('/v1/memory/find').set(as('rec-a')).send({ scope: 'kitchen', include_meta: true });
      return f.body.nodes as { client_id: string; embedding_status: string; embedding_model: string | null }[];
    };
    await waitFor('embeddings ready', async () => {
      const nodes = await statuses();
      return nodes.length === 5 && nodes.every((n) => n.embedding_status === 'ready');
    });
    expect((await statuses()).map((n) => n.embedding_model)).toEqual(Array(5).fill('local:hashed-ngrams-v1'));

    // Each vector is the provider's vector of the text its type names: concept and entity their
    // title, an event its summary, an event with neither title nor summary the write's input text.
    const local = new LocalEmbeddingProvider(DIM);
    const stored = await sql<{ client_id: string; embedding: number[] }>`
      SELECT client_id, embedding FROM memory_nodes WHERE tenant_id = 'rec-a' AND scope = 'kitchen'`.execute(t.tdb.database.db);
    const vectorOf = Object.fromEntries(stored.rows.map((r) => [r.client_id, r.embedding.map(Number)]));
    const expected: Record<string, string> = { tea: 'Green tea', kettle: 'Kettle', bike: 'Bicycle', boiled: 'The kettle boiled at seven', bare: 'kitchen notes from the morning' };
    for (const [client, source] of Object.entries(expected)) {
      const want = local.embedOne(source);
      expect(vectorOf[client]).toHaveLength(DIM);
      vectorOf[client]!.forEach((x, i) => expect(Math.abs(x - want[i]!)).toBeLessThan(1e-6));
    }
    // (Not the title and summary together, as the previous release did.)
    expect(cosine(vectorOf.tea!, local.embedOne('Green tea\nAlice drinks green tea every morning'))).toBeLessThan(0.99);

    const r = await api.post('/v1/memory/recall_text').set(as('rec-a')).send({ scope: 'kitchen', query_text: 'green tea', limit: 2 });
    expect(r.status).toBe(200);
    expect(r.body.seeds[0]).toMatchObject({ id: w.body.nodes[0].id, title: 'Green tea' });
    expect(r.body.seeds[0].similarity).toBeGreaterThan(r.body.seeds[1].similarity);
    expect(r.body.subgraph.nodes.map((n: { id: string }) => n.id)).toEqual(expect.arrayContaining([w.body.nodes[0].id, w.body.nodes[1].id]));
    expect(r.body.subgraph.edges).toEqual(expect.arrayContaining([{ from_id: w.body.nodes[0].id, to_id: w.body.nodes[1].id, type: 'related_to', weight: 0.9 }]));
    expect(r.body.context.text).toContain('Green tea');
    expect(r.body.query).toEqual({ text: 'green tea', embedding_provider: 'local:hashed-ngrams-v1' });

    const outbox = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM memory_outbox GROUP BY status`.execute(t.tdb.database.db);
    expect(outbox.rows).toEqual([{ status: 'done', n: 1 }]);
  });

  it('recalls by a client embedding (ready at once), and never across tenants', async () => {
    const local = new LocalEmbeddingProvider(DIM);
    const v = local.embedOne('secret recipe of tenant b');
    const w = await api
      .post('/v1/memory/write')
      .set(as('rec-b'))
      .send({ scope: 'kitchen', input_text: 'b', memory_lane: 'shared', nodes: [{ client_id: 'recipe', type: 'evidence', title: 'CANARY-B recipe', text_summary: 'CANARY-B secret', embedding: v }] });
    expect(w.status).toBe(200);
    expect(w.body.embedding_backfill).toBeUndefined();
    const own = await api.post('/v1/memory/recall').set(as('rec-b')).send({ scope: 'kitchen', query_embedding: v });
    expect(own.body.seeds).toHaveLength(0); // evidence is not a seed type (contract §3.3)
    const concept = await api
      .post('/v1/memory/write')
      .set(as('rec-b'))
      .send({ scope: 'kitchen', input_text: 'b2', memory_lane: 'shared', nodes: [{ client_id: 'recipe-c', type: 'concept', title: 'CANARY-B concept', embedding: v }] });
    expect(concept.status).toBe(200);
    const own2 = await api.post('/v1/memory/recall').set(as('rec-b')).send({ scope: 'kitchen', query_embedding: v });
    expect(own2.body.seeds[0]).toMatchObject({ id: concept.body.nodes[0].id, title: 'CANARY-B concept', similarity: expect.closeTo(1, 5) });
    const other = await api.post('/v1/memory/recall').set(as('rec-a')).send({ scope: 'kitchen', query_embedding: v, limit: 50 });
    expect(other.status).toBe(200);
    expect(other.body.seeds.length).toBeGreaterThan(0); // tenant A's own nodes: the recall does return data
    expect(JSON.stringify(other.body)).not.toContain('CANARY-B');
    const otherText = await api.post('/v1/memory/recall_text').set(as('rec-a')).send({ scope: 'kitchen', query_text: 'CANARY-B concept', limit: 50 });
    expect(otherText.body.seeds.length).toBeGreaterThan(0);
    const { seeds, subgraph, context, ranked } = otherText.body as Record<string, unknown>;
    expect(JSON.stringify({ seeds, subgraph, context, ranked })).not.toContain('CANARY-B'); // (the query echo is the caller's own text)
    const wrongDim = await api.post('/v1/memory/recall').set(as('rec-a')).send({ scope: 'kitchen', query_embedding: [1, 2, 3] });
    expect(wrongDim.status).toBe(400);
    expect(wrongDim.body).toMatchObject({ error: 'invalid_request', issues: [expect.objectContaining({ path: 'query_embedding' })] });
  });
});

describe('outbox failures (real server, a provider that fails)', () => {
  it('retries, dead-letters a poison job with its nodes marked failed, and never blocks the others', async () => {
    const local = new LocalEmbeddingProvider(DIM);
    let calls = 0;
    const flaky: EmbeddingProvider = {
      model: 'test:flaky',
      dimensions: DIM,
      embed: async (texts) => {
        calls += 1;
        if (texts.some((x) => x.includes('POISON'))) throw new EmbeddingError('provider refuses this text', true);
        return local.embed(texts);
      },
    };
    const t = await startTestService({ env: { OUTBOX_POLL_INTERVAL_MS: '50', OUTBOX_MAX_ATTEMPTS: '2' }, embeddingProvider: flaky });
    try {
      const api = request(t.url);
      const keys = await setup(t, ['flaky-co']);
      const as = { 'x-api-key': keys['flaky-co']!, ...json };
      await api.post('/v1/memory/write').set(as).send({ scope: 's', input_text: 'p', memory_lane: 'shared', nodes: [{ client_id: 'bad', type: 'event', title: 'POISON pill' }] }).expect(200);
      for (let i = 0; i < 3; i++) await api.post('/v1/memory/write').set(as).send({ scope: 's', input_text: `ok ${i}`, memory_lane: 'shared', nodes: [{ client_id: `good${i}`, type: 'event', title: `fine ${i}` }] }).expect(200);
      const status = async () => {
        const r = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM memory_outbox GROUP BY status ORDER BY status`.execute(t.tdb.database.db);
        return Object.fromEntries(r.rows.map((x) => [x.status, x.n]));
      };
      // Backoff after the first failure is up to 1 s.
      await waitFor('poison dead-lettered and the rest done', async () => {
        const s = await status();
        return s.dead_letter === 1 && s.done === 3;
      }, 20_000);
      const job = await sql<{ attempts: number; last_error: string }>`SELECT attempts, last_error FROM memory_outbox WHERE status = 'dead_letter'`.execute(t.tdb.database.db);
      expect(job.rows[0]).toEqual({ attempts: 2, last_error: 'provider refuses this text' });
      const nodes = await api.post('/v1/memory/find').set(as).send({ scope: 's', include_meta: true });
      expect(nodes.body.nodes).toHaveLength(4);
      const byClient = Object.fromEntries(nodes.body.nodes.map((n: { client_id: string; embedding_status: string }) => [n.client_id, n.embedding_status]));
      expect(byClient).toEqual({ bad: 'failed', good0: 'ready', good1: 'ready', good2: 'ready' });
      expect(calls).toBeGreaterThanOrEqual(5);
    } finally {
      await t.stop();
    }
  }, 60_000);
});
