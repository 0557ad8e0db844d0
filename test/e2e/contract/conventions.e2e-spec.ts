import { createHash } from 'node:crypto';
import request from 'supertest';
import { axisVector, type ContractEnv, expectContractError, json, OTHER_TENANT, startContractEnv, TENANT } from '../../support/contract';
import { startTestService, type TestService } from '../../support/service';
import { UUID } from '../../support/spec-hash';

/**
 * The conventions every memory route shares (§1.1-§1.4, §1.6, §2.1): request ids, CORS, the error
 * body, unknown paths, /health, authentication and the tenant header, the tolerant reader, the
 * tenant's recall rate limit, and that a refused request consumes nothing.
 */

const ALLOW_HEADERS = 'content-type,x-api-key,x-tenant-id,authorization,x-request-id';

describe('contract: conventions of the memory API', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env.stop();
  });
  const post = (path: string) => env.api.post(path);
  const find = (body: unknown = { scope: 'conv' }) => post('/v1/memory/find').set(env.as('plain')).send(body as object);
  const usage = async (tenant: string): Promise<number> => (await env.api.get(`/v1/admin/control/tenants/${tenant}/quota/usage`).set(env.t.auth).expect(200)).body.operations.used as number;

  describe('request ids (§1.1)', () => {
    it('echoes a given x-request-id on every response: success, validation error, 401, 404, 413, OPTIONS, /health', async () => {
      const rid = 'req-abc.123:X';
      const responses = {
        success: await find().set('x-request-id', rid),
        invalid: await post('/v1/memory/recall').set(env.as('plain')).set('x-request-id', rid).send({ query_embedding: [1] }),
        unauthorized: await post('/v1/memory/find').set(json).set('x-request-id', rid).send({}),
        notFound: await post('/v1/memory/nope').set(env.as('plain')).set('x-request-id', rid).send({}),
        tooLarge: await post('/v1/memory/find').set(env.as('plain')).set('x-request-id', rid).send({ scope: 'x'.repeat(6 * 1024 * 1024) }),
        options: await env.api.options('/v1/memory/recall').set('x-request-id', rid),
        health: await env.api.get('/health').set('x-request-id', rid),
      };
      for (const [name, res] of Object.entries(responses)) {
        expect({ name, id: res.headers['x-request-id'] }).toEqual({ name, id: rid });
        if (res.status >= 400) expect({ name, body: res.body.request_id }).toEqual({ name, body: rid });
      }
      expect(responses.success.status).toBe(200);
      const uuid = 'b3f0c7a2-6d1e-4f5a-9c8b-0a1b2c3d4e5f';
      expect((await find().set('x-request-id', uuid)).headers['x-request-id']).toBe(uuid);
    });

    it('adopts an id of 1-128 characters of A-Z a-z 0-9 . _ : - and replaces any other by a UUID, consistently (a listed hosted difference)', async () => {
      // docs/kernel-compatibility.md §3: the open core takes any non-empty value.
      const longest = 'a'.repeat(128);
      expect((await find().set('x-request-id', longest)).headers['x-request-id']).toBe(longest);
      for (const rid of ['trace/42 retry#1', 'a'.repeat(129)]) {
        const ok = await find().set('x-request-id', rid);
        const err = await post('/v1/memory/find').set(json).set('x-request-id', rid).send({});
        expect({ rid, ok: ok.headers['x-request-id'] }).toEqual({ rid, ok: expect.stringMatching(UUID) });
        expect({ rid, err: err.headers['x-request-id'] }).toEqual({ rid, err: expect.stringMatching(UUID) });
        expect(err.body.request_id).toBe(err.headers['x-request-id']);
      }
    });

    it('generates a UUID when none (or a blank one) is given, the same in the header and the error body', async () => {
      const a = await find();
      const b = await find().set('x-request-id', '   ');
      const err = await post('/v1/memory/find').set(json).send({});
      for (const res of [a, b, err]) expect(res.headers['x-request-id']).toMatch(UUID);
      expect(new Set([a, b, err].map((r) => r.headers['x-request-id'])).size).toBe(3);
      expect(err.body.request_id).toBe(err.headers['x-request-id']);
    });

    it('answers success with 200 and application/json on every SDK route used here (never 201 or 204)', async () => {
      const w = await post('/v1/memory/write').set(env.as('plain')).send({ scope: 'conv', input_text: 'x', nodes: [] });
      const r = await post('/v1/memory/recall').set(env.as('plain')).send({ scope: 'conv', query_embedding: axisVector(0) });
      const f = await find();
      for (const res of [w, r, f]) {
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      }
      // A GET that carries content-type: application/json and no body is accepted (§1.2, rule 1).
      const get = await env.api.get('/v1/memory/sessions/no-such-session/events?scope=conv').set(env.as('plain'));
      expect(get.status).toBe(200);
      expect(get.body).toMatchObject({ session: null, events: [] });
    });
  });

  describe('CORS (§1.1)', () => {
    it('answers any OPTIONS with 204, an empty body and the CORS headers, before authentication', async () => {
      for (const path of ['/v1/memory/recall', '/v1/memory/find', '/v1/memory/recall_text', '/v1/memory/no-such-route', '/health']) {
        const res = await env.api.options(path).set('origin', 'https://app.example.com').set('access-control-request-method', 'POST');
        expect({ path, status: res.status, text: res.text }).toEqual({ path, status: 204, text: '' });
        expect(res.headers).toMatchObject({
          'access-control-allow-origin': '*',
          'access-control-allow-methods': 'GET,POST,OPTIONS',
          'access-control-allow-headers': ALLOW_HEADERS,
          'access-control-max-age': '600',
          'x-request-id': expect.stringMatching(UUID),
        });
        expect(res.headers['access-control-expose-headers']?.split(',')).toContain('x-request-id');
      }
    });

    it('sends the CORS headers on answers too, successes and errors alike', async () => {
      for (const res of [await find().set('origin', 'https://a.example'), await post('/v1/memory/find').set(json).send({})]) {
        expect(res.headers['access-control-allow-origin']).toBe('*');
        expect(res.headers['access-control-allow-headers']).toBe(ALLOW_HEADERS);
      }
    });

    describe('with CORS_ALLOW_ORIGINS listing origins (and a DATABASE_URL for /health)', () => {
      let t: TestService;
      let api: ReturnType<typeof request>;
      beforeAll(async () => {
        t = await startTestService({ env: { CORS_ALLOW_ORIGINS: 'https://app.example.com,https://ops.example.com', DATABASE_URL: 'postgres://u:secret@localhost/aionis' } });
        api = request(t.url);
      });
      afterAll(async () => {
        await t.stop();
      });

      it('echoes a listed Origin with vary: Origin, and allows no other', async () => {
        const listed = await api.options('/v1/memory/recall').set('origin', 'https://ops.example.com');
        expect(listed.status).toBe(204);
        expect(listed.headers['access-control-allow-origin']).toBe('https://ops.example.com');
        expect(listed.headers['vary']).toMatch(/\bOrigin\b/i);
        const unlisted = await api.post('/v1/memory/find').set(json).set('origin', 'https://evil.example.com').send({});
        expect(unlisted.status).toBe(401);
        expect(unlisted.headers).not.toHaveProperty('access-control-allow-origin');
        expect(unlisted.headers['vary']).toMatch(/\bOrigin\b/i);
      });

      it('GET /health hashes host:port/dbname of the database URL, loopback names folded and port 5432 by default', async () => {
        const res = await api.get('/health');
        expect(res.body).toEqual({ ok: true, database_target_hash: createHash('sha256').update('loopback:5432/aionis').digest('hex') });
      });
    });
  });

  describe('errors (§1.3)', () => {
    it('carries error, message and issues[{path, message}] for a validation failure, beside type, title, status, detail, code and request_id', async () => {
      const res = await post('/v1/memory/recall').set(env.as('plain')).send({ scope: 'conv', query_embedding: axisVector(0), limit: 0 });
      expectContractError(res, 400, 'invalid_request');
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.body).toMatchObject({
        error: 'invalid_request',
        message: expect.any(String),
        issues: [{ path: 'limit', message: expect.any(String) }],
        type: expect.any(String),
        title: expect.any(String),
        status: 400,
        detail: expect.any(String),
        code: 'invalid_request',
        request_id: res.headers['x-request-id'],
      });
    });

    it('carries details for a domain error, and is application/problem+json only when the client asks for it', async () => {
      const res = await find({ scope: 'conv', tenant_id: OTHER_TENANT });
      expectContractError(res, 403, 'identity_mismatch');
      expect(res.body.details).toEqual({ field: 'tenant_id', provided: OTHER_TENANT, expected: TENANT });
      expect(res.body).not.toHaveProperty('issues');
      const problem = await post('/v1/memory/find').set(env.as('plain')).set('accept', 'application/problem+json').send({ scope: 'conv', tenant_id: OTHER_TENANT });
      expect(problem.status).toBe(403);
      expect(problem.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(problem.text)).toMatchObject({ error: 'identity_mismatch', code: 'identity_mismatch', status: 403, details: res.body.details, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
    });

    it('answers an unknown memory path (or a known one with the wrong method) 404 in the same shape, with or without a key', async () => {
      expectContractError(await post('/v1/memory/nope').set(env.as('plain')).send({}), 404, 'route_not_found');
      expectContractError(await post('/v1/memory/nope').set(json).send({}), 404, 'route_not_found');
      expectContractError(await env.api.get('/v1/memory/recall').set(env.as('plain')), 404, 'route_not_found');
    });
  });

  it('GET /health answers {ok: true, database_target_hash} without authentication', async () => {
    const res = await env.api.get('/health');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    // The test service is handed its database, so it has no URL to hash.
    expect(res.body).toEqual({ ok: true, database_target_hash: null });
    expect((await env.api.get('/health').set('x-api-key', 'aio_live_wrong')).status).toBe(200);
  });

  describe('authentication and the principal (§1.4)', () => {
    it('answers 401 unauthorized for a missing, empty, unknown or malformed credential', async () => {
      const body = { scope: 'conv', query_embedding: axisVector(0) };
      const attempts = [
        post('/v1/memory/recall').set(json).send(body),
        post('/v1/memory/recall').set(json).set('x-api-key', '').send(body),
        post('/v1/memory/recall').set(json).set('x-api-key', 'aio_live_not-a-real-key').send(body),
        post('/v1/memory/recall').set(json).set('x-api-key', `${env.keys.plain}x`).send(body),
        post('/v1/memory/recall').set(json).set('authorization', `Basic ${env.keys.plain}`).send(body),
        post('/v1/memory/recall').set(json).set('authorization', 'Bearer').send(body),
        post('/v1/memory/find').set(json).set('x-api-key', 'nope').send({}),
        post('/v1/memory/recall_text').set(json).send({ query_text: 'x' }),
        post('/v1/memory/write').set(json).send({ input_text: 'x' }),
      ];
      for (const res of await Promise.all(attempts)) expectContractError(res, 401, 'unauthorized');
    });

    it('accepts Authorization: Bearer <key> with the scheme in any letter case and any whitespace after it', async () => {
      for (const scheme of ['Bearer ', 'bearer ', 'BEARER ', 'bEaReR ', 'Bearer \t  ']) {
        const res = await post('/v1/memory/find').set(json).set('authorization', `${scheme}${env.keys.plain}`).send({ scope: 'conv' });
        expect({ scheme, status: res.status }).toEqual({ scheme, status: 200 });
      }
      // An x-api-key header alone decides: a wrong one is not rescued by a valid bearer token.
      const both = await post('/v1/memory/find').set(json).set('x-api-key', 'aio_live_wrong').set('authorization', `Bearer ${env.keys.plain}`).send({});
      expectContractError(both, 401, 'unauthorized');
    });

    it("refuses an X-Tenant-Id (or body tenant_id) other than the key's with 403 identity_mismatch; the body's tenant wins over the header", async () => {
      expect((await find().set('x-tenant-id', TENANT)).status).toBe(200);
      expect((await find().set('x-tenant-id', ` ${TENANT} `)).status).toBe(200);
      for (const path of ['/v1/memory/find', '/v1/memory/recall', '/v1/memory/recall_text', '/v1/memory/write']) {
        const res = await post(path).set(env.as('plain')).set('x-tenant-id', OTHER_TENANT).send({ scope: 'conv', query_embedding: axisVector(0), query_text: 'x', input_text: 'x' });
        expectContractError(res, 403, 'identity_mismatch');
        expect(res.body.details).toMatchObject({ provided: OTHER_TENANT, expected: TENANT });
      }
      // The explicit tenant is the body's tenant_id when there is one; the header is then not consulted.
      expect((await find({ scope: 'conv', tenant_id: TENANT }).set('x-tenant-id', OTHER_TENANT)).status).toBe(200);
      // The other tenant's key with its own tenant named is fine, and sees its own tenant.
      const other = await post('/v1/memory/find').set(env.as('other')).set('x-tenant-id', OTHER_TENANT).send({ scope: 'conv' });
      expect(other.body.tenant_id).toBe(OTHER_TENANT);
    });
  });

  it('ignores unknown request fields (tolerant reader) and names them in x-aionis-ignored-fields', async () => {
    const res = await find({ scope: 'conv', colour: 'blue', page_size: 5 });
    expect(res.status).toBe(200);
    expect(res.headers['x-aionis-ignored-fields']).toBe('colour,page_size');
    const recall = await post('/v1/memory/recall').set(env.as('plain')).send({ scope: 'conv', query_embedding: axisVector(0), top_k: 3 });
    expect(recall.status).toBe(200);
    expect(recall.headers['x-aionis-ignored-fields']).toBe('top_k');
    expect(recall.body.trajectory.budgets.limit).toBe(24);
    const clean = await find({ scope: 'conv' });
    expect(clean.headers).not.toHaveProperty('x-aionis-ignored-fields');
  });

  it("throttles a tenant's recall-class routes with 429 tenant_rate_limited_recall and a numeric retry-after, consuming nothing when refused", async () => {
    const tenant = 'contract-rl';
    await env.api.post('/v1/admin/control/tenants').set(env.t.auth).set(json).send({ tenant_id: tenant }).expect(201);
    await env.api.put(`/v1/admin/control/tenants/${tenant}/quota`).set(env.t.auth).set(json).send({ recall_rps: 1, recall_burst: 1 }).expect(200);
    const key = (await env.api.post('/v1/admin/control/api-keys').set(env.t.auth).set(json).send({ tenant_id: tenant }).expect(201)).body.api_key as string;
    const as = { 'x-api-key': key, ...json };
    const before = await env.counts();
    // A refused request costs nothing: neither the bucket's token nor a monthly operation.
    expectContractError(await post('/v1/memory/recall').set(as).send({ scope: 's', query_embedding: axisVector(0), limit: 0 }), 400, 'invalid_request');
    expectContractError(await post('/v1/memory/find').set(as).send({ scope: 's', type: 'memory' }), 400, 'invalid_request');
    expect(await usage(tenant)).toBe(0);
    // The one token of the bucket, then recall, find and recall_text (one recall class) are all refused.
    expect((await post('/v1/memory/find').set(as).send({ scope: 's' })).status).toBe(200);
    const refused = await Promise.all([
      post('/v1/memory/recall').set(as).send({ scope: 's', query_embedding: axisVector(0) }),
      post('/v1/memory/find').set(as).send({ scope: 's' }),
      post('/v1/memory/recall_text').set(as).send({ scope: 's', query_text: 'hello' }),
    ]);
    for (const res of refused) {
      expectContractError(res, 429, 'tenant_rate_limited_recall');
      expect(res.headers['retry-after']).toMatch(/^\d+(\.\d+)?$/);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.body.details).toMatchObject({ tenant_id: tenant, retry_after_ms: expect.any(Number), waited_ms: expect.any(Number) });
      expect(res.body.details.retry_after_ms).toBeGreaterThan(0);
      expect(res.body.details.retry_after_ms).toBeLessThanOrEqual(1000);
    }
    expect(await usage(tenant)).toBe(1);
    expect(await env.counts()).toEqual(before);
    // The write class has a bucket of its own.
    expect((await post('/v1/memory/write').set(as).send({ scope: 's', input_text: 'x', nodes: [] })).status).toBe(200);
    // Other tenants are not affected.
    expect((await find()).status).toBe(200);
  });

  it('consumes nothing stored, and no operation of the quota, for any refused request', async () => {
    const before = await env.counts();
    const refused: [string, () => ReturnType<typeof post>][] = [
      ['write without input (400)', () => post('/v1/memory/write').set(env.as('plain')).send({ scope: 'conv', nodes: [{ type: 'event' }] })],
      ['write with a self-loop (400)', () => post('/v1/memory/write').set(env.as('plain')).send({ scope: 'conv', input_text: 'x', nodes: [{ client_id: 'k', type: 'event' }], edges: [{ type: 'part_of', src: { client_id: 'k' }, dst: { client_id: 'k' } }] })],
      ['write of an ownerless private rule (400)', () => post('/v1/memory/write').set(env.as('plain')).send({ scope: 'conv', input_text: 'x', nodes: [{ type: 'rule' }] })],
      ['write with a read-only key (403)', () => post('/v1/memory/write').set(env.as('readOnly')).send({ scope: 'conv', input_text: 'x', nodes: [{ type: 'event' }] })],
      ['write with a contradicting owner (403)', () => post('/v1/memory/write').set(env.as('agentA')).send({ scope: 'conv', input_text: 'x', owner_agent_id: 'agent-b', nodes: [{ type: 'event' }] })],
      ['write without a key (401)', () => post('/v1/memory/write').set(json).send({ scope: 'conv', input_text: 'x', nodes: [{ type: 'event' }] })],
      ['write of 6 MiB (413)', () => post('/v1/memory/write').set(env.as('plain')).send({ scope: 'conv', input_text: 'x'.repeat(6 * 1024 * 1024), nodes: [{ type: 'event' }] })],
      ['write naming another tenant (403)', () => post('/v1/memory/write').set(env.as('plain')).set('x-tenant-id', OTHER_TENANT).send({ scope: 'conv', input_text: 'x', nodes: [{ type: 'event' }] })],
      ['an unknown path (404)', () => post('/v1/memory/nope').set(env.as('plain')).send({})],
      ['recall with a short vector (400)', () => post('/v1/memory/recall').set(env.as('plain')).send({ scope: 'conv', query_embedding: axisVector(0, 8) })],
      ['recall with a contradicting consumer (403)', () => post('/v1/memory/recall').set(env.as('agentA')).send({ scope: 'conv', query_embedding: axisVector(0), consumer_agent_id: 'agent-b' })],
      ['recall_text without query_text (400)', () => post('/v1/memory/recall_text').set(env.as('plain')).send({ scope: 'conv' })],
      ['find with a malformed URI (400)', () => post('/v1/memory/find').set(env.as('plain')).send({ scope: 'conv', uri: 'aionis://x' })],
      ['find with a URI of another tenant (400)', () => post('/v1/memory/find').set(env.as('plain')).send({ uri: `aionis://${OTHER_TENANT}/conv/event/11111111-2222-4333-8444-555555555555` })],
      ['find with a blank scope (400)', () => post('/v1/memory/find').set(env.as('plain')).send({ scope: '   ' })],
    ];
    const consumed: { name: string; status: number | '4xx'; operations: number }[] = [];
    for (const [name, send] of refused) {
      const ops = await usage(TENANT);
      const res = await send();
      expect({ name, error: typeof res.body.error }).toEqual({ name, error: 'string' });
      consumed.push({ name, status: res.status >= 400 && res.status < 500 ? '4xx' : res.status, operations: (await usage(TENANT)) - ops });
    }
    expect(consumed).toEqual(refused.map(([name]) => ({ name, status: '4xx', operations: 0 })));
    expect(await env.counts()).toEqual(before);
    // A request that is served does count: the check above can see a change.
    const ops = await usage(TENANT);
    expect((await find()).status).toBe(200);
    expect(await usage(TENANT)).toBe(ops + 1);
  });
});
