import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { LocalEmbeddingProvider } from '../../src/data-plane/embeddings/local-provider';
import { until } from '../support/until';
import { startTestService, type TestService } from '../support/service';
import { LineBuffer } from '../support/service-logs';
import { createTestDatabase, type TestDatabase, usingPostgres } from '../support/test-db';
import { pgOnly } from '../support/skips';

/**
 * Worker processes against one PostgreSQL database: a worker killed in the middle of a job, and
 * several workers at once. The embedding endpoint is a stand-in OpenAI-compatible server on
 * loopback (no real provider can be reached here); it can hang a request so that a worker is
 * caught mid-job, and it counts the texts it embedded.
 */
const ROOT = join(__dirname, '../..');
const pgIt = pgOnly.it;
const json = { 'Content-Type': 'application/json' };
/** EMBEDDING_DIM's default: the service and the worker processes run with it. */
const DIM = 1536;

describe('outbox workers as processes (PostgreSQL only)', () => {
  let server: Server | undefined;
  let baseUrl = '';
  let hangNext = false;
  let received = 0;
  const embedded = new Map<string, number>();
  const hanging: ServerResponse[] = [];
  const local = new LocalEmbeddingProvider(DIM);
  const children: ChildProcess[] = [];
  const dataDirs: string[] = [];
  let t: TestService | undefined;
  let tdb: TestDatabase | undefined;

  beforeAll(async () => {
    if (!usingPostgres()) return;
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString()));
      req.on('end', () => {
        received += 1;
        if (hangNext) {
          hangNext = false;
          hanging.push(res); // never answered: the worker is stuck in this job
          return;
        }
        const body = JSON.parse(raw) as { input: string[] };
        for (const text of body.input) embedded.set(text, (embedded.get(text) ?? 0) + 1);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data: body.input.map((text, index) => ({ index, embedding: local.embedOne(text) })) }));
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    tdb = await createTestDatabase({ kind: 'pg' });
    t = await startTestService({ tdb, env: { AIONIS_ROLES: 'api,projector' } });
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const r of hanging) r.destroy();
    await t?.stop();
    await tdb?.dispose();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
  });

  function startWorker(name: string, extra: Record<string, string> = {}): { child: ChildProcess; out: () => string } {
    const dataDir = mkdtempSync(join(tmpdir(), `aionis-worker-${name}-`));
    dataDirs.push(dataDir);
    const child = spawn(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.cjs'), join(ROOT, 'src/main.ts')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        DATABASE_URL: tdb!.url ?? '',
        PORT: '0',
        DATA_DIR: dataDir,
        KEY_PEPPER: 'test-pepper-0123456789abcdef0123456789abcdef',
        AIONIS_ROLES: 'worker',
        EMBEDDING_PROVIDER: 'openai',
        EMBEDDING_BASE_URL: baseUrl,
        EMBEDDING_TIMEOUT_MS: '60000',
        OUTBOX_POLL_INTERVAL_MS: '50',
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'warn',
        // A worker needs a few connections; the default pool (20) per process, times several
        // workers beside other suites, can take a shared server to max_connections.
        DATABASE_POOL_SIZE: '4',
        ...extra,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    // Printed if a test fails (test/support/environment.ts).
    const log = new LineBuffer(`worker ${name} (pid ${child.pid ?? '?'})`);
    const onData = (d: Buffer) => {
      out += d.toString();
      log.write(d);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    return { child, out: () => out };
  }


  /** A tenant and an API key for it, usable at once (the key's read model caught up, even on a loaded machine). */
  async function tenantKey(tenantId: string, tier?: string): Promise<string> {
    const api = request(t!.url);
    await api.post('/v1/admin/control/tenants').set(t!.auth).set(json).send({ tenant_id: tenantId, ...(tier ? { tier } : {}) }).expect(201);
    const created = await api.post('/v1/admin/control/api-keys').set(t!.auth).set(json).send({ tenant_id: tenantId }).expect(201);
    const keyId = created.body.key.key_id as string;
    await until('the key to reach its read model', async () => (await api.get(`/v1/admin/control/api-keys/${keyId}`).set(t!.auth)).status === 200);
    return created.body.api_key as string;
  }

  const jobs = async () =>
    (await sql<{ status: string; attempts: number; claimed_by: string | null }>`SELECT status, attempts, claimed_by FROM memory_outbox ORDER BY created_at`.execute(tdb!.database.db)).rows;

  pgIt('a worker killed in the middle of a job: another reclaims it and the job ends done exactly once', async () => {
    const api = request(t!.url);
    const key = await tenantKey('work-co');
    hangNext = true;
    await api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 's', input_text: 'k', memory_lane: 'shared', nodes: [{ client_id: 'k1', type: 'event', title: 'killed mid job' }] }).expect(200);
    const first = startWorker('first');
    await until('the first worker to be stuck in the job', async () => received === 1 && (await jobs())[0]?.status === 'processing');
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.on('exit', r));
    expect((await jobs())[0]).toMatchObject({ status: 'processing', attempts: 1 });

    startWorker('second', { OUTBOX_CLAIM_TIMEOUT_MS: '1000' });
    await until('the job to be reclaimed and done', async () => (await jobs())[0]?.status === 'done');
    expect((await jobs())[0]).toMatchObject({ status: 'done', attempts: 2 });
    expect(embedded.get('killed mid job')).toBe(1);
    const found = await api.post('/v1/memory/find').set({ 'x-api-key': key, ...json }).send({ scope: 's', include_meta: true });
    expect(found.body.nodes).toHaveLength(1);
    expect(found.body.nodes[0]).toMatchObject({ client_id: 'k1', embedding_status: 'ready', embedding_model: 'openai:text-embedding-3-small' });
  }, 90_000);

  pgIt('several workers at once never run a job twice', async () => {
    const api = request(t!.url);
    const key = await tenantKey('many-co', 'enterprise');
    startWorker('third');
    startWorker('fourth');
    for (let i = 0; i < 30; i++) {
      await api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 'm', input_text: `${i}`, nodes: [{ client_id: `m${i}`, type: 'event', title: `parallel job ${i}` }] }).expect(200);
    }
    await until('all jobs done', async () => (await jobs()).filter((j) => j.status === 'done').length === 31, 60_000);
    for (let i = 0; i < 30; i++) expect(embedded.get(`parallel job ${i}`)).toBe(1);
    const claimedBy = new Set((await jobs()).slice(1).map((j) => j.claimed_by));
    expect(claimedBy.size).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
