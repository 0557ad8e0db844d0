import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type ContractEnv, deepObject, type KeyName, TENANT, OTHER_TENANT, startContractEnv, expectContractError, expectEachRefused } from '../../support/contract';
import { HEX64, sha256, UUID } from '../../support/spec-hash';

/**
 * POST /v1/memory/archive/rehydrate, from the contract (§2.16, §1.4 tenant-only, §1.9): every
 * request field with its type, default and limit, the response summary, which nodes move (below
 * the target tier) and which are noops, missing ids, the slot markers, one commit per moving call
 * and none otherwise with the chain still valid, tenant isolation, and bad input refused with
 * nothing written.
 */
const PG_TS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00$/;
const MARKERS = ['last_rehydrated_at', 'last_rehydrated_job', 'last_rehydrated_from_tier', 'last_rehydrated_to_tier', 'last_rehydrated_reason', 'last_rehydrated_input_sha256'];
const sorted = (xs: readonly string[]) => [...xs].sort();

describe('contract: POST /v1/memory/archive/rehydrate', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env.stop();
  });
  const rehydrate = (body: unknown, key: KeyName = 'plain') => env.api.post('/v1/memory/archive/rehydrate').set(env.as(key)).send(body as object);
  /** Nodes of each tier, not embedded (no worker touches them), shared; their ids by client id. */
  const seed = async (scope: string, key: KeyName = 'plain', lane = 'shared') => {
    const res = await env.api
      .post('/v1/memory/write')
      .set(env.as(key))
      .send({
        scope,
        input_text: `seed ${scope}`,
        memory_lane: lane,
        auto_embed: false,
        nodes: [
          { client_id: 'arch', type: 'event', tier: 'archive', title: 'archived', slots: { keep: 'me' } },
          { client_id: 'cold', type: 'event', tier: 'cold', title: 'cold' },
          { client_id: 'warm', type: 'event', tier: 'warm', title: 'warm' },
          { client_id: 'hot', type: 'event', title: 'hot' },
        ],
      })
      .expect(200);
    return Object.fromEntries((res.body.nodes as { id: string; client_id: string }[]).map((n) => [n.client_id, n.id])) as Record<'arch' | 'cold' | 'warm' | 'hot', string>;
  };
  const node = async (scope: string, clientId: string) => {
    const r = await env.api.post('/v1/memory/find').set(env.as('plain')).send({ scope, client_id: clientId, include_meta: true, include_slots: true, consumer_agent_id: 'agent-b' });
    expect(r.body.nodes).toHaveLength(1);
    return r.body.nodes[0] as Record<string, unknown> & { slots: Record<string, unknown> };
  };
  const verify = async (scope: string, key: KeyName = 'plain') => {
    const r = await env.api.post('/v1/memory/commits/verify').set(env.as(key)).send({ scope });
    expect(r.status).toBe(200);
    return r.body as { ok: boolean; commits: number; problems: unknown[] };
  };
  const commitRow = async (commitId: string) => {
    const r = await sql<{ kind: string; actor: string; input_sha256: string; commit_hash: string }>`SELECT kind, actor, input_sha256, commit_hash FROM memory_commits WHERE commit_id = ${commitId}::uuid`.execute(env.t.tdb.database.db);
    expect(r.rows).toHaveLength(1);
    return r.rows[0]!;
  };

  it('moves archive and cold nodes to warm (the default), leaves warm and hot as noops, reports missing ids, and writes the slot markers in one commit', async () => {
    const scope = 'rh-basic';
    const ids = await seed(scope);
    const ghost = randomUUID();
    const chain = await verify(scope);
    const hotBefore = await node(scope, 'hot');
    const res = await rehydrate({
      scope,
      node_ids: [ids.arch.toUpperCase(), ids.cold, ids.warm, ghost, ids.cold],
      client_ids: ['hot', 'gone', 'arch'],
      reason: '  user   reopened bob@example.com ',
      input_text: 'reopen   old trip',
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      tenant_id: TENANT,
      scope,
      target_tier: 'warm',
      commit_id: expect.stringMatching(UUID),
      commit_hash: expect.stringMatching(HEX64),
      rehydrated: {
        requested_node_ids: 4,
        requested_client_ids: 3,
        resolved_node_ids: 5,
        found_nodes: 4,
        moved_nodes: 2,
        noop_nodes: 2,
        missing_node_ids: [ghost],
        missing_client_ids: ['gone'],
        moved_ids: expect.any(Array),
        noop_ids: expect.any(Array),
      },
    });
    expect(sorted(res.body.rehydrated.moved_ids)).toEqual(sorted([ids.arch, ids.cold]));
    expect(sorted(res.body.rehydrated.noop_ids)).toEqual(sorted([ids.warm, ids.hot]));
    const input = sha256('reopen old trip');
    for (const [cid, from] of [
      ['arch', 'archive'],
      ['cold', 'cold'],
    ] as const) {
      const n = await node(scope, cid);
      expect(n).toMatchObject({ tier: 'warm', last_activated: expect.stringMatching(PG_TS), commit_id: res.body.commit_id });
      expect(n.slots).toMatchObject({
        last_rehydrated_at: expect.any(String),
        last_rehydrated_job: 'archive_rehydrate',
        last_rehydrated_from_tier: from,
        last_rehydrated_to_tier: 'warm',
        last_rehydrated_reason: `user reopened [EMAIL#${sha256('bob@example.com').slice(0, 8)}]`,
        last_rehydrated_input_sha256: input,
      });
      expect(Math.abs(Date.parse(n.slots.last_rehydrated_at as string) - Date.now())).toBeLessThan(60_000);
    }
    expect((await node(scope, 'arch')).slots.keep).toBe('me');
    // Noops are untouched.
    expect(await node(scope, 'hot')).toEqual(hotBefore);
    const warm = await node(scope, 'warm');
    expect(warm).toMatchObject({ tier: 'warm', last_activated: null });
    expect(Object.keys(warm.slots)).toEqual([]);
    expect(await commitRow(res.body.commit_id)).toEqual({ kind: 'archive_rehydrate', actor: 'system', input_sha256: input, commit_hash: res.body.commit_hash });
    expect(await verify(scope)).toMatchObject({ ok: true, commits: chain.commits + 1, problems: [] });
  });

  it('moves warm to hot with target_tier hot; with nothing to move it answers commit_id null and writes no commit', async () => {
    const scope = 'rh-hot';
    const ids = await seed(scope);
    const first = await rehydrate({ scope, client_ids: ['arch', 'warm', 'hot'], target_tier: 'hot', input_text: 'to hot' });
    expect(first.body).toMatchObject({ target_tier: 'hot', commit_id: expect.stringMatching(UUID), rehydrated: { moved_nodes: 2, noop_nodes: 1, noop_ids: [ids.hot] } });
    expect(sorted(first.body.rehydrated.moved_ids)).toEqual(sorted([ids.arch, ids.warm]));
    expect((await node(scope, 'warm')).slots).toMatchObject({ last_rehydrated_from_tier: 'warm', last_rehydrated_to_tier: 'hot', last_rehydrated_reason: null });
    const chain = await verify(scope);
    const before = await env.counts();
    const snapshot = await Promise.all(['arch', 'warm', 'hot'].map((c) => node(scope, c)));
    // Everything is at or above the target now: nothing moves, no commit.
    for (const body of [
      { scope, client_ids: ['arch', 'warm', 'hot'], target_tier: 'hot', input_text: 'to hot' },
      { scope, client_ids: ['arch', 'hot'], input_text: 'to warm' },
    ]) {
      const res = await rehydrate(body);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ commit_id: null, commit_hash: null, rehydrated: { moved_nodes: 0, moved_ids: [], noop_nodes: body.client_ids.length } });
    }
    // Ids that name no node resolve but are not found: nothing moves either.
    const ghost = randomUUID();
    const none = await rehydrate({ scope, node_ids: [ghost], input_text: 'x' });
    expect(none.body).toEqual({
      tenant_id: TENANT,
      scope,
      target_tier: 'warm',
      commit_id: null,
      commit_hash: null,
      rehydrated: { requested_node_ids: 1, requested_client_ids: 0, resolved_node_ids: 1, found_nodes: 0, moved_nodes: 0, noop_nodes: 0, missing_node_ids: [ghost], missing_client_ids: [], moved_ids: [], noop_ids: [] },
    });
    expect(await env.counts()).toEqual(before);
    expect(await Promise.all(['arch', 'warm', 'hot'].map((c) => node(scope, c)))).toEqual(snapshot);
    expect(await verify(scope)).toMatchObject({ ok: true, commits: chain.commits });
  });

  it('accepts every request field with its type: input_sha256 instead of input_text, reason, actor, tenant_id', async () => {
    const scope = 'rh-fields';
    const ids = await seed(scope);
    const res = await rehydrate({ tenant_id: TENANT, scope, node_ids: [ids.cold], target_tier: 'warm', reason: 'audit', input_sha256: 'b'.repeat(64), actor: 'ops-bot', colour: 'blue' });
    expect(res.status).toBe(200);
    expect(res.headers['x-aionis-ignored-fields']).toBe('colour');
    expect((await node(scope, 'cold')).slots).toMatchObject({ last_rehydrated_reason: 'audit', last_rehydrated_input_sha256: 'b'.repeat(64) });
    expect(await commitRow(res.body.commit_id)).toMatchObject({ kind: 'archive_rehydrate', actor: 'ops-bot', input_sha256: 'b'.repeat(64) });
    expect(Object.keys((await node(scope, 'cold')).slots).sort()).toEqual(sorted(MARKERS));
  });

  it('holds the limits: node_ids and client_ids 1..200, target_tier warm|hot, one of the id lists and one input required', async () => {
    const scope = 'rh-limits';
    const ids = await seed(scope);
    const many = Array.from({ length: 199 }, () => randomUUID());
    const ok = await rehydrate({ scope, node_ids: [ids.cold, ...many], client_ids: Array.from({ length: 200 }, (_, i) => (i === 0 ? 'arch' : `missing-${i}`)), input_text: 'many' });
    expect(ok.status).toBe(200);
    expect(ok.body.rehydrated).toMatchObject({ requested_node_ids: 200, requested_client_ids: 200, found_nodes: 2, moved_nodes: 2 });
    expect(ok.body.rehydrated.missing_node_ids).toHaveLength(199);
    expect(ok.body.rehydrated.missing_client_ids).toHaveLength(199);
    const before = await env.counts();
    const bad: [string, Record<string, unknown>, string][] = [
      ['201 node_ids', { node_ids: [...many, ids.hot, randomUUID(), randomUUID()], input_text: 'x' }, 'node_ids'],
      ['201 client_ids', { client_ids: Array.from({ length: 201 }, (_, i) => `c${i}`), input_text: 'x' }, 'client_ids'],
      ['an empty node_ids', { node_ids: [], input_text: 'x' }, 'node_ids'],
      ['an empty client_ids', { client_ids: [], input_text: 'x' }, 'client_ids'],
      ['an empty client id', { client_ids: [''], input_text: 'x' }, 'client_ids.0'],
      ['a node id that is not a uuid', { node_ids: ['node-1'], input_text: 'x' }, 'node_ids.0'],
      ['target_tier cold', { node_ids: [ids.hot], target_tier: 'cold', input_text: 'x' }, 'target_tier'],
      ['target_tier archive', { node_ids: [ids.hot], target_tier: 'archive', input_text: 'x' }, 'target_tier'],
      ['neither node_ids nor client_ids', { input_text: 'x' }, ''],
      ['neither input_text nor input_sha256', { node_ids: [ids.cold] }, ''],
      ['an input_sha256 that is not hex64', { node_ids: [ids.cold], input_sha256: 'B'.repeat(64) }, 'input_sha256'],
      ['whitespace-only input_text', { node_ids: [ids.cold], input_text: '   ' }, 'input_text'],
      ['an empty reason', { node_ids: [ids.cold], input_text: 'x', reason: '' }, 'reason'],
      ['an empty actor', { node_ids: [ids.cold], input_text: 'x', actor: '' }, 'actor'],
    ];
    for (const [name, body, path] of bad) {
      const res = await rehydrate({ scope, ...body });
      expect({ name, status: res.status, error: res.body?.error }).toEqual({ name, status: 400, error: 'invalid_request' });
      expectContractError(res, 400, 'invalid_request');
      expect({ name, paths: (res.body.issues as { path: string }[]).map((i) => i.path) }).toEqual({ name, paths: [path] });
    }
    expect(await env.counts()).toEqual(before);
  });

  it('answers 400 rehydrate_no_resolved_nodes when no id resolves, and writes nothing', async () => {
    const scope = 'rh-none';
    await seed(scope);
    const before = await env.counts();
    const res = await rehydrate({ scope, client_ids: ['gone', 'also-gone'], input_text: 'x' });
    expectContractError(res, 400, 'rehydrate_no_resolved_nodes');
    // Another scope of the same tenant holds none of them either.
    expectContractError(await rehydrate({ scope: 'rh-elsewhere', client_ids: ['arch'], input_text: 'x' }), 400, 'rehydrate_no_resolved_nodes');
    expect(await env.counts()).toEqual(before);
  });

  it("is tenant-only: any key of the tenant moves any lane's nodes, while the other tenant and the project see none of them", async () => {
    const scope = 'rh-tenant';
    const ids = await seed(scope, 'agentB', 'private');
    const before = await env.counts();
    const snapshot = await node(scope, 'cold');
    for (const key of ['other', 'project'] as const) {
      expectContractError(await rehydrate({ scope, client_ids: ['cold'], input_text: 'x' }, key), 400, 'rehydrate_no_resolved_nodes');
      const byId = await rehydrate({ scope, node_ids: [ids.cold], input_text: 'x' }, key);
      expect({ key, status: byId.status, commit: byId.body.commit_id, found: byId.body.rehydrated.found_nodes, missing: byId.body.rehydrated.missing_node_ids }).toEqual({ key, status: 200, commit: null, found: 0, missing: [ids.cold] });
    }
    expect((await rehydrate({ scope, node_ids: [ids.cold], input_text: 'x' }, 'other')).body).toMatchObject({ tenant_id: OTHER_TENANT, scope });
    // No commit and no node change (the calls may leave an empty chain head for their own, new scope).
    const { memory_scopes: _s1, ...rest1 } = before;
    const { memory_scopes: _s2, ...rest2 } = await env.counts();
    expect(rest2).toEqual(rest1);
    expect(await node(scope, 'cold')).toEqual(snapshot);
    // agent-a may move agent-b's private node: the route checks the tenant only.
    const moved = await rehydrate({ scope, client_ids: ['cold'], input_text: 'x' }, 'agentA');
    expect(moved.body.rehydrated).toMatchObject({ moved_nodes: 1, moved_ids: [ids.cold] });
    expect(await verify(scope, 'agentA')).toMatchObject({ ok: true });
    for (const [body, header] of [
      [{ scope, client_ids: ['cold'], input_text: 'x', tenant_id: OTHER_TENANT }, undefined],
      [{ scope, client_ids: ['cold'], input_text: 'x' }, OTHER_TENANT],
    ] as const) {
      const req = env.api.post('/v1/memory/archive/rehydrate').set(env.as('plain'));
      const res = await (header ? req.set('x-tenant-id', header) : req).send(body);
      expectContractError(res, 403, 'identity_mismatch');
    }
  });

  it('needs a key with memory:write: 401 and 403 in the contract shape', async () => {
    expectContractError(await env.api.post('/v1/memory/archive/rehydrate').set('Content-Type', 'application/json').send({ client_ids: ['x'], input_text: 'x' }), 401, 'unauthorized');
    expectContractError(await rehydrate({ client_ids: ['x'], input_text: 'x' }, 'readOnly'), 403, 'forbidden');
    expectContractError(await rehydrate({ client_ids: ['x'], input_text: 'x' }, 'writeOnly'), 400, 'rehydrate_no_resolved_nodes');
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and writes nothing', async () => {
    const scope = 'rh-bad';
    const ids = await seed(scope);
    const before = await env.counts();
    const raw = (s: string) => env.api.post('/v1/memory/archive/rehydrate').set(env.as('plain')).send(s);
    const cases: [string, () => ReturnType<typeof rehydrate>, number, string][] = [
      ['no body', () => env.api.post('/v1/memory/archive/rehydrate').set(env.as('plain')), 400, 'invalid_request'],
      ['node_ids as a string', () => rehydrate({ scope, node_ids: ids.cold, input_text: 'x' }), 400, 'invalid_request'],
      ['a number among client_ids', () => rehydrate({ scope, client_ids: [1], input_text: 'x' }), 400, 'invalid_request'],
      ['a number as input_text', () => rehydrate({ scope, client_ids: ['cold'], input_text: 5 }), 400, 'invalid_request'],
      ['an infinite node id', () => raw(`{"scope":"${scope}","node_ids":[1e999],"input_text":"x"}`), 400, 'invalid_request'],
      ['an infinite target_tier', () => raw(`{"scope":"${scope}","client_ids":["cold"],"target_tier":-1e999,"input_text":"x"}`), 400, 'invalid_request'],
      ['an empty scope', () => rehydrate({ scope: ' ', client_ids: ['cold'], input_text: 'x' }), 400, 'invalid_scope'],
      ['JSON nested 200 levels deep', () => rehydrate({ scope, client_ids: ['cold'], input_text: 'x', extra: deepObject(200) }), 400, 'invalid_request'],
      ['a NUL character', () => raw(`{"scope":"${scope}","client_ids":["co\\u0000ld"],"input_text":"x"}`), 400, 'invalid_request'],
      ['malformed JSON', () => raw('{"client_ids":['), 400, 'invalid_request'],
      ['a body that is an array', () => env.api.post('/v1/memory/archive/rehydrate').set(env.as('plain')).send([ids.cold]), 400, 'invalid_request'],
      ['a 6 MiB body', () => rehydrate({ scope, client_ids: ['cold'], input_text: 'x'.repeat(6 * 1024 * 1024) }), 413, 'payload_too_large'],
    ];
    await expectEachRefused(cases);
    expect(await env.counts()).toEqual(before);
  });
});
