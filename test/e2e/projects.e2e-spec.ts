import { sql } from 'kysely';
import request from 'supertest';
import { projectStreamId } from '../../src/control-plane/shared/ids';
import { startTestService, type TestService } from '../support/service';

const json = { 'Content-Type': 'application/json' };

describe('projects API (real server)', () => {
  let t: TestService;
  let api: ReturnType<typeof request>;

  beforeAll(async () => {
    t = await startTestService();
    api = request(t.url);
    for (const id of ['alpha', 'bravo', 'frozen']) await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: id }).expect(201);
    await api.post('/v1/admin/control/tenants/frozen/suspend').set(t.auth).expect(200);
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
    expect(res.body).toMatchObject({ status, code });
    expect(res.body.request_id).toBe(res.headers['x-request-id']);
  }

  it('creates a project globally and under its tenant, with a generated or given id', async () => {
    const a = await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'alpha', project_id: 'alpha-web', display_name: 'Web' });
    expect(a.status).toBe(201);
    expect(a.headers.etag).toBe('"1"');
    expect(a.headers.location).toBe('/v1/admin/control/projects/alpha-web');
    expect(a.body).toMatchObject({ project_id: 'alpha-web', tenant_id: 'alpha', display_name: 'Web', status: 'active', revision: 1 });

    const b = await api.post('/v1/admin/control/tenants/alpha/projects').set(t.auth).set(json).send({ display_name: 'Batch' });
    expect(b.status).toBe(201);
    expect(b.body.project_id).toMatch(/^prj_[a-z2-7]{16}$/);
    expect(b.body.tenant_id).toBe('alpha');

    const [event] = await t.service.infra.store.readStream(projectStreamId('alpha-web'));
    expect(event).toMatchObject({ type: 'ProjectCreated', tenantId: 'alpha' });
    expect(event!.metadata.actor.id).toBe('op_bootstrap_owner');

    const got = await api.get('/v1/admin/control/tenants/alpha/projects/alpha-web').set(t.auth);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(a.body);
  });

  it('refuses a project under a suspended or unknown tenant, and a duplicate id, writing nothing', async () => {
    const before = await eventCount();
    expectProblem(await api.post('/v1/admin/control/tenants/frozen/projects').set(t.auth).set(json).send({}), 409, 'tenant_suspended');
    expectProblem(await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'ghost-tenant' }), 404, 'tenant_not_found');
    expectProblem(await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'bravo', project_id: 'alpha-web' }), 409, 'project_already_exists');
    expectProblem(await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'bravo', project_id: 'Bad ID' }), 400, 'validation_failed');
    expectProblem(await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'bravo', owner: 'x' }), 400, 'validation_failed');
    expectProblem(
      await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'bravo', metadata: { blob: 'x'.repeat(17_000) } }),
      400,
      'validation_failed',
    );
    expect(await eventCount()).toBe(before);
  });

  it("answers another tenant's project exactly like a project that does not exist", async () => {
    const other = await api.get('/v1/admin/control/tenants/bravo/projects/alpha-web').set(t.auth);
    const missing = await api.get('/v1/admin/control/tenants/bravo/projects/no-such-project').set(t.auth);
    expectProblem(other, 404, 'project_not_found');
    expectProblem(missing, 404, 'project_not_found');
    expect(other.body.title).toBe(missing.body.title);
    const before = await eventCount();
    expectProblem(await api.patch('/v1/admin/control/tenants/bravo/projects/alpha-web').set(t.auth).set(json).send({ display_name: 'hijack' }), 404, 'project_not_found');
    expectProblem(await api.post('/v1/admin/control/tenants/bravo/projects/alpha-web/archive').set(t.auth), 404, 'project_not_found');
    expect(await eventCount()).toBe(before);
    const bravoList = await api.get('/v1/admin/control/tenants/bravo/projects').set(t.auth);
    expect(bravoList.body.items).toEqual([]);
    expectProblem(await api.get('/v1/admin/control/tenants/no-such-tenant/projects').set(t.auth), 404, 'tenant_not_found');
  });

  it('updates with If-Match, archives once, and refuses changes to an archived project', async () => {
    await api.post('/v1/admin/control/projects').set(t.auth).set(json).send({ tenant_id: 'bravo', project_id: 'bravo-api' }).expect(201);
    const upd = await api.patch('/v1/admin/control/projects/bravo-api').set(t.auth).set('If-Match', '"1"').set(json).send({ display_name: 'Bravo API' });
    expect(upd.status).toBe(200);
    expect(upd.headers.etag).toBe('"2"');
    expectProblem(await api.patch('/v1/admin/control/projects/bravo-api').set(t.auth).set('If-Match', '"1"').set(json).send({ display_name: 'stale' }), 412, 'precondition_failed');

    const arch = await api.post('/v1/admin/control/tenants/bravo/projects/bravo-api/archive').set(t.auth).set(json).send({ reason: 'retired' });
    expect(arch.status).toBe(200);
    expect(arch.body).toMatchObject({ status: 'archived', archive_reason: 'retired' });
    expect(arch.body.archived_at).toBeTruthy();
    expectProblem(await api.post('/v1/admin/control/projects/bravo-api/archive').set(t.auth), 409, 'project_already_archived');
    expectProblem(await api.patch('/v1/admin/control/projects/bravo-api').set(t.auth).set(json).send({ display_name: 'again' }), 409, 'project_archived');

    const archived = await api.get('/v1/admin/control/projects?tenant_id=bravo&status=archived').set(t.auth);
    expect(archived.body.items.map((p: { project_id: string }) => p.project_id)).toEqual(['bravo-api']);
  });

  it('pages the global list with a cursor', async () => {
    for (let i = 0; i < 5; i++) await api.post('/v1/admin/control/tenants/alpha/projects').set(t.auth).set(json).send({ project_id: `page-${i}` }).expect(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: request.Response = await api
        .get('/v1/admin/control/projects')
        .query({ tenant_id: 'alpha', limit: 2, ...(cursor ? { cursor } : {}) })
        .set(t.auth);
      seen.push(...res.body.items.map((p: { project_id: string }) => p.project_id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining(['alpha-web', 'page-0', 'page-4']));
  });
});
