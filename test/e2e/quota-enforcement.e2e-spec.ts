import { sql } from 'kysely';
import request from 'supertest';
import { expectContractError } from '../support/contract';
import { startTestService, type TestService } from '../support/service';
import { type ServiceProcess, spawnService } from '../support/process';
import { createPgDatabase } from '../support/test-db';
import { pgOnly } from '../support/skips';

const json = { 'Content-Type': 'application/json' };

async function tenantWithKey(api: ReturnType<typeof request>, auth: Record<string, string>, tenant: string, overrides: Record<string, number>): Promise<string> {
  await api.post('/v1/admin/control/tenants').set(auth).set(json).send({ tenant_id: tenant }).expect(201);
  await api.put(`/v1/admin/control/tenants/${tenant}/quota`).set(auth).set(json).send(overrides).expect(200);
  return (await api.post('/v1/admin/control/api-keys').set(auth).set(json).send({ tenant_id: tenant }).expect(201)).body.api_key as string;
}

describe('quota enforcement on the memory API (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;

  beforeAll(async () => {
    t = await startTestService();
    api = request(t.url);
  });
  afterAll(async () => {
    await t.stop();
  });

  const commits = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_commits`.execute(t.tdb.database.db)).rows[0]!.n;

  it('rate-limits per tenant and endpoint class with 429, Retry-After and X-RateLimit headers, writing nothing when refused', async () => {
    const key = await tenantWithKey(api, t.auth, 'rl-co', { write_rps: 1, write_burst: 3 });
    const w = (i: number) => api.post('/v1/memory/write').set({ 'x-api-key': key, ...json }).send({ scope: 's', input_text: `${i}`, nodes: [{ client_id: `n${i}`, type: 'event' }] });
    const ok = [await w(1), await w(2), await w(3)];
    expect(ok.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(ok[0]!.headers['x-ratelimit-limit']).toBe('3');
    expect(ok.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0']);
    const before = await commits();
    const refused = await w(4);
    expectContractError(refused, 429, 'tenant_rate_limited_write');
    expect(refused.body.details).toMatchObject({ tenant_id: 'rl-co', endpoint_class: 'write', limit: 3, retry_after_ms: expect.any(Number), waited_ms: expect.any(Number) });
    expect(refused.body.details.retry_after_ms).toBeGreaterThan(0);
    // retry-after: a positive whole number of seconds (never an HTTP date: the open core's client reads a number).
    expect(refused.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(Number(refused.headers['retry-after'])).toBe(Math.ceil(refused.body.details.retry_after_ms / 1000));
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    expect(await commits()).toBe(before);
    // Recall has its own bucket.
    expect((await api.post('/v1/memory/find').set({ 'x-api-key': key, ...json }).send({ scope: 's' })).status).toBe(200);
    // Another tenant is not affected.
    const other = await tenantWithKey(api, t.auth, 'rl-other', {});
    expect((await api.post('/v1/memory/write').set({ 'x-api-key': other, ...json }).send({ scope: 's', input_text: 'x', nodes: [{ type: 'event' }] })).status).toBe(200);
  });

  it('refuses past the monthly operations and the stored-node limit with 403 quota_exceeded, and shows the usage', async () => {
    const key = await tenantWithKey(api, t.auth, 'ops-co', { monthly_operations: 3, max_stored_nodes: 2 });
    const as = { 'x-api-key': key, ...json };
    expect((await api.post('/v1/memory/write').set(as).send({ scope: 's', input_text: 'a', nodes: [{ client_id: 'a', type: 'event' }] })).status).toBe(200);
    const before = await commits();
    const tooMany = await api.post('/v1/memory/write').set(as).send({ scope: 's', input_text: 'b', nodes: [{ client_id: 'b', type: 'event' }, { client_id: 'c', type: 'event' }] });
    expectContractError(tooMany, 403, 'quota_exceeded');
    expect(tooMany.body.details).toMatchObject({ quota: 'max_stored_nodes', limit: 2, stored: 1 });
    expect(await commits()).toBe(before);
    // A request refused after admission is refunded: the refused write cost no operation.
    const afterRefusal = await api.get('/v1/admin/control/tenants/ops-co/quota/usage').set(t.auth);
    expect(afterRefusal.body).toMatchObject({ operations: { used: 1, limit: 3 }, stored_nodes: { used: 1, limit: 2 } });
    for (let i = 0; i < 2; i++) expect((await api.post('/v1/memory/find').set(as).send({ scope: 's' })).status).toBe(200);
    const over = await api.post('/v1/memory/find').set(as).send({ scope: 's' });
    expectContractError(over, 403, 'quota_exceeded');
    expect(over.body.details).toEqual({ quota: 'monthly_operations', limit: 3 });
    const usage = await api.get('/v1/admin/control/tenants/ops-co/quota/usage').set(t.auth);
    expect(usage.body).toMatchObject({ tenant_id: 'ops-co', operations: { used: 3, limit: 3 }, stored_nodes: { used: 1, limit: 2 } });
  });
});

describe('exact rate limits across two API processes (PostgreSQL only)', () => {
  const procs: ServiceProcess[] = [];
  let drop: (() => Promise<void>) | undefined;
  afterAll(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    await drop?.();
  });

  pgOnly.it('never admits more than burst + rate x elapsed, whichever process serves', async () => {
    const db = await createPgDatabase('rl');
    drop = db.drop;
    const token = 'aio_admin_ratelimit-test-0123456789abcdef0123';
    const start = async (_name: string) => {
      const proc = spawnService({ DATABASE_URL: db.url, PORT: '0', KEY_PEPPER: 'ratelimit-pepper-0123456789abcdef0123456789', ADMIN_BOOTSTRAP_TOKEN: token, LOG_LEVEL: 'error', LOG_FORMAT: 'json' });
      procs.push(proc);
      return proc.url();
    };
    const a = await start('a');
    const b = await start('b');
    const auth = { Authorization: `Bearer ${token}` };
    const key = await tenantWithKey(request(a), auth, 'exact-co', { write_rps: 2, write_burst: 5 });
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        request(i % 2 ? a : b)
          .post('/v1/memory/write')
          .set({ 'x-api-key': key, ...json })
          .send({ scope: 's', input_text: `${i}`, nodes: [{ client_id: `c${i}`, type: 'event' }] }),
      ),
    );
    const elapsed = (Date.now() - t0) / 1000;
    const admitted = results.filter((r) => r.status === 200).length;
    const refused = results.filter((r) => r.status === 429).length;
    expect(admitted + refused).toBe(40);
    expect(admitted).toBeGreaterThanOrEqual(5);
    expect(admitted).toBeLessThanOrEqual(5 + Math.ceil(elapsed * 2));
  }, 120_000);
});
