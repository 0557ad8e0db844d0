import { sql } from 'kysely';
import request from 'supertest';
import { type EmbeddingProvider, EmbeddingError } from '../../src/data-plane/embeddings/embedding-provider';
import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import { EMBEDDING_DIMENSIONS } from '../../src/data-plane/memory.schemas';
import { startTestService, type TestService } from '../support/service';

const json = { 'Content-Type': 'application/json' };
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

  it('embeds written nodes asynchronously and recalls by text with neighbourhood and context', async () => {
    const w = await api
      .post('/v1/memory/write')
      .set(as('rec-a'))
      .send({
        scope: 'kitchen',
        input_text: 'notes',
        nodes: [
          { client_id: 'tea', type: 'concept', title: 'Green tea', text_summary: 'Alice drinks green tea every morning' },
          { client_id: 'kettle', type: 'entity', title: 'Kettle', text_summary: 'An electric kettle boils water' },
          { client_id: 'bike', type: 'entity', title: 'Bicycle', text_summary: 'Bob rides a red bicycle to work' },
        ],
        edges: [{ type: 'related_to', src: { client_id: 'tea' }, dst: { client_id: 'kettle' }, weight: 0.9 }],
      });
    expect(w.status).toBe(200);
    expect(w.body.embeddings_queued).toBe(3);
    // The write answered before any embedding existed; the worker makes them ready.
    await waitFor('embeddings ready', async () => {
      const f = await api.post('/v1/memory/find').set(as('rec-a')).send({ scope: 'kitchen' });
      return f.body.nodes.length === 3 && f.body.nodes.every((n: { embedding_status: string }) => n.embedding_status === 'ready');
    });
    const found = await api.post('/v1/memory/find').set(as('rec-a')).send({ scope: 'kitchen', client_ids: ['tea'] });
    expect(found.body.nodes[0].embedding_model).toBe('local:hashed-ngrams-v1');

    const r = await api.post('/v1/memory/recall_text').set(as('rec-a')).send({ scope: 'kitchen', query_text: 'what tea does alice drink', limit: 2 });
    expect(r.status).toBe(200);
    expect(r.body.seeds[0]).toMatchObject({ client_id: 'tea', title: 'Green tea' });
    expect(r.body.seeds[0].similarity).toBeGreaterThan(r.body.seeds[1].similarity);
    expect(r.body.subgraph.nodes.map((n: { client_id: string }) => n.client_id)).toEqual(expect.arrayContaining(['tea', 'kettle']));
    expect(r.body.subgraph.edges).toHaveLength(1);
    expect(r.body.context.text).toContain('Green tea');
    expect(r.body.query.embedding_provider).toBe('local:hashed-ngrams-v1');

    const outbox = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM memory_outbox GROUP BY status`.execute(t.tdb.database.db);
    expect(outbox.rows).toEqual([{ status: 'done', n: 1 }]);
  });

  it('recalls by a client embedding, and never across tenants', async () => {
    const local = new LocalEmbeddingProvider(EMBEDDING_DIMENSIONS);
    const v = local.embedOne('secret recipe of tenant b');
    await api
      .post('/v1/memory/write')
      .set(as('rec-b'))
      .send({ scope: 'kitchen', input_text: 'b', nodes: [{ client_id: 'recipe', type: 'evidence', title: 'CANARY-B recipe', embedding: v }] })
      .expect(200);
    const own = await api.post('/v1/memory/recall').set(as('rec-b')).send({ scope: 'kitchen', query_embedding: v });
    expect(own.body.seeds[0]).toMatchObject({ client_id: 'recipe', similarity: 1 });
    const other = await api.post('/v1/memory/recall').set(as('rec-a')).send({ scope: 'kitchen', query_embedding: v });
    expect(other.status).toBe(200);
    expect(JSON.stringify(other.body)).not.toContain('CANARY-B');
    const otherText = await api.post('/v1/memory/recall_text').set(as('rec-a')).send({ scope: 'kitchen', query_text: 'CANARY-B recipe' });
    const { seeds, subgraph, context } = otherText.body as Record<string, unknown>;
    expect(JSON.stringify({ seeds, subgraph, context })).not.toContain('CANARY-B'); // (the query echo is the caller's own text)
    expect((await api.post('/v1/memory/recall').set(as('rec-a')).send({ scope: 'kitchen', query_embedding: [1, 2, 3] })).status).toBe(400);
  });
});

describe('outbox failures (real server, a provider that fails)', () => {
  it('retries, dead-letters a poison job with its nodes marked failed, and never blocks the others', async () => {
    const local = new LocalEmbeddingProvider(EMBEDDING_DIMENSIONS);
    let calls = 0;
    const flaky: EmbeddingProvider = {
      model: 'test:flaky',
      dimensions: EMBEDDING_DIMENSIONS,
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
      await api.post('/v1/memory/write').set(as).send({ scope: 's', input_text: 'p', nodes: [{ client_id: 'bad', type: 'event', title: 'POISON pill' }] }).expect(200);
      for (let i = 0; i < 3; i++) await api.post('/v1/memory/write').set(as).send({ scope: 's', input_text: `ok ${i}`, nodes: [{ client_id: `good${i}`, type: 'event', title: `fine ${i}` }] }).expect(200);
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
      const nodes = await api.post('/v1/memory/find').set(as).send({ scope: 's' });
      const byClient = Object.fromEntries(nodes.body.nodes.map((n: { client_id: string; embedding_status: string }) => [n.client_id, n.embedding_status]));
      expect(byClient).toEqual({ bad: 'failed', good0: 'ready', good1: 'ready', good2: 'ready' });
      expect(calls).toBeGreaterThanOrEqual(5);
    } finally {
      await t.stop();
    }
  }, 60_000);
});
