import { sql } from 'kysely';
import request from 'supertest';
import { reembed, ServiceRunningError } from '../../src/data-plane/memory/reembed';
import { EmbeddingDimensionMismatchError } from '../../src/data-plane/vector-support';
import { PostgresEventStore } from '../../src/platform/event-store/postgres-event-store';
import { runCli } from '../support/cli';
import { startTestService, type TestService } from '../support/service';
import { createTestDatabase, type TestDatabase } from '../support/test-db';
import { pgOnly } from '../support/skips';

const json = { 'Content-Type': 'application/json' };
const actor = { type: 'operator' as const, id: 'test', display: 'test' };

/**
 * EMBEDDING_DIM is a deployment setting: a database holding vectors of one dimension refuses to
 * start with another until it is re-embedded (runbooks/embedding-dimension.md), and re-embedding
 * derives every vector again at the new dimension.
 */
describe('the embedding dimension: boot guard and re-embedding', () => {
  let tdb: TestDatabase;
  let t: TestService | undefined;
  let key = '';
  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(async () => {
    await t?.stop();
    await tdb.dispose();
  });

  const start = async (dim: number) => {
    t = await startTestService({ tdb, env: { EMBEDDING_DIM: String(dim), EMBEDDING_PROVIDER: 'local', OUTBOX_POLL_INTERVAL_MS: '50' } });
    return request(t.url);
  };
  const stop = async () => {
    await t?.stop();
    t = undefined;
  };
  const vectorDims = async () =>
    (await sql<{ d: number | null; status: string; n: number }>`
      SELECT array_length(embedding, 1) AS d, embedding_status AS status, count(*)::int AS n FROM memory_nodes GROUP BY 1, 2 ORDER BY 1, 2`.execute(tdb.database.db)).rows;
  const waitReady = async (api: ReturnType<typeof request>, n: number) => {
    for (let i = 0; i < 200; i++) {
      const r = await api.post('/v1/memory/find').set({ 'x-api-key': key, ...json }).send({ scope: 'dims', include_meta: true, limit: 50 });
      if ((r.body.nodes as { embedding_status: string }[]).filter((x) => x.embedding_status === 'ready').length >= n) return;
      await new Promise((r2) => setTimeout(r2, 50));
    }
    throw new Error('nodes never became ready');
  };

  it('given a database of 8-d vectors, when the service starts with EMBEDDING_DIM=16, then it refuses with a clear message', async () => {
    const api = await start(8);
    await api.post('/v1/admin/control/tenants').set(t!.auth).set(json).send({ tenant_id: 'dims' }).expect(201);
    key = (await api.post('/v1/admin/control/api-keys').set(t!.auth).set(json).send({ tenant_id: 'dims' }).expect(201)).body.api_key as string;
    const w = await api
      .post('/v1/memory/write')
      .set({ 'x-api-key': key, ...json })
      .send({
        scope: 'dims',
        input_text: 'x',
        memory_lane: 'shared',
        nodes: [
          { client_id: 'text-1', type: 'entity', title: 'Lisbon office' },
          { client_id: 'text-2', type: 'event', text_summary: 'moved to Porto' },
          { client_id: 'vector-only', type: 'event', embedding: [1, 0, 0, 0, 0, 0, 0, 0] },
        ],
      });
    expect(w.status).toBe(200);
    // A 16-d vector is refused at this deployment's dimension.
    const wrong = await api.post('/v1/memory/recall').set({ 'x-api-key': key, ...json }).send({ scope: 'dims', query_embedding: new Array(16).fill(0.1) });
    expect(wrong.status).toBe(400);
    await waitReady(api, 3);
    await stop();
    expect(await vectorDims()).toEqual([{ d: 8, status: 'ready', n: 3 }]);

    await expect(start(16)).rejects.toThrow(EmbeddingDimensionMismatchError);
    t = undefined;
    await expect(startTestService({ tdb, env: { EMBEDDING_DIM: '16' } })).rejects.toThrow(/holds 3 embedding\(s\) of 8 dimensions, but EMBEDDING_DIM is 16.*memory:reembed/s);
    // The old dimension still starts.
    await start(8);
    await stop();
  });

  it('given a dry run, then nothing changes; given a re-embed at 16, then the service starts at 16 and derives every vector again', async () => {
    const store = new PostgresEventStore(tdb.database);
    try {
      const dry = await reembed(tdb.database, store, { dimension: 16, dryRun: true, batchSize: 2, reason: 'dry', actor, maxAttempts: 8 });
      expect(dry).toMatchObject({ dry_run: true, from_dimension: 8, to_dimension: 16, nodes: 3, requeued: 2, failed_no_text: 1, event_id: null });
      expect(await vectorDims()).toEqual([{ d: 8, status: 'ready', n: 3 }]);

      const progress: number[] = [];
      const done = await reembed(tdb.database, store, { dimension: 16, dryRun: false, batchSize: 2, reason: 'move to 16-d', actor, maxAttempts: 8, onProgress: (d) => progress.push(d) });
      expect(done).toMatchObject({ dry_run: false, from_dimension: 8, to_dimension: 16, requeued: 2, failed_no_text: 1, jobs: 2, event_id: expect.any(String) });
      expect(progress).toEqual([2, 3]);
      expect(await vectorDims()).toEqual([
        { d: null, status: 'failed', n: 1 },
        { d: null, status: 'pending', n: 2 },
      ]);
      const event = await sql<{ type: string; data: { to_dimension: number; reason: string }; command_id: string }>`
        SELECT type, data, metadata->>'command_id' AS command_id FROM es_events WHERE event_id = ${done.event_id}::uuid`.execute(tdb.database.db);
      expect(event.rows[0]).toMatchObject({ type: 'EmbeddingsReset', data: { to_dimension: 16, reason: 'move to 16-d' }, command_id: expect.stringMatching(/^cmd:/) });
    } finally {
      await store.close();
    }
    // Still refused at the old dimension? No: there are no vectors left, so any dimension may start; 16 is the recorded one.
    const api = await start(16);
    await waitReady(api, 2);
    expect(await vectorDims()).toEqual([
      { d: 16, status: 'ready', n: 2 },
      { d: null, status: 'failed', n: 1 },
    ]);
    const recall = await api.post('/v1/memory/recall').set({ 'x-api-key': key, ...json }).send({ scope: 'dims', query_embedding: new Array(16).fill(0.1) });
    expect(recall.status).toBe(200);
    expect(recall.body.seeds).toHaveLength(2);
  });

  pgOnly.it('refuses to run while the service is connected, and the CLI says so (exit 1); --help and --json', async () => {
    const store = new PostgresEventStore(tdb.database);
    try {
      await expect(reembed(tdb.database, store, { dimension: 32, dryRun: false, batchSize: 100, reason: 'x', actor, maxAttempts: 8 })).rejects.toThrow(ServiceRunningError);
    } finally {
      await store.close();
    }
    const env = { DATABASE_URL: tdb.url! };
    const running = await runCli('memory-reembed.ts', ['--dimension', '32', '--reason', 'while running', '--json'], env);
    expect(running.status).toBe(1);
    expect(running.stderr).toMatch(/a service instance is running on this database/);
    const help = await runCli('memory-reembed.ts', ['--help'], env);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: npm run -s memory:reembed/);
    const usage = await runCli('memory-reembed.ts', ['--dimension', 'many'], env);
    expect(usage.status).toBe(1);
    await stop();
    const dry = await runCli('memory-reembed.ts', ['--dimension', '32', '--dry-run', '--json'], env);
    expect(dry.status).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ ok: true, dry_run: true, from_dimension: 16, to_dimension: 32, nodes: 3 });
  });
});
