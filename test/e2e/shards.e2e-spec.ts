import { CommandBus } from '@nestjs/cqrs';
import pg from 'pg';
import request from 'supertest';
import { ExecutePlacementCommand, type PlacementCommandResult, type PlacementRequest } from '../../src/control-plane/shards/shard.commands';
import { systemCommandContext } from '../../src/platform/event-store/command-context';
import { AppError } from '../../src/platform/errors/app-error';
import { startTestService, type TestService } from '../support/service';
import { onlyIf, pgOnly } from '../support/skips';
import { createPgDatabase } from '../support/test-db';

/**
 * Shards and placement (docs/adr/0006-tenant-shards-and-placement.md), slice 1: the registry on a
 * real second PostgreSQL database, its schema after registration, the drain and retire rules
 * against real placements, and the placement read model. No data moves yet.
 */
const json = { 'Content-Type': 'application/json' };
const SHARDS = '/v1/admin/control/shards';

pgOnly.describe('shards on PostgreSQL: a real second database', () => {
  let t: TestService;
  let shard: { url: string; drop: () => Promise<void> };
  let api: ReturnType<typeof request>;
  const admin = (r: request.Test) => r.set(t.auth).set(json);
  const place = async (request: PlacementRequest): Promise<PlacementCommandResult> =>
    t.service.app.get(CommandBus).execute(new ExecutePlacementCommand(request, systemCommandContext({ actor: { type: 'system', id: 'tenant-migrator' } })));

  beforeAll(async () => {
    shard = await createPgDatabase('shard');
    const unreachable = new URL(shard.url);
    unreachable.pathname = `/${unreachable.pathname.slice(1)}_absent`;
    unreachable.password = 'not-a-real-password';
    t = await startTestService({ env: { SHARD_URLS: `dedicated-1=${shard.url},absent=${unreachable.toString()}` } });
    api = request(t.url);
    for (const tenant_id of ['acme', 'globex']) await admin(api.post('/v1/admin/control/tenants')).send({ tenant_id }).expect(201);
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    await shard?.drop();
  });

  it('registering applies the migrations to the shard: its data-plane tables and tenant_fences exist there', async () => {
    const res = await admin(api.post(SHARDS)).send({ shard_id: 'dedicated-1', capacity_note: '500 GB' }).expect(201);
    expect(res.body).toMatchObject({ shard_id: 'dedicated-1', url_ref: 'dedicated-1', capacity_note: '500 GB', state: 'active', revision: 1 });
    expect(res.body.migrations_applied).toEqual(expect.arrayContaining(['0004_memory', '0014_tenant_fences']));
    expect(res.headers.location).toBe(`${SHARDS}/dedicated-1`);
    expect(JSON.stringify(res.body)).not.toContain('postgres://');
    const c = new pg.Client({ connectionString: shard.url });
    await c.connect();
    try {
      const tables = (await c.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)).rows.map((r) => r.table_name);
      expect(tables).toEqual(expect.arrayContaining(['memory_scopes', 'memory_commits', 'memory_nodes', 'memory_edges', 'memory_outbox', 'memory_decisions', 'memory_rule_feedback', 'memory_tenant_counters', 'tenant_fences']));
      const fences = await c.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'tenant_fences' ORDER BY ordinal_position`);
      expect(fences.rows.map((r: { column_name: string }) => r.column_name)).toEqual(['tenant_id', 'generation', 'state', 'updated_at']);
      // The shard holds no rows of the control plane: its event log stays empty.
      expect((await c.query(`SELECT count(*)::int AS n FROM es_events`)).rows[0]).toEqual({ n: 0 });
    } finally {
      await c.end();
    }
    // Registered once: a second registration is a conflict.
    await admin(api.post(SHARDS)).send({ shard_id: 'dedicated-1' }).expect(409);
  });

  it('refuses a reference SHARD_URLS does not name, and an unreachable database, recording nothing and showing no URL', async () => {
    const unknown = await admin(api.post(SHARDS)).send({ shard_id: 'dedicated-2', url_ref: 'nowhere' }).expect(422);
    expect(unknown.body.code).toBe('shard_ref_not_configured');
    const down = await admin(api.post(SHARDS)).send({ shard_id: 'absent' }).expect(503);
    expect(down.body.code).toBe('shard_unreachable');
    expect(down.headers['retry-after']).toBe('5');
    expect(JSON.stringify(down.body)).not.toMatch(/postgres|not-a-real-password/);
    await admin(api.get(`${SHARDS}/absent`)).expect(404);
    await admin(api.get(`${SHARDS}/dedicated-2`)).expect(404);
    await admin(api.post(SHARDS)).send({ shard_id: 'shared' }).expect(400);
  });

  it('lists the shared shard first; only an owner may register, drain or retire', async () => {
    const list = await admin(api.get(SHARDS)).expect(200);
    expect(list.body.items.map((s: { shard_id: string; state: string }) => `${s.shard_id}:${s.state}`)).toEqual(['shared:active', 'dedicated-1:active']);
    const page1 = await admin(api.get(SHARDS).query({ limit: '1' })).expect(200);
    const page2 = await admin(api.get(SHARDS).query({ limit: '1', cursor: page1.body.next_cursor as string })).expect(200);
    expect(page2.body.items.map((s: { shard_id: string }) => s.shard_id)).toEqual(['dedicated-1']);
    expect((await admin(api.get(`${SHARDS}/shared`)).expect(200)).body).toMatchObject({ shard_id: 'shared', url_ref: null, state: 'active' });
    const token = (await admin(api.post('/v1/admin/control/operators')).send({ operator_id: 'op_shard_reader', display_name: 'Reader', role: 'operator' }).expect(201)).body.token as string;
    const asOperator = { Authorization: `Bearer ${token}` };
    await api.get(`${SHARDS}/dedicated-1`).set(asOperator).expect(200);
    await api.post(`${SHARDS}/dedicated-1/drain`).set(asOperator).set(json).send({}).expect(403);
    await api.post(SHARDS).set(asOperator).set(json).send({ shard_id: 'dedicated-3' }).expect(403);
  });

  it('placement: shared at generation 1, moved with rising generations; retire refused while a tenant is placed; no placement on a draining shard', async () => {
    expect((await admin(api.get('/v1/admin/control/tenants/acme/placement')).expect(200)).body).toMatchObject({ tenant_id: 'acme', shard_id: 'shared', generation: 1, previous: null, revision: 0 });
    const moved = await place({ type: 'ChangeTenantPlacement', tenant_id: 'acme', shard_id: 'dedicated-1', expected_generation: 1, reason: 'test move' });
    expect(moved.state).toMatchObject({ exists: true, shard_id: 'dedicated-1', generation: 2 });
    expect(moved.readModelCurrent).toBe(true);
    const read = await admin(api.get('/v1/admin/control/tenants/acme/placement')).expect(200);
    expect(read.body).toMatchObject({ shard_id: 'dedicated-1', generation: 2, previous: { shard_id: 'shared', generation: 1 }, reason: 'test move', revision: 1 });
    expect(read.headers.etag).toBe('"1"');
    // A stale expected generation is refused (the saga's guard).
    await expect(place({ type: 'ChangeTenantPlacement', tenant_id: 'acme', shard_id: 'shared', expected_generation: 1, reason: 'stale' })).rejects.toMatchObject({ code: 'concurrency_conflict' });

    const inUse = await admin(api.post(`${SHARDS}/dedicated-1/retire`)).send({}).expect(409);
    expect(inUse.body).toMatchObject({ code: 'shard_in_use', tenant_ids: ['acme'] });
    const drained = await admin(api.post(`${SHARDS}/dedicated-1/drain`)).send({ reason: 'hardware refresh' }).expect(200);
    expect(drained.body).toMatchObject({ state: 'draining', revision: 2 });
    await expect(place({ type: 'ChangeTenantPlacement', tenant_id: 'globex', shard_id: 'dedicated-1', expected_generation: null, reason: 'x' })).rejects.toBeInstanceOf(AppError);
    await expect(place({ type: 'ChangeTenantPlacement', tenant_id: 'globex', shard_id: 'dedicated-1', expected_generation: null, reason: 'x' })).rejects.toMatchObject({ code: 'shard_not_active' });
    await expect(place({ type: 'ChangeTenantPlacement', tenant_id: 'nobody', shard_id: 'shared', expected_generation: null, reason: 'x' })).rejects.toMatchObject({ code: 'tenant_not_found' });

    const back = await place({ type: 'ChangeTenantPlacement', tenant_id: 'acme', shard_id: 'shared', expected_generation: 2, reason: 'rollback' });
    expect(back.state).toMatchObject({ shard_id: 'shared', generation: 3 });
    expect((await admin(api.get('/v1/admin/control/tenants/acme/placement')).expect(200)).body).toMatchObject({ shard_id: 'shared', generation: 3, previous: { shard_id: 'dedicated-1', generation: 2 } });
    expect((await admin(api.post(`${SHARDS}/dedicated-1/retire`)).send({ reason: 'replaced' }).expect(200)).body).toMatchObject({ state: 'retired', revision: 3 });
    await admin(api.post(`${SHARDS}/dedicated-1/drain`)).send({}).expect(409);
    await admin(api.get('/v1/admin/control/tenants/nobody/placement')).expect(404);
  });

  it('every change is in the audit trail under its resource; the roster records placements, drains and retirements', async () => {
    const shardTrail = await admin(api.get('/v1/admin/control/audit-events').query({ resource_type: 'shard', resource_id: 'dedicated-1' })).expect(200);
    expect(shardTrail.body.items.map((e: { type: string }) => e.type)).toEqual(['ShardRegistered', 'ShardDrainStarted', 'ShardRetired']);
    const placementTrail = await admin(api.get('/v1/admin/control/audit-events').query({ resource_type: 'tenant_placement', resource_id: 'acme' })).expect(200);
    expect(placementTrail.body.items.map((e: { type: string; tenant_id: string }) => `${e.type}:${e.tenant_id}`)).toEqual(['TenantPlacementChanged:acme', 'TenantPlacementChanged:acme']);
    const roster = await admin(api.get('/v1/admin/control/audit-events').query({ resource_type: 'shard_roster' })).expect(200);
    expect(roster.body.items.map((e: { data: { change: string } }) => e.data.change)).toEqual(['registered', 'tenant_placed', 'draining', 'tenant_placed', 'retired']);
  });

  it('one database, one shard: a reference in use is refused; a retired shard frees it', async () => {
    await admin(api.post(SHARDS)).send({ shard_id: 'race-0', url_ref: 'dedicated-1' }).expect(201);
    const taken = await admin(api.post(SHARDS)).send({ shard_id: 'race-x', url_ref: 'dedicated-1' }).expect(409);
    expect(taken.body).toMatchObject({ code: 'shard_ref_in_use', shard_ids: ['race-0'] });
    await admin(api.post(`${SHARDS}/race-0/retire`)).send({}).expect(200);
  });

  it('a placement racing a retirement of its shard: never both (the roster serialises them)', async () => {
    const outcomes: string[] = [];
    for (let round = 1; round <= 5; round++) {
      const shardId = `race-${round}`;
      await admin(api.post(SHARDS)).send({ shard_id: shardId, url_ref: 'dedicated-1' }).expect(201);
      const [placed, retiredRes] = await Promise.all([
        place({ type: 'ChangeTenantPlacement', tenant_id: 'globex', shard_id: shardId, expected_generation: null, reason: 'race' }).then(
          () => 'placed',
          (err: AppError) => err.code,
        ),
        admin(api.post(`${SHARDS}/${shardId}/retire`)).send({}),
      ]);
      const retiredOk = retiredRes.status === 200;
      outcomes.push(`${placed}/${retiredOk ? 'retired' : String(retiredRes.body.code)}`);
      // Exactly one wins, and the loser says why.
      expect([`placed/shard_in_use`, `shard_not_active/retired`]).toContain(outcomes.at(-1));
      const placement = (await admin(api.get('/v1/admin/control/tenants/globex/placement')).expect(200)).body as { shard_id: string };
      expect(placement.shard_id).toBe(placed === 'placed' ? shardId : 'shared');
      if (placed === 'placed') {
        await place({ type: 'ChangeTenantPlacement', tenant_id: 'globex', shard_id: 'shared', expected_generation: null, reason: 'race cleanup' });
        await admin(api.post(`${SHARDS}/${shardId}/retire`)).send({}).expect(200);
      }
    }
    expect(outcomes).toHaveLength(5);
  });
});

onlyIf(!process.env.TEST_DATABASE_URL, 'PGlite only: the embedded database refuses dedicated shards').describe('shards on the embedded database', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ env: { SHARD_URLS: 'dedicated-1=postgres://127.0.0.1:5432/unused' } });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('has only the shared shard: registering is refused with a clear error; placements read shared', async () => {
    const api = request(t.url);
    const res = await api.post(SHARDS).set(t.auth).set(json).send({ shard_id: 'dedicated-1' }).expect(422);
    expect(res.body.code).toBe('shards_not_supported');
    expect(res.body.detail).toMatch(/embedded database.*only the shared shard/);
    expect((await api.get(SHARDS).set(t.auth).expect(200)).body.items.map((s: { shard_id: string }) => s.shard_id)).toEqual(['shared']);
    await api.post('/v1/admin/control/tenants').set(t.auth).set(json).send({ tenant_id: 'acme' }).expect(201);
    expect((await api.get('/v1/admin/control/tenants/acme/placement').set(t.auth).expect(200)).body).toMatchObject({ shard_id: 'shared', generation: 1 });
  });
});
