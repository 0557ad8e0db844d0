import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import request from 'supertest';
import { hashToken, tokenHint } from '../../src/control-plane/operators/credentials';
import { EffectiveQuotaService } from '../../src/control-plane/quotas/effective-quota.service';
import { QUOTA_EVENT_TYPES } from '../../src/control-plane/quotas/quota.domain';
import { QUOTA_FIELDS, TIER_QUOTAS } from '../../src/control-plane/quotas/tiers';
import { operatorStreamId, quotaStreamId, tenantStreamId } from '../../src/control-plane/shared/ids';
import { TENANT_EVENT_TYPES } from '../../src/control-plane/tenants/tenant.domain';
import { ProjectionsService } from '../../src/platform/projections/projections.service';
import { startTestService, TEST_PEPPER, type TestService } from '../support/service';

const json = { 'Content-Type': 'application/json' };
const quota = (tenantId: string) => `/v1/admin/control/tenants/${tenantId}/quota`;
const tier = (tenantId: string) => `/v1/admin/control/tenants/${tenantId}/tier`;

describe('quotas and tiers API (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;

  beforeAll(async () => {
    t = await startTestService();
    api = request(t.url);
    for (const [tenant_id, tierName] of [
      ['q-acme', 'starter'],
      ['q-beta', 'growth'],
      ['q-gamma', 'starter'],
    ] as const) {
      await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id, tier: tierName }).expect(201);
    }
  });
  afterAll(async () => {
    await t.stop();
  });

  async function eventCount(): Promise<number> {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(t.tdb.database.db);
    return r.rows[0]!.n;
  }

  async function headPosition(): Promise<number> {
    const r = await sql<{ p: number }>`SELECT coalesce(max(global_position), 0)::int AS p FROM es_events`.execute(t.tdb.database.db);
    return r.rows[0]!.p;
  }

  async function eventsSince(position: number): Promise<{ stream_id: string; type: string }[]> {
    const r = await sql<{ stream_id: string; type: string }>`SELECT stream_id, type FROM es_events WHERE global_position > ${position} ORDER BY global_position`.execute(t.tdb.database.db);
    return r.rows;
  }

  function expectProblem(res: request.Response, status: number, code: string): void {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status, code, type: `urn:aionis:problem:${code}` });
    expect(res.body.request_id).toBe(res.headers['x-request-id']);
  }

  /** An operator of the given role, created straight in the event store (as tenants.e2e-spec does). */
  async function operatorToken(role: 'auditor' | 'operator'): Promise<{ token: string; id: string }> {
    const token = `aio_admin_${role}-${randomUUID()}`;
    const id = `op_${role}_${randomUUID().slice(0, 8)}`;
    const r = await t.service.infra.store.append(
      operatorStreamId(id),
      [{ type: 'OperatorCreated', data: { operator_id: id, display_name: role, role, token_hash: hashToken(TEST_PEPPER, token), token_hint: tokenHint(token), bootstrap: false } }],
      {
        expectedRevision: 'no_stream',
        tenantId: null,
        metadata: { actor: { type: 'system', id: 'test' }, occurred_at: new Date().toISOString(), correlation_id: randomUUID(), causation_id: null, request_id: null, command_id: null },
      },
    );
    await t.service.app.get(ProjectionsService).waitFor('operators', r.position, 5000);
    return { token, id };
  }

  it('shows a new tenant its tier defaults, nothing overridden, revision 0', async () => {
    const res = await api.get(quota('q-acme')).set(t.auth);
    expect(res.status).toBe(200);
    expect(res.headers.etag).toBe('"0"');
    expect(res.body).toEqual({
      tenant_id: 'q-acme',
      tier: 'starter',
      values: TIER_QUOTAS.starter,
      overridden: [],
      source: Object.fromEntries(QUOTA_FIELDS.map((f) => [f, 'tier'])),
      tier_defaults: TIER_QUOTAS.starter,
      revision: 0,
    });
  });

  it('sets overrides (the answer and a GET right after show them as overridden), with the operator as actor', async () => {
    const put = await api.put(quota('q-acme')).set(t.auth).set('X-Request-Id', 'req-quota-1').set(json).send({ write_rps: 40, monthly_operations: 5_000_000 });
    expect(put.status).toBe(200);
    expect(put.headers.etag).toBe('"1"');
    expect(put.headers['x-aionis-read-model']).toBeUndefined();
    expect(put.body).toMatchObject({
      tenant_id: 'q-acme',
      tier: 'starter',
      values: { ...TIER_QUOTAS.starter, write_rps: 40, monthly_operations: 5_000_000 },
      overridden: ['write_rps', 'monthly_operations'],
      source: { write_rps: 'override', monthly_operations: 'override', recall_rps: 'tier' },
      revision: 1,
    });

    const got = await api.get(quota('q-acme')).set(t.auth);
    expect(got.status).toBe(200);
    expect(got.headers.etag).toBe('"1"');
    expect(got.body).toEqual(put.body);

    // The data plane's view is the same.
    expect(await t.service.app.get(EffectiveQuotaService).get('q-acme')).toEqual(put.body);
    expect(await t.service.app.get(EffectiveQuotaService).get('nobody-here')).toBeUndefined();

    const [event] = await t.service.infra.store.readStream(quotaStreamId('q-acme'));
    expect(event).toMatchObject({ type: 'TenantQuotaOverridesSet', tenantId: 'q-acme', data: { tenant_id: 'q-acme', overrides: { write_rps: 40, monthly_operations: 5_000_000 } } });
    expect(event!.metadata.actor).toMatchObject({ type: 'operator', id: 'op_bootstrap_owner' });
    expect(event!.metadata.request_id).toBe('req-quota-1');
  });

  it('writes nothing when the same set is sent again, and honours If-Match', async () => {
    const before = await eventCount();
    const same = await api.put(quota('q-acme')).set(t.auth).set(json).send({ monthly_operations: 5_000_000, write_rps: 40 });
    expect(same.status).toBe(200);
    expect(same.headers.etag).toBe('"1"');
    expect(await eventCount()).toBe(before);

    const stale = await api.put(quota('q-acme')).set(t.auth).set('If-Match', '"0"').set(json).send({ write_rps: 41 });
    expectProblem(stale, 412, 'precondition_failed');
    expect(stale.body.current_revision).toBe(1);
    expect(await eventCount()).toBe(before);

    const ok = await api.put(quota('q-acme')).set(t.auth).set('If-Match', '"1"').set(json).send({ write_rps: 41, recall_burst: 500 });
    expect(ok.status).toBe(200);
    expect(ok.headers.etag).toBe('"2"');
    // Replaced, not merged: monthly_operations is back to the tier default.
    expect(ok.body.overridden).toEqual(['write_rps', 'recall_burst']);
    expect(ok.body.values.monthly_operations).toBe(TIER_QUOTAS.starter.monthly_operations);
  });

  it('follows a tier change while the overrides stay', async () => {
    const changed = await api.put(tier('q-acme')).set(t.auth).set(json).send({ tier: 'enterprise' });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ tenant_id: 'q-acme', tier: 'enterprise', revision: 2 });
    expect(changed.headers.etag).toBe('"2"');

    const got = await api.get(quota('q-acme')).set(t.auth);
    expect(got.body.tier).toBe('enterprise');
    expect(got.body.values).toEqual({ ...TIER_QUOTAS.enterprise, write_rps: 41, recall_burst: 500 });
    expect(got.body.overridden).toEqual(['write_rps', 'recall_burst']);
    expect(got.body.tier_defaults).toEqual(TIER_QUOTAS.enterprise);
    expect(got.headers.etag).toBe('"2"');

    const tenant = await api.get('/v1/admin/control/tenants/q-acme').set(t.auth);
    expect(tenant.body.tier).toBe('enterprise');
    const events = await t.service.infra.store.readStream(tenantStreamId('q-acme'));
    expect(events.at(-1)).toMatchObject({ type: 'TenantTierChanged', data: { tenant_id: 'q-acme', from: 'starter', to: 'enterprise' } });
    expect(events.at(-1)!.metadata.actor).toMatchObject({ type: 'operator', id: 'op_bootstrap_owner' });
  });

  it('changes tier with If-Match, writes nothing for the same tier, and lets a suspended tenant change tier', async () => {
    const before = await eventCount();
    const same = await api.put(tier('q-beta')).set(t.auth).set(json).send({ tier: 'growth' });
    expect(same.status).toBe(200);
    expect(same.headers.etag).toBe('"1"');
    expect(await eventCount()).toBe(before);

    expectProblem(await api.put(tier('q-beta')).set(t.auth).set('If-Match', '"7"').set(json).send({ tier: 'starter' }), 412, 'precondition_failed');
    expect(await eventCount()).toBe(before);

    await api.post('/v1/admin/control/tenants/q-beta/suspend').set(t.auth).expect(200);
    const down = await api.put(tier('q-beta')).set(t.auth).set('If-Match', '"2"').set(json).send({ tier: 'starter' });
    expect(down.status).toBe(200);
    expect(down.body).toMatchObject({ tier: 'starter', status: 'suspended', revision: 3 });
    expect((await api.get(quota('q-beta')).set(t.auth)).body.values).toEqual(TIER_QUOTAS.starter);
  });

  it('clears overrides with DELETE (200 with the effective profile); a second DELETE writes nothing', async () => {
    const del = await api.delete(quota('q-acme')).set(t.auth).set('If-Match', '"2"');
    expect(del.status).toBe(200);
    expect(del.headers.etag).toBe('"3"');
    expect(del.body).toMatchObject({ tier: 'enterprise', values: TIER_QUOTAS.enterprise, overridden: [], revision: 3 });
    expect((await api.get(quota('q-acme')).set(t.auth)).body).toEqual(del.body);

    const before = await eventCount();
    const again = await api.delete(quota('q-acme')).set(t.auth);
    expect(again.status).toBe(200);
    expect(again.headers.etag).toBe('"3"');
    expect(again.body).toEqual(del.body);
    const fresh = await api.delete(quota('q-gamma')).set(t.auth);
    expect(fresh.status).toBe(200);
    expect(fresh.body).toMatchObject({ values: TIER_QUOTAS.starter, overridden: [], revision: 0 });
    const empty = await api.put(quota('q-gamma')).set(t.auth).set(json).send({});
    expect(empty.status).toBe(200);
    expect(empty.headers.etag).toBe('"0"');
    expect(await eventCount()).toBe(before);

    const types = (await t.service.infra.store.readStream(quotaStreamId('q-acme'))).map((e) => e.type);
    expect(types).toEqual(['TenantQuotaOverridesSet', 'TenantQuotaOverridesSet', 'TenantQuotaOverridesCleared']);
  });

  it('replays a PUT with the same Idempotency-Key without writing again', async () => {
    const key = `idem-${randomUUID()}`;
    const first = await api.put(quota('q-gamma')).set(t.auth).set('Idempotency-Key', key).set(json).send({ admin_rps: 9 });
    expect(first.status).toBe(200);
    const before = await eventCount();
    const again = await api.put(quota('q-gamma')).set(t.auth).set('Idempotency-Key', key).set(json).send({ admin_rps: 9 });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await eventCount()).toBe(before);
  });

  describe('bad input gets a clear error and writes nothing', () => {
    const cases: [string, () => request.Test, number, string][] = [
      ['a negative value', () => api.put(quota('q-acme')).set(t.auth).set(json).send({ write_rps: -5 }), 400, 'validation_failed'],
      ['zero', () => api.put(quota('q-acme')).set(t.auth).set(json).send({ admin_burst: 0 }), 400, 'validation_failed'],
      ['an absurd value above the maximum', () => api.put(quota('q-acme')).set(t.auth).set(json).send({ monthly_operations: 1e15 }), 400, 'validation_failed'],
      // 1e400 is not a finite number: refused by the JSON reader itself, before validation.
      ['a huge number', () => api.put(quota('q-acme')).set(t.auth).set(json).send('{"max_stored_nodes": 1e400}'), 400, 'invalid_json'],
      ['a fraction', () => api.put(quota('q-acme')).set(t.auth).set(json).send({ recall_rps: 2.5 }), 400, 'validation_failed'],
      ['a string', () => api.put(quota('q-acme')).set(t.auth).set(json).send({ write_rps: '40' }), 400, 'validation_failed'],
      ['null', () => api.put(quota('q-acme')).set(t.auth).set(json).send({ write_rps: null }), 400, 'validation_failed'],
      ['an unknown field', () => api.put(quota('q-acme')).set(t.auth).set(json).send({ write_rps: 40, writes_per_second: 40 }), 400, 'validation_failed'],
      ['an array body', () => api.put(quota('q-acme')).set(t.auth).set(json).send([{ write_rps: 40 }]), 400, 'validation_failed'],
      ['a scalar body', () => api.put(quota('q-acme')).set(t.auth).set(json).send('42'), 400, 'invalid_json'],
      ['no body', () => api.put(quota('q-acme')).set(t.auth), 400, 'validation_failed'],
      ['a nested object', () => api.put(quota('q-acme')).set(t.auth).set(json).send({ overrides: { write_rps: 40 } }), 400, 'validation_failed'],
      ['an invalid tenant id', () => api.put(quota('Bad.Id')).set(t.auth).set(json).send({ write_rps: 40 }), 400, 'validation_failed'],
      ['overrides for an unknown tenant', () => api.put(quota('nobody-here')).set(t.auth).set(json).send({ write_rps: 40 }), 404, 'tenant_not_found'],
      ['clearing an unknown tenant', () => api.delete(quota('nobody-here')).set(t.auth), 404, 'tenant_not_found'],
      ['reading an unknown tenant', () => api.get(quota('nobody-here')).set(t.auth), 404, 'tenant_not_found'],
      ['a malformed If-Match', () => api.put(quota('q-acme')).set(t.auth).set('If-Match', 'latest').set(json).send({ write_rps: 40 }), 400, 'validation_failed'],
      ['an unknown tier', () => api.put(tier('q-acme')).set(t.auth).set(json).send({ tier: 'platinum' }), 400, 'validation_failed'],
      ['a tier body with extra fields', () => api.put(tier('q-acme')).set(t.auth).set(json).send({ tier: 'growth', reason: 'x' }), 400, 'validation_failed'],
      ['a tier change of an unknown tenant', () => api.put(tier('nobody-here')).set(t.auth).set(json).send({ tier: 'growth' }), 404, 'tenant_not_found'],
    ];
    it.each(cases)('rejects %s', async (_name, send, status, code) => {
      const before = await eventCount();
      const res = await send();
      expectProblem(res, status, code);
      expect(await eventCount()).toBe(before);
    });

    it('lists every bad field at once', async () => {
      const res = await api.put(quota('q-acme')).set(t.auth).set(json).send({ write_rps: -1, recall_rps: 'fast', monthly_operations: 1e15, telemetry_retention_days: 1.5, bogus: 1 });
      expectProblem(res, 400, 'validation_failed');
      const errors = res.body.errors as { field: string; message: string }[];
      expect(errors.map((e) => e.field).sort()).toEqual(['body', 'body.monthly_operations', 'body.recall_rps', 'body.telemetry_retention_days', 'body.write_rps']);
      expect(errors.find((e) => e.field === 'body.write_rps')!.message).toBe('must be at least 1');
      expect(errors.find((e) => e.field === 'body.monthly_operations')!.message).toBe('must be at most 10000000000');
    });

    it('left the overrides as they were', async () => {
      const got = await api.get(quota('q-acme')).set(t.auth);
      expect(got.body).toMatchObject({ overridden: [], revision: 3 });
    });
  });

  describe('roles', () => {
    it('lets an auditor read the quota but not change it or the tier', async () => {
      const { token } = await operatorToken('auditor');
      const auth = { Authorization: `Bearer ${token}` };
      expect((await api.get(quota('q-acme')).set(auth)).status).toBe(200);
      const since = await headPosition();
      expectProblem(await api.put(quota('q-acme')).set(auth).set(json).send({ write_rps: 40 }), 403, 'forbidden');
      expectProblem(await api.delete(quota('q-acme')).set(auth), 403, 'forbidden');
      expectProblem(await api.put(tier('q-acme')).set(auth).set(json).send({ tier: 'growth' }), 403, 'forbidden');
      // Nothing was changed (a refusal may itself be audited, but on no quota or tenant stream).
      const written = await eventsSince(since);
      expect(written.filter((e) => e.stream_id === quotaStreamId('q-acme') || e.stream_id === tenantStreamId('q-acme'))).toEqual([]);
      expect(written.map((e) => e.type).filter((type) => (QUOTA_EVENT_TYPES as readonly string[]).includes(type) || (TENANT_EVENT_TYPES as readonly string[]).includes(type))).toEqual([]);
    });

    it('records the acting operator on quota and tier events', async () => {
      const { token, id } = await operatorToken('operator');
      const auth = { Authorization: `Bearer ${token}` };
      expect((await api.put(quota('q-gamma')).set(auth).set(json).send({ telemetry_retention_days: 14 })).status).toBe(200);
      expect((await api.put(tier('q-gamma')).set(auth).set(json).send({ tier: 'growth' })).status).toBe(200);
      const q = (await t.service.infra.store.readStream(quotaStreamId('q-gamma'))).at(-1)!;
      const tt = (await t.service.infra.store.readStream(tenantStreamId('q-gamma'))).at(-1)!;
      expect(q.metadata.actor).toMatchObject({ type: 'operator', id });
      expect(tt.metadata.actor).toMatchObject({ type: 'operator', id });
      const got = await api.get(quota('q-gamma')).set(t.auth);
      expect(got.body).toMatchObject({ tier: 'growth', overridden: ['telemetry_retention_days'], values: { ...TIER_QUOTAS.growth, telemetry_retention_days: 14 } });
    });

    it('refuses requests without a token', async () => {
      expectProblem(await api.get(quota('q-acme')), 401, 'unauthorized');
      expectProblem(await api.put(quota('q-acme')).set(json).send({ write_rps: 40 }), 401, 'unauthorized');
    });
  });

  it('runs the quotas projection and documents the endpoints', async () => {
    const ready = await api.get('/health/ready');
    expect(ready.body.projections.map((p: { projection: string }) => p.projection)).toContain('quotas');
    const doc = await api.get('/docs-json');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/admin/control/tenants/{tenant_id}/quota', '/v1/admin/control/tenants/{tenant_id}/tier']));
  });
});
