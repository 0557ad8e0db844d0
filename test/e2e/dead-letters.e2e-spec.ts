import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { type EmbeddingProvider, EmbeddingError } from '../../src/data-plane/embeddings/embedding-provider';
import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import { startTestService, type TestService } from '../support/service';
import { createPgDatabase, usingPostgres } from '../support/test-db';
import { PgDatabase } from '../../src/platform/db/pg-database';
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
    // The operator sees the same without a tenant key: counts only, never content.
    const readiness = async (q: string) => (await api.get(`/v1/admin/control/dead-letters/readiness?${q}`).set(t.auth).expect(200)).body as Record<string, unknown>;
    expect(await readiness('tenant_id=dl-a')).toEqual({ tenant_id: 'dl-a', scope: null, all_ready: true, nodes: { ready: 3, pending: 0, failed: 0, total: 3 }, outbox: { pending: 0, retrying: 0, processing: 0, dead_letter: 0, done: 3, discarded: 0 } });
    expect(await readiness('tenant_id=dl-b&scope=s')).toMatchObject({ tenant_id: 'dl-b', scope: 's', all_ready: false, nodes: { ready: 0, pending: 0, failed: 3, total: 3 }, outbox: { dead_letter: 3 } });
    expect(JSON.stringify(await readiness('tenant_id=dl-b'))).not.toContain('CANARY');
    expect((await api.get('/v1/admin/control/dead-letters/readiness').set(t.auth)).status).toBe(400);
    expect((await api.get('/v1/admin/control/dead-letters/readiness?tenant_id=dl-a')).status).toBe(401);
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

describe('last_error keeps the root cause (a provider nobody listens for)', () => {
  let t: TestService;
  afterAll(async () => {
    await t?.stop();
  });

  it('says connect ECONNREFUSED 127.0.0.1:<port>, not only "fetch failed"', async () => {
    // A loopback port just freed: nothing listens, the connection is refused at once. (Not port 9:
    // fetch refuses it itself, as a "bad port", before connecting.)
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    t = await startTestService({ env: { EMBEDDING_PROVIDER: 'openai', EMBEDDING_BASE_URL: `http://127.0.0.1:${port}/v1`, EMBEDDING_DIM: '16', OUTBOX_MAX_ATTEMPTS: '1', OUTBOX_POLL_INTERVAL_MS: '50' } });
    const api = request(t.url);
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'dl-root' }).expect(201);
    const key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'dl-root' }).expect(201)).body.api_key as string;
    await api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 's', input_text: 'x', memory_lane: 'shared', nodes: [{ client_id: 'a', type: 'event', title: 'unreachable provider' }] }).expect(200);
    const until = Date.now() + 20_000;
    let items: { last_error: string }[] = [];
    while (items.length === 0 && Date.now() < until) {
      items = (await api.get('/v1/admin/control/dead-letters?tenant_id=dl-root').set(t.auth).expect(200)).body.items as { last_error: string }[];
      if (items.length === 0) await sleep(100);
    }
    expect(items).toHaveLength(1);
    expect(items[0]!.last_error).toBe(`embedding request failed: fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`);
  }, 40_000);
});

/**
 * The drill as on-call runs it: on PostgreSQL (the CI tier with TEST_DATABASE_URL) against a
 * database given by DATABASE_URL, as on a deployment's own; on the embedded database otherwise.
 * Either way its data directory is gone afterwards, also when it fails.
 */
describe('the dead-letter drill', () => {
  let tmp: string;
  let pg: { url: string; drop: () => Promise<void> } | undefined;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'aionis-drill-test-'));
  });
  afterEach(async () => {
    rmSync(tmp, { recursive: true, force: true });
    await pg?.drop();
    pg = undefined;
  });
  const drill = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/ops/cli/drill-dead-letter.ts'), '--json'], {
      cwd: ROOT,
      // TMPDIR: the drill makes its data directory here, so the test sees whether it is removed.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TMPDIR: tmp, ...env },
      encoding: 'utf8',
      timeout: 90_000,
    });
  const deploymentKeys = () => ({
    KEY_PEPPER: randomBytes(32).toString('hex'),
    AUDIT_SEAL_PRIVATE_KEY: generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  });

  it(`runs end to end on ${usingPostgres() ? 'PostgreSQL (DATABASE_URL)' : 'the embedded database'} and proves nothing was lost or duplicated; leaves no data directory`, async () => {
    pg = usingPostgres() ? await createPgDatabase() : undefined;
    const r = drill(pg ? { DATABASE_URL: pg.url, ...deploymentKeys() } : {});
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const steps = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { step: string; nodes?: number; database?: string; tenant?: string });
    expect(steps[0]).toMatchObject({ step: 'starting a throw-away service', database: pg ? 'postgresql (DATABASE_URL)' : 'embedded' });
    expect(steps.at(-1)).toMatchObject({ step: expect.stringMatching(/^proven/), nodes: 24, distinct_ids: 24, ready: 24, outbox: { done: 4 }, replay_events: 1 });
    expect(readdirSync(tmp)).toEqual([]);
    if (pg) {
      // It ran on that database: the drill's tenant and its replay event are there.
      const tenant = steps.find((x) => x.tenant)?.tenant ?? '';
      const client = new PgDatabase({ url: pg.url, poolSize: 1, applicationName: 'aionis-test' });
      try {
        const n = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE type = 'OutboxJobsReplayed' AND tenant_id = ${tenant}`.execute(client.db);
        expect(n.rows[0]?.n).toBe(1);
      } finally {
        await client.close();
      }
    }
  }, 120_000);

  it('fails with exit 1 and still removes its data directory (a database nobody listens on); refuses PostgreSQL without the deployment\'s keys', () => {
    const down = drill({ DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none', ...deploymentKeys() });
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/^error: .*ECONNREFUSED/m);
    expect(readdirSync(tmp)).toEqual([]);
    const noKeys = drill({ DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none' });
    expect(noKeys.status).toBe(1);
    expect(noKeys.stderr).toContain("on PostgreSQL the drill runs with the deployment's KEY_PEPPER and AUDIT_SEAL_PRIVATE_KEY");
    expect(readdirSync(tmp)).toEqual([]);
  }, 60_000);
});
