import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import request from 'supertest';
import { hashToken, tokenHint } from '../../src/control-plane/operators/credentials';
import { operatorStreamId, tenantStreamId } from '../../src/control-plane/shared/ids';
import { startTestService, TEST_PEPPER, type TestService } from '../support/service';

const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('tenants API (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;

  beforeAll(async () => {
    t = await startTestService();
    api = request(t.url);
  });
  afterAll(async () => {
    await t.stop();
  });

  async function eventCount(): Promise<number> {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(t.tdb.database.db);
    return r.rows[0]!.n;
  }

  function expectProblem(res: request.Response, status: number, code: string): void {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status, code, type: `urn:aionis:problem:${code}` });
    expect(res.body.request_id).toBe(res.headers['x-request-id']);
    expect(typeof res.body.detail).toBe('string');
  }

  describe('authentication', () => {
    it('refuses requests without a token, with a wrong token, and with a malformed header alike', async () => {
      const none = await api.get('/v1/admin/control/tenants');
      const wrong = await api.get('/v1/admin/control/tenants').set('Authorization', 'Bearer aio_admin_nope');
      const malformed = await api.get('/v1/admin/control/tenants').set('Authorization', 'Basic abc');
      for (const res of [none, wrong, malformed]) {
        expectProblem(res, 401, 'unauthorized');
        expect(res.headers['www-authenticate']).toBe('Bearer');
      }
    });

    it('accepts the operator token as Bearer or as X-Admin-Token', async () => {
      expect((await api.get('/v1/admin/control/tenants').set(t.auth)).status).toBe(200);
      const token = t.auth.Authorization.replace('Bearer ', '');
      expect((await api.get('/v1/admin/control/tenants').set('X-Admin-Token', token)).status).toBe(200);
    });

    it('lets an auditor read but not write', async () => {
      const token = `aio_admin_auditor-${randomUUID()}`;
      const opId = `op_auditor_${Date.now()}`;
      const r = await t.service.infra.store.append(
        operatorStreamId(opId),
        [{ type: 'OperatorCreated', data: { operator_id: opId, display_name: 'auditor', role: 'auditor', token_hash: hashToken(TEST_PEPPER, token), token_hint: tokenHint(token), bootstrap: false } }],
        {
          expectedRevision: 'no_stream',
          tenantId: null,
          metadata: { actor: { type: 'system', id: 'test' }, occurred_at: new Date().toISOString(), correlation_id: randomUUID(), causation_id: null, request_id: null, command_id: null },
        },
      );
      await t.service.app.get((await import('../../src/platform/projections/projections.service')).ProjectionsService).waitFor('operators', r.position, 5000);
      const read = await api.get('/v1/admin/control/tenants').set('Authorization', `Bearer ${token}`);
      expect(read.status).toBe(200);
      const before = await eventCount();
      const write = await api.post('/v1/admin/control/tenants').set('Authorization', `Bearer ${token}`).set(json).send({ tenant_id: 'auditor-try' });
      expectProblem(write, 403, 'forbidden');
      // Nothing changed but the record of the refusal itself.
      expect(await eventCount()).toBe(before + 1);
      const denied = await t.service.infra.store.readStream('security-admin');
      expect(denied.at(-1)).toMatchObject({ type: 'AdminActionDenied', data: { operator_id: opId, role: 'auditor', required: 'write', method: 'POST' } });
      expect(denied.at(-1)!.metadata.actor.id).toBe(opId);
      expect(await t.service.infra.store.readStream('tenant-auditor-try')).toEqual([]);
    });
  });

  describe('create and get', () => {
    it('creates a tenant (201, ETag, Location) and reads it back, with the acting operator recorded', async () => {
      const res = await api
        .post('/v1/admin/control/tenants')
        .set(t.auth)
        .set('X-Request-Id', 'req-create-acme-1')
        .set(json)
        .send({ tenant_id: 'acme', display_name: 'Acme Corp', tier: 'growth', metadata: { region: 'eu' } });
      expect(res.status).toBe(201);
      expect(res.headers['x-request-id']).toBe('req-create-acme-1');
      expect(res.headers.etag).toBe('"1"');
      expect(res.headers.location).toBe('/v1/admin/control/tenants/acme');
      expect(res.body).toMatchObject({ tenant_id: 'acme', display_name: 'Acme Corp', tier: 'growth', status: 'active', metadata: { region: 'eu' }, revision: 1 });

      const got = await api.get('/v1/admin/control/tenants/acme').set(t.auth);
      expect(got.status).toBe(200);
      expect(got.headers.etag).toBe('"1"');
      expect(got.body).toEqual(res.body);

      const [event] = await t.service.infra.store.readStream(tenantStreamId('acme'));
      expect(event!.type).toBe('TenantCreated');
      expect(event!.tenantId).toBe('acme');
      expect(event!.metadata.actor).toMatchObject({ type: 'operator', id: 'op_bootstrap_owner' });
      expect(event!.metadata.request_id).toBe('req-create-acme-1');
      expect(event!.metadata.correlation_id).toBe('req-create-acme-1');
      expect(event!.metadata.command_id).toBeTruthy();
      expect(Date.parse(event!.metadata.occurred_at)).not.toBeNaN();
    });

    it('generates a request id when none (or a malformed one) is given', async () => {
      const res = await api.get('/v1/admin/control/tenants/acme').set(t.auth).set('X-Request-Id', 'bad id with spaces');
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('answers 409 for an existing id and writes nothing', async () => {
      const before = await eventCount();
      const res = await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'acme' });
      expectProblem(res, 409, 'tenant_already_exists');
      expect(res.body.tenant_id).toBe('acme');
      expect(await eventCount()).toBe(before);
    });

    it('answers 404 tenant_not_found for an unknown tenant', async () => {
      expectProblem(await api.get('/v1/admin/control/tenants/nobody-here').set(t.auth), 404, 'tenant_not_found');
      expectProblem(await api.patch('/v1/admin/control/tenants/nobody-here').set(t.auth).set(json).send({ display_name: 'x' }), 404, 'tenant_not_found');
      expectProblem(await api.post('/v1/admin/control/tenants/nobody-here/suspend').set(t.auth), 404, 'tenant_not_found');
    });

    it('replays a request with the same Idempotency-Key without writing again', async () => {
      const key = `idem-${randomUUID()}`;
      const first = await api.post('/v1/admin/control/tenants').set(t.auth).set('Idempotency-Key', key).set(json).send({ tenant_id: 'idem-co' });
      expect(first.status).toBe(201);
      const before = await eventCount();
      const again = await api.post('/v1/admin/control/tenants').set(t.auth).set('Idempotency-Key', key).set(json).send({ tenant_id: 'idem-co' });
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);
      expect(await eventCount()).toBe(before);
    });
  });

  describe('bad input gets a clear error and loses nothing', () => {
    const cases: [string, () => request.Test, number, string][] = [
      ['an invalid tenant id', () => api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'Bad.ID' }), 400, 'validation_failed'],
      ['a too-short tenant id', () => api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'ab' }), 400, 'validation_failed'],
      ['an unknown field', () => api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'fine-id', status: 'active' }), 400, 'validation_failed'],
      ['an unknown tier', () => api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'fine-id', tier: 'platinum' }), 400, 'validation_failed'],
      ['metadata that is not an object', () => api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'fine-id', metadata: [1, 2] }), 400, 'validation_failed'],
      ['malformed JSON', () => api.post('/v1/admin/control/tenants').set(t.auth).set(json).send('{"tenant_id": '), 400, 'invalid_json'],
      ['an unpaired surrogate in a string', () => api.post('/v1/admin/control/tenants').set(t.auth).set(json).send('{"tenant_id":"surrogate","display_name":"a\\ud800b"}'), 400, 'invalid_json'],
      ['a NUL character in a key', () => api.post('/v1/admin/control/tenants').set(t.auth).set(json).send('{"tenant_id":"nul-key","metadata":{"k\\u0000":1}}'), 400, 'invalid_json'],
      ['a non-JSON content type', () => api.post('/v1/admin/control/tenants').set(t.auth).set('Content-Type', 'text/plain').send('tenant_id=x'), 415, 'unsupported_media_type'],
      ['an oversized body', () => api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'big-one', display_name: 'x'.repeat(2_000_000) }), 413, 'payload_too_large'],
      ['no body at all', () => api.post('/v1/admin/control/tenants').set(t.auth), 400, 'validation_failed'],
      ['an empty PATCH', () => api.patch('/v1/admin/control/tenants/acme').set(t.auth).set(json).send({}), 400, 'validation_failed'],
      ['a malformed If-Match', () => api.patch('/v1/admin/control/tenants/acme').set(t.auth).set('If-Match', 'yesterday').set(json).send({ display_name: 'y' }), 400, 'validation_failed'],
      ['a bad list filter', () => api.get('/v1/admin/control/tenants?status=deleted').set(t.auth), 400, 'validation_failed'],
      ['an unknown query parameter', () => api.get('/v1/admin/control/tenants?tennant=acme').set(t.auth), 400, 'validation_failed'],
      ['a forged cursor', () => api.get('/v1/admin/control/tenants?cursor=not-a-cursor').set(t.auth), 400, 'validation_failed'],
      ['an unknown route', () => api.get('/v1/admin/control/nothing').set(t.auth), 404, 'route_not_found'],
    ];
    it.each(cases)('rejects %s', async (_name, send, status, code) => {
      const before = await eventCount();
      const res = await send();
      expectProblem(res, status, code);
      expect(await eventCount()).toBe(before);
    });

    it('lists every bad field at once', async () => {
      const res = await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'X', tier: 'gold', extra: true });
      expectProblem(res, 400, 'validation_failed');
      const fields = (res.body.errors as { field: string }[]).map((e) => e.field).sort();
      expect(fields).toEqual(['body', 'body.tenant_id', 'body.tier']);
    });
  });

  describe('update, suspend, reactivate', () => {
    beforeAll(async () => {
      await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'beta', display_name: 'Beta' }).expect(201);
    });

    it('updates with If-Match, refuses a stale If-Match with 412, and skips no-op updates', async () => {
      const ok = await api.patch('/v1/admin/control/tenants/beta').set(t.auth).set('If-Match', '"1"').set(json).send({ display_name: 'Beta GmbH' });
      expect(ok.status).toBe(200);
      expect(ok.headers.etag).toBe('"2"');
      expect(ok.body.display_name).toBe('Beta GmbH');

      const before = await eventCount();
      const stale = await api.patch('/v1/admin/control/tenants/beta').set(t.auth).set('If-Match', '"1"').set(json).send({ display_name: 'Lost update' });
      expectProblem(stale, 412, 'precondition_failed');
      expect(stale.body.current_revision).toBe(2);
      expect(await eventCount()).toBe(before);

      const same = await api.patch('/v1/admin/control/tenants/beta').set(t.auth).set(json).send({ display_name: 'Beta GmbH' });
      expect(same.status).toBe(200);
      expect(same.headers.etag).toBe('"2"');
      expect(await eventCount()).toBe(before);

      const got = await api.get('/v1/admin/control/tenants/beta').set(t.auth);
      expect(got.body.display_name).toBe('Beta GmbH');
    });

    it('suspends once (a second suspend is a 409), reactivates once, and an update never resets the status', async () => {
      const s = await api.post('/v1/admin/control/tenants/beta/suspend').set(t.auth).set(json).send({ reason: 'unpaid invoice' });
      expect(s.status).toBe(200);
      expect(s.body).toMatchObject({ status: 'suspended', suspension_reason: 'unpaid invoice' });
      expect(s.body.suspended_at).toBeTruthy();

      expectProblem(await api.post('/v1/admin/control/tenants/beta/suspend').set(t.auth), 409, 'tenant_already_suspended');

      const upd = await api.patch('/v1/admin/control/tenants/beta').set(t.auth).set(json).send({ metadata: { note: 'still suspended' } });
      expect(upd.body.status).toBe('suspended');

      const listed = await api.get('/v1/admin/control/tenants?status=suspended').set(t.auth);
      expect(listed.body.items.map((x: { tenant_id: string }) => x.tenant_id)).toEqual(['beta']);

      const r = await api.post('/v1/admin/control/tenants/beta/reactivate').set(t.auth).set(json).send({ reason: 'paid' });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ status: 'active', suspended_at: null, suspension_reason: null });
      expectProblem(await api.post('/v1/admin/control/tenants/beta/reactivate').set(t.auth), 409, 'tenant_not_suspended');

      const types = (await t.service.infra.store.readStream(tenantStreamId('beta'))).map((e) => e.type);
      expect(types).toEqual(['TenantCreated', 'TenantUpdated', 'TenantSuspended', 'TenantUpdated', 'TenantReactivated']);
    });

    it('lets exactly one of two concurrent If-Match updates win', async () => {
      const head = await api.get('/v1/admin/control/tenants/beta').set(t.auth);
      const etag = head.headers.etag as string;
      const [a, b] = await Promise.all([
        api.patch('/v1/admin/control/tenants/beta').set(t.auth).set('If-Match', etag).set(json).send({ display_name: 'A' }),
        api.patch('/v1/admin/control/tenants/beta').set(t.auth).set('If-Match', etag).set(json).send({ display_name: 'B' }),
      ]);
      expect([a.status, b.status].sort()).toEqual([200, 412]);
    });
  });

  describe('listing', () => {
    it('pages with a cursor, in id order, without duplicates or gaps', async () => {
      for (const id of ['list-a', 'list-b', 'list-c', 'list-d', 'list-e']) {
        await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id }).expect(201);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: request.Response = await api
          .get('/v1/admin/control/tenants')
          .query({ limit: 2, ...(cursor ? { cursor } : {}) })
          .set(t.auth);
        expect(res.status).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.items.map((x: { tenant_id: string }) => x.tenant_id));
        cursor = res.body.next_cursor;
        pages += 1;
      } while (cursor && pages < 50);
      expect(seen).toEqual([...seen].sort());
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(expect.arrayContaining(['acme', 'beta', 'list-a', 'list-b', 'list-c', 'list-d', 'list-e']));
    });
  });

  describe('operations endpoints', () => {
    it('serves liveness, readiness, OpenAPI and Prometheus metrics', async () => {
      expect((await api.get('/health/live')).body).toEqual({ status: 'ok' });
      const ready = await api.get('/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('ready');
      expect(ready.body.projections.map((p: { projection: string }) => p.projection)).toEqual(expect.arrayContaining(['operators', 'tenants', 'projects', 'api_keys', 'audit']));
      const doc = await api.get('/docs-json');
      expect(doc.status).toBe(200);
      expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/admin/control/tenants', '/v1/admin/control/tenants/{tenant_id}', '/health/ready']));
      expect((await api.get('/docs/')).status).toBe(200);
      await sleep(50);
      const metrics = await api.get('/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.text).toMatch(/aionis_http_requests_total\{[^}]*route="\/v1\/admin\/control\/tenants"[^}]*status="201"/);
      expect(metrics.text).toMatch(/aionis_event_store_appends_total\{[^}]*outcome="ok"/);
      expect(metrics.text).toMatch(/aionis_projection_lag_events\{[^}]*projection="tenants"/);
      expect(metrics.text).toMatch(/aionis_projection_lag_ms\{[^}]*projection="tenants"/);
      expect(metrics.text).toMatch(/aionis_projection_events_applied_total\{[^}]*projection="tenants"/);
    });
  });
});
