import { sql } from 'kysely';
import request from 'supertest';
import { generateApiKey, parseApiKey } from '../../src/control-plane/api-keys/key-format';
import { KeyVerifier } from '../../src/control-plane/api-keys/key-verifier';
import { apiKeyStreamId } from '../../src/control-plane/shared/ids';
import { startTestService, type TestService } from '../support/service';

const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('API keys (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;

  beforeAll(async () => {
    t = await startTestService();
    api = request(t.url);
    for (const id of ['keyco', 'otherco']) await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id }).expect(201);
    await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'keyco', project_id: 'keyco-app' }).expect(201);
    await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'otherco', project_id: 'otherco-app' }).expect(201);
  });
  afterAll(async () => {
    await t.stop();
  });

  async function eventCount(): Promise<number> {
    return (await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(t.tdb.database.db)).rows[0]!.n;
  }
  async function createKey(body: Record<string, unknown> = {}): Promise<{ key: { key_id: string } & Record<string, unknown>; api_key: string }> {
    const res = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'keyco', ...body });
    expect(res.status).toBe(201);
    return res.body;
  }
  const whoami = (key: string, header: 'x-api-key' | 'bearer' = 'x-api-key') =>
    header === 'x-api-key' ? api.get('/v1/auth/whoami').set('x-api-key', key) : api.get('/v1/auth/whoami').set('Authorization', `Bearer ${key}`);

  function expectUnauthorized(res: request.Response): void {
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const { request_id: _r, ...rest } = res.body;
    expect(rest).toEqual({
      type: 'urn:aionis:problem:unauthorized',
      title: 'Authentication required',
      status: 401,
      detail: 'a valid API key is required',
      instance: '/v1/auth/whoami',
      code: 'unauthorized',
    });
  }

  it('creates a key whose plaintext is shown once, in the documented format, and that authenticates by either header', async () => {
    const { key, api_key } = await createKey({ project_id: 'keyco-app', label: 'agent one', scopes: ['memory:read'] });
    expect(api_key).toMatch(/^aio_live_k[a-z2-7]{19}_[A-Za-z0-9_-]{43}[0-9a-f]{8}$/);
    expect(parseApiKey(api_key)?.keyId).toBe(key.key_id);
    expect(key).toMatchObject({ tenant_id: 'keyco', project_id: 'keyco-app', agent_id: null, team_id: null, label: 'agent one', scopes: ['memory:read'], status: 'active', state: 'active' });
    expect(key).not.toHaveProperty('secret_hash');
    expect(key.display).toBe(`aio_live_${key.key_id}_…${api_key.slice(-4)}`);
    for (const h of ['x-api-key', 'bearer'] as const) {
      const me = await whoami(api_key, h);
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ tenant_id: 'keyco', project_id: 'keyco-app', agent_id: null, team_id: null, key_id: key.key_id, key_display: key.display, scopes: ['memory:read'] });
    }
    const got = await api.get(`/v1/admin/control/api-keys/${key.key_id}`).set(t.auth);
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.body)).not.toContain(api_key.slice(30));
    // The secret is nowhere in the log: only its digest, which no view shows.
    const events = await t.service.infra.store.readStream(apiKeyStreamId(key.key_id));
    expect(JSON.stringify(events)).not.toContain(parseApiKey(api_key)!.secret);
  });

  it('refuses unknown, malformed, wrong-secret and revoked keys with the same 401 body', async () => {
    const { key, api_key } = await createKey();
    const forged = generateApiKey('live', key.key_id).token; // right id, right checksum, wrong secret
    const unknown = generateApiKey('live').token;
    const malformed = `${api_key.slice(0, -1)}${api_key.endsWith('0') ? '1' : '0'}`; // checksum broken
    for (const bad of [forged, unknown, malformed, 'not-a-key']) expectUnauthorized(await whoami(bad));
    expectUnauthorized(await api.get('/v1/auth/whoami'));
    const revoke = await api.post(`/v1/admin/control/api-keys/${key.key_id}/revoke`).set(t.auth).set(json).send({ reason: 'test' });
    expect(revoke.status).toBe(200);
    expect(revoke.body).toMatchObject({ status: 'revoked', state: 'revoked', revocation_reason: 'test' });
    // The instance that served the revoke refuses the key as soon as it has answered.
    expectUnauthorized(await whoami(api_key));
    expect((await api.post(`/v1/admin/control/api-keys/${key.key_id}/revoke`).set(t.auth)).body.code).toBe('api_key_revoked');
    const metrics = await api.get('/metrics');
    for (const reason of ['wrong_secret', 'unknown_key', 'malformed', 'missing', 'revoked']) {
      expect(metrics.text).toMatch(new RegExp(`aionis_api_key_rejections_total\\{[^}]*reason="${reason}"`));
    }
    expect(metrics.text).not.toContain(api_key);
  });

  it('stops keys of a suspended tenant and an archived project, and honours expiry and allowed CIDRs', async () => {
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'pauseco' }).expect(201);
    const tk = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'pauseco' })).body.api_key as string;
    expect((await whoami(tk)).status).toBe(200);
    await api.post('/v1/admin/control/tenants/pauseco/suspend').set(t.auth).expect(200);
    expectUnauthorized(await whoami(tk));
    await api.post('/v1/admin/control/tenants/pauseco/reactivate').set(t.auth).expect(200);
    expect((await whoami(tk)).status).toBe(200);

    await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'keyco', project_id: 'keyco-old' }).expect(201);
    const pk = (await createKey({ project_id: 'keyco-old' })).api_key;
    expect((await whoami(pk)).status).toBe(200);
    await api.post('/v1/admin/control/projects/keyco-old/archive').set(t.auth).expect(200);
    expectUnauthorized(await whoami(pk));
    expect((await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'keyco', project_id: 'keyco-old' })).body.code).toBe('project_archived');

    const soon = new Date(Date.now() + 1500).toISOString();
    const ek = (await createKey({ expires_at: soon })).api_key;
    expect((await whoami(ek)).status).toBe(200);
    await sleep(1700);
    expectUnauthorized(await whoami(ek));

    const ck = (await createKey({ allowed_cidrs: ['10.0.0.0/8'] })).api_key;
    expectUnauthorized(await whoami(ck));
    const lk = (await createKey({ allowed_cidrs: ['10.0.0.0/8', '127.0.0.0/8', '::1/128'] })).api_key;
    expect((await whoami(lk)).status).toBe(200);
  });

  it('rotates: the new key works at once, the old one until its grace ends; rotating twice or a revoked key fails', async () => {
    const { key, api_key: oldKey } = await createKey({ project_id: 'keyco-app', scopes: ['memory:read', 'memory:write'] });
    const rot = await api.post(`/v1/admin/control/api-keys/${key.key_id}/rotate`).set(t.auth).set(json).send({ grace_seconds: 2 });
    expect(rot.status).toBe(201);
    const newKey = rot.body.api_key as string;
    expect(rot.body.key).toMatchObject({ tenant_id: 'keyco', project_id: 'keyco-app', scopes: ['memory:read', 'memory:write'], rotated_from: key.key_id });
    expect(rot.body.previous).toMatchObject({ key_id: key.key_id, state: 'in_grace', successor_key_id: rot.body.key.key_id });
    expect((await whoami(newKey)).status).toBe(200);
    expect((await whoami(oldKey)).status).toBe(200);
    expect((await api.post(`/v1/admin/control/api-keys/${key.key_id}/rotate`).set(t.auth).set(json).send({})).body.code).toBe('concurrency_conflict');
    await sleep(2200);
    expectUnauthorized(await whoami(oldKey));
    expect((await whoami(newKey)).status).toBe(200);
    const revoked = await createKey();
    await api.post(`/v1/admin/control/api-keys/${revoked.key.key_id}/revoke`).set(t.auth).expect(200);
    expect((await api.post(`/v1/admin/control/api-keys/${revoked.key.key_id}/rotate`).set(t.auth).set(json).send({})).body.code).toBe('api_key_revoked');
  });

  it('ends a rotate racing a revoke with both keys revoked', async () => {
    for (let round = 0; round < 5; round++) {
      const { key } = await createKey();
      const [rot, rev] = await Promise.all([
        api.post(`/v1/admin/control/api-keys/${key.key_id}/rotate`).set(t.auth).set(json).send({ grace_seconds: 600 }),
        api.post(`/v1/admin/control/api-keys/${key.key_id}/revoke`).set(t.auth).set(json).send({ reason: 'leaked' }),
      ]);
      expect(rev.status).toBe(200);
      const old = await api.get(`/v1/admin/control/api-keys/${key.key_id}`).set(t.auth);
      expect(old.body.status).toBe('revoked');
      if (rot.status === 201) {
        const succ = await api.get(`/v1/admin/control/api-keys/${rot.body.key.key_id}`).set(t.auth);
        expect(succ.body.status).toBe('revoked');
        expectUnauthorized(await whoami(rot.body.api_key as string));
      } else {
        expect(['api_key_revoked', 'concurrency_conflict']).toContain(rot.body.code);
      }
      // No active key is left in that lineage.
      const all = await api.get('/v1/admin/control/api-keys?tenant_id=keyco&status=active&limit=200').set(t.auth);
      expect(all.body.items.filter((k: { rotated_from: string | null }) => k.rotated_from === key.key_id)).toEqual([]);
    }
  });

  it('ends only the grace when the old key is revoked well after its rotation', async () => {
    const { key, api_key: oldKey } = await createKey();
    const rot = await api.post(`/v1/admin/control/api-keys/${key.key_id}/rotate`).set(t.auth).set(json).send({ grace_seconds: 600 });
    await sleep(2300); // past the race window
    await api.post(`/v1/admin/control/api-keys/${key.key_id}/revoke`).set(t.auth).set(json).send({ reason: 'grace no longer needed' }).expect(200);
    expectUnauthorized(await whoami(oldKey));
    expect((await whoami(rot.body.api_key as string)).status).toBe(200);
  });

  it('binds a key to an agent and a team: whoami, list and get show them, a rotation keeps them, nothing changes them', async () => {
    const AGENT = 'agent:support-bot/eu@keyco';
    const TEAM = 'team.support_1';
    const { key, api_key } = await createKey({ project_id: 'keyco-app', agent_id: `  ${AGENT} `, team_id: TEAM, label: 'bound' });
    expect(key).toMatchObject({ agent_id: AGENT, team_id: TEAM, project_id: 'keyco-app' });
    const me = await whoami(api_key);
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ tenant_id: 'keyco', project_id: 'keyco-app', agent_id: AGENT, team_id: TEAM, key_id: key.key_id, key_display: key.display, scopes: ['memory:read', 'memory:write'] });
    expect((await whoami(api_key, 'bearer')).body).toMatchObject({ agent_id: AGENT, team_id: TEAM });

    const got = await api.get(`/v1/admin/control/api-keys/${key.key_id}`).set(t.auth);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ key_id: key.key_id, agent_id: AGENT, team_id: TEAM });
    const list = await api.get('/v1/admin/control/api-keys?tenant_id=keyco&limit=200').set(t.auth);
    expect(list.body.items.find((k: { key_id: string }) => k.key_id === key.key_id)).toMatchObject({ agent_id: AGENT, team_id: TEAM });
    // Unbound keys show both as null.
    expect(list.body.items.filter((k: { agent_id: unknown; team_id: unknown }) => k.agent_id === undefined || k.team_id === undefined)).toEqual([]);

    // The binding is in the event (the log is the source of truth), and in the audit trail's view of it.
    const events = await t.service.infra.store.readStream(apiKeyStreamId(key.key_id));
    expect(events[0]).toMatchObject({ type: 'ApiKeyCreated', schemaVersion: 1, data: { agent_id: AGENT, team_id: TEAM } });
    let audit: request.Response | undefined;
    for (let i = 0; i < 50; i++) {
      audit = await api.get('/v1/admin/control/audit-events').query({ resource_type: 'api_key', resource_id: key.key_id, type: 'ApiKeyCreated' }).set(t.auth);
      if (audit.body.items?.length) break;
      await sleep(100);
    }
    expect(audit?.body.items[0].data).toMatchObject({ agent_id: AGENT, team_id: TEAM });
    expect(audit?.body.items[0].data).not.toHaveProperty('secret_hash');

    // Immutable: the update body refuses them (strict schema), and writes nothing.
    const beforePatch = await eventCount();
    for (const body of [{ agent_id: 'someone-else' }, { team_id: 'other-team' }, { label: 'renamed', agent_id: null }]) {
      const res = await api.patch(`/v1/admin/control/api-keys/${key.key_id}`).set(t.auth).set(json).send(body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
    expect(await eventCount()).toBe(beforePatch);
    const renamed = await api.patch(`/v1/admin/control/api-keys/${key.key_id}`).set(t.auth).set(json).send({ label: 'bound (renamed)', metadata: { x: 1 } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ label: 'bound (renamed)', agent_id: AGENT, team_id: TEAM });
    // A rotation body cannot re-bind either.
    expect((await api.post(`/v1/admin/control/api-keys/${key.key_id}/rotate`).set(t.auth).set(json).send({ agent_id: 'x' })).status).toBe(400);

    // Rotation: the successor speaks for the same agent and team.
    const rot = await api.post(`/v1/admin/control/api-keys/${key.key_id}/rotate`).set(t.auth).set(json).send({ grace_seconds: 600, label: 'bound v2' });
    expect(rot.status).toBe(201);
    expect(rot.body.key).toMatchObject({ rotated_from: key.key_id, agent_id: AGENT, team_id: TEAM, project_id: 'keyco-app', label: 'bound v2' });
    const succ = await whoami(rot.body.api_key as string);
    expect(succ.status).toBe(200);
    expect(succ.body).toMatchObject({ tenant_id: 'keyco', project_id: 'keyco-app', agent_id: AGENT, team_id: TEAM, key_id: rot.body.key.key_id });
    expect((await whoami(api_key)).body).toMatchObject({ agent_id: AGENT, team_id: TEAM }); // the old key, in grace
    expect((await api.get(`/v1/admin/control/api-keys/${rot.body.key.key_id}`).set(t.auth)).body).toMatchObject({ agent_id: AGENT, team_id: TEAM });

    // Only one of the two: the other is null.
    const agentOnly = await createKey({ agent_id: 'solo-agent' });
    expect((await whoami(agentOnly.api_key)).body).toMatchObject({ agent_id: 'solo-agent', team_id: null, project_id: null });
    const teamOnly = await createKey({ team_id: 'solo-team', agent_id: null });
    expect((await whoami(teamOnly.api_key)).body).toMatchObject({ agent_id: null, team_id: 'solo-team' });
  });

  it('refuses a bad agent_id or team_id with 400 validation_failed and writes nothing', async () => {
    const before = await eventCount();
    const bad: [Record<string, unknown>, string, string][] = [
      [{ agent_id: '' }, 'body.agent_id', 'must not be empty'],
      [{ agent_id: '   ' }, 'body.agent_id', 'must not be empty'],
      [{ agent_id: 'a'.repeat(129) }, 'body.agent_id', 'must be at most 128 characters'],
      [{ agent_id: 'agent\u0001one' }, 'body.agent_id', 'must not contain control characters'],
      [{ agent_id: 'agent\none' }, 'body.agent_id', 'must not contain control characters'],
      [{ agent_id: 'agent\u007fone' }, 'body.agent_id', 'must not contain control characters'],
      [{ team_id: 'team one' }, 'body.team_id', 'must be 1-128 characters: a letter or digit, then letters, digits, ".", "_", ":", "@", "/" or "-"'],
      [{ team_id: '-team' }, 'body.team_id', 'must be 1-128 characters: a letter or digit, then letters, digits, ".", "_", ":", "@", "/" or "-"'],
      [{ team_id: 7 }, 'body.team_id', expect.any(String) as unknown as string],
    ];
    for (const [body, field, message] of bad) {
      const res = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'keyco', ...body });
      expect({ body, status: res.status, code: res.body.code }).toEqual({ body, status: 400, code: 'validation_failed' });
      expect(res.body.errors).toEqual([{ field, message }]);
    }
    // A NUL never gets that far: the body parser refuses it (jsonb cannot store it), also with a 400.
    expect((await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'keyco', agent_id: 'agent\u0000one' })).status).toBe(400);
    expect(await eventCount()).toBe(before);
  });

  it('binds a key only to a project of its own tenant, and rejects bad input without writing', async () => {
    const before = await eventCount();
    const bad: [Record<string, unknown>, number, string][] = [
      [{ tenant_id: 'keyco', project_id: 'otherco-app' }, 422, 'project_not_in_tenant'],
      [{ tenant_id: 'keyco', project_id: 'no-such-project' }, 404, 'project_not_found'],
      [{ tenant_id: 'ghostco' }, 404, 'tenant_not_found'],
      [{ tenant_id: 'keyco', scopes: ['memory:admin'] }, 400, 'validation_failed'],
      [{ tenant_id: 'keyco', scopes: [] }, 400, 'validation_failed'],
      [{ tenant_id: 'keyco', allowed_cidrs: ['10.0.0.0/33'] }, 400, 'validation_failed'],
      [{ tenant_id: 'keyco', allowed_cidrs: ['not-an-ip/8'] }, 400, 'validation_failed'],
      [{ tenant_id: 'keyco', expires_at: 'tomorrow' }, 400, 'validation_failed'],
      [{ tenant_id: 'keyco', expires_at: '2001-01-01T00:00:00Z' }, 400, 'validation_failed'],
      [{ tenant_id: 'keyco', label: 42 }, 400, 'validation_failed'],
      [{ tenant_id: 'keyco', secret: 'mine' }, 400, 'validation_failed'],
      [{ tenant_id: 'keyco', metadata: { big: 'x'.repeat(17_000) } }, 400, 'validation_failed'],
    ];
    for (const [body, status, code] of bad) {
      const res = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send(body);
      expect({ body, status: res.status, code: res.body.code }).toEqual({ body, status, code });
    }
    // A replay could not show the secret again: Idempotency-Key is refused where a secret is issued.
    const idem = await api.post('/v1/admin/control/api-keys').set(t.auth).set('Idempotency-Key', 'k-1').set(json).send({ tenant_id: 'keyco' });
    expect(idem.status).toBe(400);
    expect(idem.body.errors[0].field).toBe('header.idempotency-key');
    const { key } = await createKey();
    const afterCreate = await eventCount();
    for (const grace of [-1, 604_801, 1.5, '60']) {
      const res = await api.post(`/v1/admin/control/api-keys/${key.key_id}/rotate`).set(t.auth).set(json).send({ grace_seconds: grace });
      expect(res.status).toBe(400);
    }
    expect((await api.get('/v1/admin/control/api-keys/not-a-key-id').set(t.auth)).status).toBe(400);
    expect((await api.get(`/v1/admin/control/api-keys/k${'a'.repeat(19)}`).set(t.auth)).body.code).toBe('api_key_not_found');
    expect(await eventCount()).toBe(afterCreate);
    expect(afterCreate).toBe(before + 1);
  });

  it("gives a tenant's key no access to any tenant's control-plane resources: the same 401 as no credential", async () => {
    const { api_key } = await createKey();
    const paths = ['/v1/admin/control/tenants/otherco', '/v1/admin/control/tenants/keyco', '/v1/admin/control/projects/otherco-app', '/v1/admin/control/api-keys', '/v1/admin/control/audit-events'];
    for (const path of paths) {
      const withKey = await api.get(path).set('Authorization', `Bearer ${api_key}`);
      const withKeyHeader = await api.get(path).set('x-api-key', api_key);
      const without = await api.get(path);
      for (const res of [withKey, withKeyHeader]) {
        expect(res.status).toBe(401);
        const { request_id: _a, ...a } = res.body;
        const { request_id: _b, ...b } = without.body;
        expect(a).toEqual(b);
      }
    }
  });

  it('records last use without a write per request', async () => {
    const { key, api_key } = await createKey();
    for (let i = 0; i < 5; i++) await whoami(api_key).expect(200);
    const rows = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM api_key_usage WHERE key_id = ${key.key_id}`.execute(t.tdb.database.db)).rows[0]!.n;
    expect(await rows()).toBe(0);
    await t.service.app.get(KeyVerifier).flushUsage();
    expect(await rows()).toBe(1);
    const got = await api.get(`/v1/admin/control/api-keys/${key.key_id}`).set(t.auth);
    expect(Date.parse(got.body.last_used_at)).toBeGreaterThan(Date.now() - 60_000);
  });
});

describe('API key CIDR checks behind a trusted proxy', () => {
  it('uses X-Forwarded-For only from trusted proxies', async () => {
    for (const [trust, expected] of [
      ['loopback', 200],
      ['false', 401],
    ] as const) {
      const t = await startTestService({ env: { TRUST_PROXY: trust } });
      try {
        const api = request(t.url);
        await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'proxied' }).expect(201);
        const key = (await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'proxied', allowed_cidrs: ['203.0.113.0/24'] })).body.api_key as string;
        expect((await api.get('/v1/auth/whoami').set('x-api-key', key).set('X-Forwarded-For', '203.0.113.9')).status).toBe(expected);
        expect((await api.get('/v1/auth/whoami').set('x-api-key', key)).status).toBe(401);
      } finally {
        await t.stop();
      }
    }
  }, 60_000);
});
