import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import request from 'supertest';
import { startTestService, type TestService } from '../support/service';

const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface AuditEntry {
  event_id: string;
  position: string;
  type: string;
  actor: { type: string; id: string };
  occurred_at: string;
  request_id: string | null;
  tenant_id: string | null;
  resource: { type: string; id: string };
  data: Record<string, unknown>;
}

describe('operators, roles and the audit trail (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;

  beforeAll(async () => {
    t = await startTestService();
    api = request(t.url);
  });
  afterAll(async () => {
    await t.stop();
  });

  async function auditByRequest(requestId: string): Promise<AuditEntry[]> {
    const res = await api.get('/v1/admin/control/audit-events').query({ request_id: requestId, limit: 100 }).set(t.auth);
    expect(res.status).toBe(200);
    return res.body.items as AuditEntry[];
  }

  describe('operator management', () => {
    it('lets owners create operators whose roles are enforced, rotate their tokens with grace, and disable them', async () => {
      const created = await api.post('/v1/admin/control/operators').set(t.auth).set(json).send({ display_name: 'ops bot', role: 'operator' });
      expect(created.status).toBe(201);
      const opId = created.body.operator.operator_id as string;
      const token = created.body.token as string;
      expect(created.body.operator).not.toHaveProperty('token_hash');
      expect(opId).toMatch(/^op_[a-z2-7]{16}$/);
      const asOp = { Authorization: `Bearer ${token}` };
      // An operator writes, but does not manage operators: 403, recorded.
      await api.post('/v1/admin/control/tenants').set(asOp).set(json).send({ tenant_id: 'made-by-op' }).expect(201);
      const denied = await api.post('/v1/admin/control/operators').set(asOp).set('X-Request-Id', 'denied-op-create').set(json).send({ display_name: 'x', role: 'owner' });
      expect(denied.status).toBe(403);
      const deniedAudit = await auditByRequest('denied-op-create');
      expect(deniedAudit.map((e) => e.type)).toEqual(['AdminActionDenied']);
      expect(deniedAudit[0]!.actor.id).toBe(opId);
      // Appended through the one command path: a command id of its own, not the refused request's.
      const deniedEvent = await sql<{ command_id: string | null }>`
        SELECT metadata->>'command_id' AS command_id FROM es_events WHERE stream_id = 'security-admin' AND metadata->>'request_id' = 'denied-op-create'`.execute(t.tdb.database.db);
      expect(deniedEvent.rows).toHaveLength(1);
      expect(deniedEvent.rows[0]!.command_id).toMatch(/^cmd:[0-9a-f-]{36}$/);

      // Every role may read operators (never their token digests).
      const listed = await api.get('/v1/admin/control/operators').set(asOp);
      expect(listed.status).toBe(200);
      expect(JSON.stringify(listed.body)).not.toMatch(/token_hash/);

      const rot = await api.post(`/v1/admin/control/operators/${opId}/rotate-token`).set(t.auth).set(json).send({ grace_seconds: 1 });
      expect(rot.status).toBe(201);
      const newToken = rot.body.token as string;
      expect((await api.get('/v1/admin/control/tenants').set(asOp)).status).toBe(200); // old: in grace
      expect((await api.get('/v1/admin/control/tenants').set('Authorization', `Bearer ${newToken}`)).status).toBe(200);
      await sleep(1300);
      expect((await api.get('/v1/admin/control/tenants').set(asOp)).status).toBe(401);

      const dis = await api.post(`/v1/admin/control/operators/${opId}/disable`).set(t.auth).set(json).send({ reason: 'decommissioned' });
      expect(dis.status).toBe(200);
      expect(dis.body.status).toBe('disabled');
      expect((await api.get('/v1/admin/control/tenants').set('Authorization', `Bearer ${newToken}`)).status).toBe(401);
    });

    it('never demotes or disables the last owner', async () => {
      const list = await api.get('/v1/admin/control/operators?role=owner&status=active').set(t.auth);
      expect(list.body.items.map((o: { operator_id: string }) => o.operator_id)).toEqual(['op_bootstrap_owner']);
      expect((await api.patch('/v1/admin/control/operators/op_bootstrap_owner').set(t.auth).set(json).send({ role: 'auditor' })).body.code).toBe('last_owner');
      expect((await api.post('/v1/admin/control/operators/op_bootstrap_owner/disable').set(t.auth)).body.code).toBe('last_owner');
      expect((await api.get('/v1/admin/control/tenants').set(t.auth)).status).toBe(200);
    });
  });

  describe('audit completeness', () => {
    it('records exactly one entry (actor, time, type) per command, and nothing for rejected commands', async () => {
      const calls: [string, () => request.Test, string[]][] = [];
      const rid = () => `audit-${randomUUID()}`;
      const call = (types: string[], build: (id: string) => request.Test) => {
        const id = rid();
        calls.push([id, () => build(id), types]);
      };
      call(['TenantCreated'], (id) => api.post('/v1/admin/control/tenants').set(t.auth).set('X-Request-Id', id).set(json).send({ tenant_id: 'audited' }));
      call(['TenantUpdated'], (id) => api.patch('/v1/admin/control/tenants/audited').set(t.auth).set('X-Request-Id', id).set(json).send({ display_name: 'Audited Ltd' }));
      call(['TenantTierChanged'], (id) => api.put('/v1/admin/control/tenants/audited/tier').set(t.auth).set('X-Request-Id', id).set(json).send({ tier: 'growth' }));
      call(['TenantSuspended'], (id) => api.post('/v1/admin/control/tenants/audited/suspend').set(t.auth).set('X-Request-Id', id));
      call(['TenantReactivated'], (id) => api.post('/v1/admin/control/tenants/audited/reactivate').set(t.auth).set('X-Request-Id', id));
      call(['ProjectCreated'], (id) => api.post('/v1/admin/control/projects').set(t.auth).set('X-Request-Id', id).set(json).send({ tenant_id: 'audited', project_id: 'audited-p' }));
      call(['ProjectUpdated'], (id) => api.patch('/v1/admin/control/projects/audited-p').set(t.auth).set('X-Request-Id', id).set(json).send({ metadata: { a: 1 } }));
      call(['TenantQuotaOverridesSet'], (id) => api.put('/v1/admin/control/tenants/audited/quota').set(t.auth).set('X-Request-Id', id).set(json).send({ write_rps: 5 }));
      call(['TenantQuotaOverridesCleared'], (id) => api.delete('/v1/admin/control/tenants/audited/quota').set(t.auth).set('X-Request-Id', id));
      call(['OperatorCreated'], (id) => api.post('/v1/admin/control/operators').set(t.auth).set('X-Request-Id', id).set(json).send({ operator_id: 'op_audited', display_name: 'a', role: 'auditor' }));
      call(['OperatorUpdated'], (id) => api.patch('/v1/admin/control/operators/op_audited').set(t.auth).set('X-Request-Id', id).set(json).send({ display_name: 'b' }));
      call(['OperatorRoleChanged'], (id) => api.patch('/v1/admin/control/operators/op_audited').set(t.auth).set('X-Request-Id', id).set(json).send({ role: 'operator' }));
      call(['OperatorTokenRotated'], (id) => api.post('/v1/admin/control/operators/op_audited/rotate-token').set(t.auth).set('X-Request-Id', id));
      call(['OperatorDisabled'], (id) => api.post('/v1/admin/control/operators/op_audited/disable').set(t.auth).set('X-Request-Id', id));
      call(['ApiKeyCreated'], (id) => api.post('/v1/admin/control/api-keys').set(t.auth).set('X-Request-Id', id).set(json).send({ tenant_id: 'audited', project_id: 'audited-p' }));
      let keyId = '';
      for (const [id, send, types] of calls) {
        const res = await send();
        expect({ id, status: res.status < 300 }).toEqual({ id, status: true });
        if (types[0] === 'ApiKeyCreated') keyId = res.body.key.key_id as string;
        const entries = await auditByRequest(id);
        expect(entries.map((e) => e.type)).toEqual(types);
        for (const e of entries) {
          expect(e.actor).toMatchObject({ type: 'operator', id: 'op_bootstrap_owner' });
          expect(Date.parse(e.occurred_at)).toBeGreaterThan(Date.now() - 60_000);
        }
      }
      let successorId = '';
      const more: [string, (id: string) => request.Test, string[]][] = [
        ['upd', (id) => api.patch(`/v1/admin/control/api-keys/${keyId}`).set(t.auth).set('X-Request-Id', id).set(json).send({ label: 'renamed' }), ['ApiKeyUpdated']],
        ['rot', (id) => api.post(`/v1/admin/control/api-keys/${keyId}/rotate`).set(t.auth).set('X-Request-Id', id).set(json).send({ grace_seconds: 60 }), ['ApiKeyCreated', 'ApiKeyRotated']],
        // The successor has not been rotated: its revocation is a single event. (Revoking the old key
        // right after its rotation would also revoke the successor: the race rule, tested elsewhere.)
        ['rev', (id) => api.post(`/v1/admin/control/api-keys/${successorId}/revoke`).set(t.auth).set('X-Request-Id', id), ['ApiKeyRevoked']],
        ['arch', (id) => api.post('/v1/admin/control/projects/audited-p/archive').set(t.auth).set('X-Request-Id', id), ['ProjectArchived']],
      ];
      for (const [name, build, types] of more) {
        const id = rid();
        const res = await build(id);
        expect(res.status).toBeLessThan(300);
        if (name === 'rot') successorId = res.body.key.key_id as string;
        expect((await auditByRequest(id)).map((e) => e.type)).toEqual(types);
      }

      // Rejected: validation, conflict, not found, forbidden. No state-changing entry.
      const before = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE stream_id <> 'security-admin'`.execute(t.tdb.database.db)).rows[0]!.n;
      const rejected: [(id: string) => request.Test, number][] = [
        [(id) => api.post('/v1/admin/control/tenants').set(t.auth).set('X-Request-Id', id).set(json).send({ tenant_id: 'X!' }), 400],
        [(id) => api.post('/v1/admin/control/tenants').set(t.auth).set('X-Request-Id', id).set(json).send({ tenant_id: 'audited' }), 409],
        [(id) => api.post('/v1/admin/control/tenants/nope-tenant/suspend').set(t.auth).set('X-Request-Id', id), 404],
        [(id) => api.put('/v1/admin/control/tenants/audited/quota').set(t.auth).set('X-Request-Id', id).set(json).send({ write_rps: -1 }), 400],
        [(id) => api.post(`/v1/admin/control/api-keys/${keyId}/rotate`).set(t.auth).set('X-Request-Id', id).set(json).send({ grace_seconds: 604_801 }), 400],
        [(id) => api.post(`/v1/admin/control/api-keys/${keyId}/rotate`).set(t.auth).set('X-Request-Id', id).set(json).send({}), 409],
      ];
      for (const [build, status] of rejected) {
        const id = rid();
        expect((await build(id)).status).toBe(status);
        expect(await auditByRequest(id)).toEqual([]);
      }
      const after = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE stream_id <> 'security-admin'`.execute(t.tdb.database.db)).rows[0]!.n;
      expect(after).toBe(before);
    });

    it('never shows credential digests or secrets in audit entries', async () => {
      const created = await api.post('/v1/admin/control/api-keys').set(t.auth).set(json).send({ tenant_id: 'made-by-op' });
      const secretPart = (created.body.api_key as string).slice(30);
      const dump = await api.get('/v1/admin/control/audit-events').set(t.auth).set('Accept', 'application/x-ndjson');
      expect(dump.status).toBe(200);
      expect(dump.headers['content-type']).toMatch(/^application\/x-ndjson/);
      expect(dump.text).not.toMatch(/secret_hash|token_hash/);
      expect(dump.text).not.toContain(secretPart);
      const hashes = await sql<{ h: string }>`SELECT secret_hash AS h FROM rm_api_keys UNION ALL SELECT token_hash FROM rm_operators`.execute(t.tdb.database.db);
      for (const { h } of hashes.rows) expect(dump.text).not.toContain(h);
    });
  });

  describe('audit paging and export', () => {
    it('pages in commit order without duplicates or gaps while new events arrive, filters, and exports NDJSON', async () => {
      let writing = true;
      let n = 0;
      const writer = (async () => {
        while (writing) {
          await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: `paged-${n++}` });
        }
      })();
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 15; i++) {
        const res: request.Response = await api
          .get('/v1/admin/control/audit-events')
          .query({ limit: 7, ...(cursor ? { cursor } : {}) })
          .set(t.auth);
        seen.push(...res.body.items.map((e: AuditEntry) => e.event_id));
        cursor = res.body.next_cursor;
      }
      writing = false;
      await writer;
      // Drain: the cursor of the last page keeps working for events committed after it.
      for (;;) {
        const res: request.Response = await api.get('/v1/admin/control/audit-events').query({ limit: 50, cursor: cursor! }).set(t.auth);
        seen.push(...res.body.items.map((e: AuditEntry) => e.event_id));
        cursor = res.body.next_cursor;
        if (!res.body.has_more) break;
      }
      await sleep(300);
      const rest = await api.get('/v1/admin/control/audit-events').query({ limit: 1000, cursor: cursor! }).set(t.auth);
      seen.push(...rest.body.items.map((e: AuditEntry) => e.event_id));
      expect(new Set(seen).size).toBe(seen.length);
      const all = await sql<{ event_id: string }>`SELECT event_id::text FROM es_events ORDER BY es_events.transaction_id, es_events.global_position`.execute(t.tdb.database.db);
      expect(seen).toEqual(all.rows.map((r) => r.event_id));

      const ndjson = await api.get('/v1/admin/control/audit-events').query({ type: 'TenantCreated' }).set(t.auth).set('Accept', 'application/x-ndjson');
      const lines = ndjson.text.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
      expect(lines.every((e) => e.type === 'TenantCreated')).toBe(true);
      const created = await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events WHERE type = 'TenantCreated'`.execute(t.tdb.database.db);
      expect(lines).toHaveLength(created.rows[0]!.n);

      const tenantOnly = await api.get('/v1/admin/control/audit-events').query({ tenant_id: 'audited', resource_type: 'project' }).set(t.auth);
      expect(tenantOnly.body.items.length).toBeGreaterThan(0);
      expect(tenantOnly.body.items.every((e: AuditEntry) => e.tenant_id === 'audited' && e.resource.type === 'project')).toBe(true);
      const future = await api.get('/v1/admin/control/audit-events').query({ from: new Date(Date.now() + 3_600_000).toISOString() }).set(t.auth);
      expect(future.body.items).toEqual([]);
      expect((await api.get('/v1/admin/control/audit-events').query({ from: 'yesterday' }).set(t.auth)).status).toBe(400);
    });
  });

  describe('hostile input', () => {
    it('answers 100 KB of headers with a problem+json 431 and writes nothing', async () => {
      const before = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(t.tdb.database.db)).rows[0]!.n;
      const res = await fetch(`${t.url}/v1/admin/control/tenants`, {
        method: 'POST',
        headers: { ...t.auth, 'Content-Type': 'application/json', 'X-Padding': 'x'.repeat(100_000) },
        body: JSON.stringify({ tenant_id: 'huge-headers' }),
      });
      expect(res.status).toBe(431);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({ code: 'headers_too_large', status: 431 });
      expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(t.tdb.database.db)).rows[0]!.n).toBe(before);
    });
  });
});
