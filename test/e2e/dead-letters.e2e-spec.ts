import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { type EmbeddingProvider, EmbeddingError } from '../../src/data-plane/embeddings/embedding-provider';
import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import { startTestService, type TestService } from '../support/service';
import { pgOnly } from '../support/skips';

const ROOT = join(__dirname, '../..');
const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('dead-letter operations (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;
  let broken = true;
  const keys: Record<string, string> = {};
  const local = new LocalEmbeddingProvider(1536);
  const provider: EmbeddingProvider = {
    model: local.model,
    dimensions: local.dimensions,
    embed: (texts) => (broken ? Promise.reject(new EmbeddingError('provider down', true)) : local.embed(texts)),
  };

  async function deadLettered(tenant: string): Promise<number> {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_outbox WHERE tenant_id = ${tenant} AND status = 'dead_letter'`.execute(t.tdb.database.db);
    return r.rows[0]!.n;
  }

  beforeAll(async () => {
    t = await startTestService({ env: { OUTBOX_MAX_ATTEMPTS: '1', OUTBOX_POLL_INTERVAL_MS: '50' }, embeddingProvider: provider });
    api = request(t.url);
    for (const id of ['dl-a', 'dl-b']) {
      await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id }).expect(201);
      keys[id] = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: id }).expect(201)).body.api_key as string;
      for (let i = 0; i < 3; i++) {
        await api.post('/v1/memory/write').set({ 'x-api-key': keys[id]!, ...json }).send({ scope: 's', input_text: `${i}`, memory_lane: 'shared', nodes: [{ client_id: `${id}-${i}`, type: 'event', title: `${id} CANARY-${id} ${i}` }] }).expect(200);
      }
    }
    const until = Date.now() + 15_000;
    while ((await deadLettered('dl-a')) + (await deadLettered('dl-b')) < 6 && Date.now() < until) await sleep(50);
  });
  afterAll(async () => {
    await t.stop();
  });

  it('lists dead letters with counts by tenant, filtered by tenant without showing another tenant', async () => {
    const all = await api.get('/v1/admin/control/dead-letters').set(t.auth);
    expect(all.status).toBe(200);
    expect(all.body.counts_by_tenant).toEqual({ 'dl-a': 3, 'dl-b': 3 });
    expect(all.body.items[0]).toMatchObject({ type: 'embed_nodes', attempts: 1, last_error: 'provider down', node_count: 1 });
    const onlyA = await api.get('/v1/admin/control/dead-letters?tenant_id=dl-a').set(t.auth);
    expect(onlyA.body.items).toHaveLength(3);
    expect(onlyA.body.counts_by_tenant).toEqual({ 'dl-a': 3 });
    expect(JSON.stringify(onlyA.body)).not.toContain('dl-b');
  });

  it('requires a reason, and ids or a tenant unless allow_all_tenants; a dry run changes nothing', async () => {
    const before = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(t.tdb.database.db);
    expect((await api.post('/v1/admin/control/dead-letters/replay').set(t.auth).set(json).send({ tenant_id: 'dl-a' })).status).toBe(400);
    const broad = await api.post('/v1/admin/control/dead-letters/replay').set(t.auth).set(json).send({ reason: 'everything' });
    expect(broad.status).toBe(400);
    expect(broad.body.errors[0].field).toBe('body.allow_all_tenants');
    expect((await api.post('/v1/admin/control/dead-letters/replay').set(t.auth).set(json).send({ tenant_id: 'dl-a', reason: 'x', limit: 501 })).status).toBe(400);
    const dry = await api.post('/v1/admin/control/dead-letters/replay').set(t.auth).set(json).send({ tenant_id: 'dl-a', reason: 'check', dry_run: true, limit: 2 });
    expect(dry.body).toMatchObject({ dry_run: true, matched: 3, affected: 0, event_id: null });
    expect(dry.body.job_ids).toHaveLength(2);
    expect(await deadLettered('dl-a')).toBe(3);
    const after = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(t.tdb.database.db);
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });

  it('replays one tenant only (events in the audit trail), and the jobs finish once the provider works', async () => {
    broken = false;
    const res = await api.post('/v1/admin/control/dead-letters/replay').set(t.auth).set('X-Request-Id', 'replay-dl-a').set(json).send({ tenant_id: 'dl-a', type: 'embed_nodes', reason: 'provider restored' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ dry_run: false, matched: 3, affected: 3 });
    expect(await deadLettered('dl-b')).toBe(3); // the other tenant is untouched
    const until = Date.now() + 15_000;
    const ready = async (tenant = 'dl-a') => {
      const f = await api.post('/v1/memory/find').set({ 'x-api-key': keys[tenant]!, ...json }).send({ scope: 's', include_meta: true });
      expect(f.body.nodes).toHaveLength(3);
      return f.body.nodes.filter((n: { embedding_status: string }) => n.embedding_status === 'ready').length;
    };
    while ((await ready()) < 3 && Date.now() < until) await sleep(50);
    expect(await ready()).toBe(3);
    expect(await ready('dl-b')).toBe(0); // still failed: the other tenant's jobs were not replayed
    const audit = await api.get('/v1/admin/control/audit-events?request_id=replay-dl-a').set(t.auth);
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]).toMatchObject({ type: 'OutboxJobsReplayed', tenant_id: 'dl-a', actor: { id: 'op_bootstrap_owner' }, resource: { type: 'dead_letters' } });
    expect(audit.body.items[0].data).toMatchObject({ reason: 'provider restored', count: 3 });
  });

  it('discards for good with a reason, recorded in the log', async () => {
    const ids = (await api.get('/v1/admin/control/dead-letters?tenant_id=dl-b').set(t.auth)).body.items.map((i: { job_id: string }) => i.job_id) as string[];
    const res = await api.post('/v1/admin/control/dead-letters/discard').set(t.auth).set(json).send({ ids: ids.slice(0, 1), reason: 'obsolete' });
    expect(res.body).toMatchObject({ affected: 1 });
    expect(await deadLettered('dl-b')).toBe(2);
    const events = await t.service.infra.store.readStream('dead-letters-dl-b');
    expect(events.map((e) => e.type)).toEqual(['OutboxJobsDiscarded']);
    // An auditor-free check: a dead-letter view never shows another tenant's memory content.
    const view = await api.get('/v1/admin/control/dead-letters?tenant_id=dl-b').set(t.auth);
    expect(JSON.stringify(view.body)).not.toContain('CANARY-dl-a');
  });

  pgOnly.it('has a CLI twin with the same rules and the same event (PostgreSQL: the CLI is a second process)', () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/outbox-replay.ts'), ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: t.tdb.url ?? '', LOG_LEVEL: 'error' },
        encoding: 'utf8',
      });
    expect(run(['--tenant-id', 'dl-b']).status).toBe(1); // no reason
    const dry = run(['--tenant-id', 'dl-b', '--reason', 'cli check', '--dry-run', '--json']);
    expect(dry.status).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ ok: true, dry_run: true, matched: 2, affected: 0 });
    const real = run(['--tenant-id', 'dl-b', '--reason', 'cli replay', '--json']);
    expect(real.status).toBe(0);
    expect(JSON.parse(real.stdout)).toMatchObject({ affected: 2 });
  });
});

describe('the dead-letter drill', () => {
  it('runs end to end and proves nothing was lost or duplicated', () => {
    const r = spawnSync(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/drill-dead-letter.ts'), '--json'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
      encoding: 'utf8',
      timeout: 90_000,
    });
    expect(r.status).toBe(0);
    const steps = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { step: string; nodes?: number });
    expect(steps.at(-1)).toMatchObject({ step: expect.stringMatching(/^proven/), nodes: 24, distinct_ids: 24, ready: 24, outbox: { done: 4 }, replay_events: 1 });
  }, 120_000);
});
