import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type ContractEnv, deepObject, type KeyName, TENANT, OTHER_TENANT, startContractEnv, expectContractError, expectEachRefused } from '../../support/contract';
import { HEX64, sha256, UUID } from '../../support/spec-hash';

/**
 * POST /v1/memory/nodes/activate, from the contract (§2.17, §1.4 tenant-only, §1.9): every request
 * field with its type, default and limit, the response summary, the feedback counters and quality
 * (0.8 * previous + 0.2 * signal, 4 decimals), the last_feedback_* slots, last_activated only when
 * activating, one commit per call that finds nodes and none otherwise with the chain still valid,
 * tenant isolation, and bad input refused with nothing written.
 */
const PG_TS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00$/;

describe('contract: POST /v1/memory/nodes/activate', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env.stop();
  });
  const activate = (body: unknown, key: KeyName = 'plain') => env.api.post('/v1/memory/nodes/activate').set(env.as(key)).send(body as object);
  /** Nodes not embedded (no worker touches them); their ids by client id. */
  const seed = async (scope: string, clientIds: readonly string[], key: KeyName = 'plain', lane = 'shared') => {
    const res = await env.api
      .post('/v1/memory/write')
      .set(env.as(key))
      .send({ scope, input_text: `seed ${scope}`, memory_lane: lane, auto_embed: false, nodes: clientIds.map((c) => ({ client_id: c, type: 'entity', title: c, slots: { keep: c } })) })
      .expect(200);
    return Object.fromEntries((res.body.nodes as { id: string; client_id: string }[]).map((n) => [n.client_id, n.id])) as Record<string, string>;
  };
  const node = async (scope: string, clientId: string) => {
    const r = await env.api.post('/v1/memory/find').set(env.as('plain')).send({ scope, client_id: clientId, include_meta: true, include_slots: true, consumer_agent_id: 'agent-b' });
    expect(r.body.nodes).toHaveLength(1);
    return r.body.nodes[0] as Record<string, unknown> & { slots: Record<string, unknown> };
  };
  const verify = async (scope: string) => {
    const r = await env.api.post('/v1/memory/commits/verify').set(env.as('plain')).send({ scope });
    expect(r.status).toBe(200);
    return r.body as { ok: boolean; commits: number; problems: unknown[] };
  };

  it('counts a positive then a negative outcome: feedback_quality 0.2 then -0.04, the last_feedback_* slots, last_activated, one commit each', async () => {
    const scope = 'act-basic';
    const ids = await seed(scope, ['n1', 'n2']);
    const chain = await verify(scope);
    const pos = await activate({ scope, client_ids: ['n1'], outcome: 'positive', run_id: 'run-7781', reason: '  used  in booking bob@example.com', input_text: 'profile   used' });
    expect(pos.status).toBe(200);
    expect(pos.headers['content-type']).toMatch(/^application\/json/);
    expect(pos.body).toEqual({
      tenant_id: TENANT,
      scope,
      commit_id: expect.stringMatching(UUID),
      commit_hash: expect.stringMatching(HEX64),
      activated: {
        requested_node_ids: 0,
        requested_client_ids: 1,
        resolved_node_ids: 1,
        found_nodes: 1,
        updated_nodes: 1,
        missing_node_ids: [],
        missing_client_ids: [],
        updated_ids: [ids.n1],
        outcome: 'positive',
        activate: true,
      },
    });
    const after1 = await node(scope, 'n1');
    expect(after1).toMatchObject({ last_activated: expect.stringMatching(PG_TS), commit_id: pos.body.commit_id });
    expect(after1.slots).toEqual({
      keep: 'n1',
      feedback_positive: 1,
      feedback_negative: 0,
      feedback_quality: 0.2,
      last_feedback_outcome: 'positive',
      last_feedback_at: expect.any(String),
      last_feedback_run_id: 'run-7781',
      last_feedback_reason: `used in booking [EMAIL#${sha256('bob@example.com').slice(0, 8)}]`,
      last_feedback_input_sha256: sha256('profile used'),
    });
    expect(Math.abs(Date.parse(after1.slots.last_feedback_at as string) - Date.now())).toBeLessThan(60_000);

    const neg = await activate({ scope, node_ids: [ids.n1], outcome: 'negative', input_sha256: 'c'.repeat(64) });
    expect(neg.body).toMatchObject({ commit_id: expect.stringMatching(UUID), activated: { requested_node_ids: 1, requested_client_ids: 0, updated_ids: [ids.n1], outcome: 'negative', activate: true } });
    expect(neg.body.commit_id).not.toBe(pos.body.commit_id);
    expect((await node(scope, 'n1')).slots).toMatchObject({
      feedback_positive: 1,
      feedback_negative: 1,
      feedback_quality: -0.04,
      last_feedback_outcome: 'negative',
      last_feedback_run_id: null,
      last_feedback_reason: null,
      last_feedback_input_sha256: 'c'.repeat(64),
    });
    const neutral = await activate({ scope, client_ids: ['n1'], outcome: 'neutral', input_text: 'just looked' });
    expect((await node(scope, 'n1')).slots).toMatchObject({ feedback_positive: 1, feedback_negative: 1, feedback_quality: -0.04, last_feedback_outcome: 'neutral' });
    // The other node was not touched.
    const n2 = await node(scope, 'n2');
    expect(n2).toMatchObject({ last_activated: null, slots: { keep: 'n2' } });
    const kinds = await sql<{ kind: string; actor: string; input_sha256: string }>`
      SELECT kind, actor, input_sha256 FROM memory_commits WHERE commit_id = ANY(${sql.val([pos.body.commit_id, neg.body.commit_id, neutral.body.commit_id])}::uuid[]) ORDER BY seq`.execute(env.t.tdb.database.db);
    expect(kinds.rows).toEqual([
      { kind: 'nodes_activate', actor: 'system', input_sha256: sha256('profile used') },
      { kind: 'nodes_activate', actor: 'system', input_sha256: 'c'.repeat(64) },
      { kind: 'nodes_activate', actor: 'system', input_sha256: sha256('just looked') },
    ]);
    expect(await verify(scope)).toMatchObject({ ok: true, commits: chain.commits + 3, problems: [] });
  });

  it('defaults outcome to neutral and activate to true; activate:false records the outcome but leaves last_activated', async () => {
    const scope = 'act-defaults';
    const ids = await seed(scope, ['a', 'b']);
    const res = await activate({ scope, client_ids: ['a'], input_text: 'x' });
    expect(res.body.activated).toMatchObject({ outcome: 'neutral', activate: true });
    const a = await node(scope, 'a');
    expect(a.last_activated).toMatch(PG_TS);
    expect(a.slots).toMatchObject({ feedback_positive: 0, feedback_negative: 0, last_feedback_outcome: 'neutral', last_feedback_run_id: null });

    const quiet = await activate({ scope, node_ids: [ids.b], outcome: 'positive', activate: false, input_text: 'x' });
    expect(quiet.body).toMatchObject({ commit_id: expect.stringMatching(UUID), activated: { updated_ids: [ids.b], outcome: 'positive', activate: false } });
    const b = await node(scope, 'b');
    expect(b).toMatchObject({ last_activated: null, commit_id: quiet.body.commit_id });
    expect(b.slots).toMatchObject({ feedback_positive: 1, feedback_quality: 0.2, last_feedback_outcome: 'positive' });
    // Activated once, then not: last_activated keeps the first value.
    await activate({ scope, node_ids: [ids.b], activate: true, input_text: 'y' }).expect(200);
    const stamped = (await node(scope, 'b')).last_activated;
    expect(stamped).toMatch(PG_TS);
    await new Promise((r) => setTimeout(r, 5));
    await activate({ scope, node_ids: [ids.b], outcome: 'negative', activate: false, input_text: 'z' }).expect(200);
    expect(await node(scope, 'b')).toMatchObject({ last_activated: stamped, slots: expect.objectContaining({ feedback_negative: 1, last_feedback_outcome: 'negative' }) });
  });

  it('lower-cases and de-duplicates ids: a node named three times is counted once', async () => {
    const scope = 'act-dedup';
    const ids = await seed(scope, ['n']);
    const res = await activate({ scope, node_ids: [ids.n!.toUpperCase(), ids.n], client_ids: ['n', 'n'], outcome: 'positive', input_text: 'x' });
    expect(res.body.activated).toMatchObject({ requested_node_ids: 1, requested_client_ids: 1, resolved_node_ids: 1, found_nodes: 1, updated_nodes: 1, updated_ids: [ids.n] });
    expect((await node(scope, 'n')).slots).toMatchObject({ feedback_positive: 1, feedback_quality: 0.2 });
  });

  it('answers commit_id null and a summary without outcome and activate when no node is found, and 400 nodes_activate_no_resolved_nodes when none resolves', async () => {
    const scope = 'act-none';
    await seed(scope, ['n']);
    const chain = await verify(scope);
    const before = await env.counts();
    const ghost = randomUUID();
    const res = await activate({ scope, node_ids: [ghost], client_ids: ['gone'], outcome: 'positive', input_text: 'x' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      tenant_id: TENANT,
      scope,
      commit_id: null,
      commit_hash: null,
      activated: { requested_node_ids: 1, requested_client_ids: 1, resolved_node_ids: 1, found_nodes: 0, updated_nodes: 0, missing_node_ids: [ghost], missing_client_ids: ['gone'], updated_ids: [] },
    });
    const none = await activate({ scope, client_ids: ['gone'], input_text: 'x' });
    expectContractError(none, 400, 'nodes_activate_no_resolved_nodes');
    expect(await env.counts()).toEqual(before);
    expect(await verify(scope)).toMatchObject({ ok: true, commits: chain.commits });
  });

  it('holds the limits: node_ids and client_ids 1..200, outcome positive|negative|neutral, activate boolean, ids and input required', async () => {
    const scope = 'act-limits';
    const ids = await seed(scope, ['n']);
    const ok = await activate({ scope, node_ids: [ids.n, ...Array.from({ length: 199 }, () => randomUUID())], client_ids: Array.from({ length: 200 }, (_, i) => `c${i}`), input_text: 'x' });
    expect(ok.status).toBe(200);
    expect(ok.body.activated).toMatchObject({ requested_node_ids: 200, requested_client_ids: 200, found_nodes: 1, updated_nodes: 1 });
    const before = await env.counts();
    const bad: [string, Record<string, unknown>, string][] = [
      ['201 node_ids', { node_ids: Array.from({ length: 201 }, () => randomUUID()), input_text: 'x' }, 'node_ids'],
      ['201 client_ids', { client_ids: Array.from({ length: 201 }, (_, i) => `c${i}`), input_text: 'x' }, 'client_ids'],
      ['an empty node_ids', { node_ids: [], input_text: 'x' }, 'node_ids'],
      ['an empty client id', { client_ids: ['n', ''], input_text: 'x' }, 'client_ids.1'],
      ['a node id that is not a uuid', { node_ids: ['n'], input_text: 'x' }, 'node_ids.0'],
      ['an unknown outcome', { client_ids: ['n'], outcome: 'good', input_text: 'x' }, 'outcome'],
      ['a string as activate', { client_ids: ['n'], activate: 'false', input_text: 'x' }, 'activate'],
      ['an empty run_id', { client_ids: ['n'], run_id: '', input_text: 'x' }, 'run_id'],
      ['an empty reason', { client_ids: ['n'], reason: '', input_text: 'x' }, 'reason'],
      ['neither node_ids nor client_ids', { outcome: 'positive', input_text: 'x' }, ''],
      ['neither input_text nor input_sha256', { client_ids: ['n'] }, ''],
      ['whitespace-only input_text', { client_ids: ['n'], input_text: ' \n ' }, 'input_text'],
      ['an input_sha256 that is not hex64', { client_ids: ['n'], input_sha256: 'abc' }, 'input_sha256'],
    ];
    for (const [name, body, path] of bad) {
      const res = await activate({ scope, ...body });
      expect({ name, status: res.status, error: res.body?.error }).toEqual({ name, status: 400, error: 'invalid_request' });
      expectContractError(res, 400, 'invalid_request');
      expect({ name, paths: (res.body.issues as { path: string }[]).map((i) => i.path) }).toEqual({ name, paths: [path] });
    }
    expect(await env.counts()).toEqual(before);
  });

  it("is tenant-only: any key of the tenant updates any lane's nodes, while the other tenant and the project find none of them", async () => {
    const scope = 'act-tenant';
    const ids = await seed(scope, ['b-private'], 'agentB', 'private');
    const before = await env.counts();
    const snapshot = await node(scope, 'b-private');
    for (const key of ['other', 'project'] as const) {
      expectContractError(await activate({ scope, client_ids: ['b-private'], input_text: 'x' }, key), 400, 'nodes_activate_no_resolved_nodes');
      const byId = await activate({ scope, node_ids: [ids['b-private']], outcome: 'positive', input_text: 'x' }, key);
      expect({ key, status: byId.status, commit: byId.body.commit_id, found: byId.body.activated.found_nodes }).toEqual({ key, status: 200, commit: null, found: 0 });
    }
    // No commit and no node change (the calls may leave an empty chain head for their own, new scope).
    const { memory_scopes: _s1, ...rest1 } = before;
    const { memory_scopes: _s2, ...rest2 } = await env.counts();
    expect(rest2).toEqual(rest1);
    expect(await node(scope, 'b-private')).toEqual(snapshot);
    // agent-a may record feedback on agent-b's private node: the route checks the tenant only.
    const res = await activate({ scope, client_ids: ['b-private'], outcome: 'positive', input_text: 'x' }, 'agentA');
    expect(res.body.activated).toMatchObject({ updated_ids: [ids['b-private']] });
    expect((await node(scope, 'b-private')).slots).toMatchObject({ feedback_positive: 1 });
    const mismatch = await activate({ scope, client_ids: ['b-private'], input_text: 'x', tenant_id: OTHER_TENANT });
    expectContractError(mismatch, 403, 'identity_mismatch');
    expectContractError(await env.api.post('/v1/memory/nodes/activate').set(env.as('plain')).set('x-tenant-id', OTHER_TENANT).send({ scope, client_ids: ['b-private'], input_text: 'x' }), 403, 'identity_mismatch');
  });

  it('accepts every request field with its type (tenant_id, actor), and ignores unknown ones', async () => {
    const scope = 'act-fields';
    const ids = await seed(scope, ['n']);
    const res = await activate({ tenant_id: TENANT, scope, node_ids: [ids.n], run_id: 'r', outcome: 'negative', activate: true, reason: 'why', input_text: 'x', actor: 'rater', colour: 'blue' });
    expect(res.status).toBe(200);
    expect(res.headers['x-aionis-ignored-fields']).toBe('colour');
    const commit = await sql<{ actor: string; kind: string }>`SELECT actor, kind FROM memory_commits WHERE commit_id = ${res.body.commit_id}::uuid`.execute(env.t.tdb.database.db);
    expect(commit.rows).toEqual([{ actor: 'rater', kind: 'nodes_activate' }]);
    expect((await node(scope, 'n')).slots).toMatchObject({ feedback_negative: 1, feedback_quality: -0.2, last_feedback_run_id: 'r', last_feedback_reason: 'why' });
  });

  it('needs a key with memory:write: 401 and 403 in the contract shape', async () => {
    expectContractError(await env.api.post('/v1/memory/nodes/activate').set('Content-Type', 'application/json').send({ client_ids: ['x'], input_text: 'x' }), 401, 'unauthorized');
    expectContractError(await activate({ client_ids: ['x'], input_text: 'x' }, 'readOnly'), 403, 'forbidden');
    expectContractError(await activate({ client_ids: ['x'], input_text: 'x' }, 'writeOnly'), 400, 'nodes_activate_no_resolved_nodes');
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and writes nothing', async () => {
    const scope = 'act-bad';
    const ids = await seed(scope, ['n']);
    const before = await env.counts();
    const raw = (s: string) => env.api.post('/v1/memory/nodes/activate').set(env.as('plain')).send(s);
    const cases: [string, () => ReturnType<typeof activate>, number, string][] = [
      ['no body', () => env.api.post('/v1/memory/nodes/activate').set(env.as('plain')), 400, 'invalid_request'],
      ['client_ids as a string', () => activate({ scope, client_ids: 'n', input_text: 'x' }), 400, 'invalid_request'],
      ['a number as outcome', () => activate({ scope, client_ids: ['n'], outcome: 1, input_text: 'x' }), 400, 'invalid_request'],
      ['null as activate', () => activate({ scope, client_ids: ['n'], activate: null, input_text: 'x' }), 400, 'invalid_request'],
      ['an infinite activate', () => raw(`{"scope":"${scope}","client_ids":["n"],"activate":1e999,"input_text":"x"}`), 400, 'invalid_request'],
      ['an infinite run_id', () => raw(`{"scope":"${scope}","client_ids":["n"],"run_id":-1e999,"input_text":"x"}`), 400, 'invalid_request'],
      ['an empty scope', () => activate({ scope: '\t', client_ids: ['n'], input_text: 'x' }), 400, 'invalid_scope'],
      ['JSON nested 200 levels deep', () => activate({ scope, client_ids: ['n'], input_text: 'x', extra: deepObject(200) }), 400, 'invalid_request'],
      ['a NUL character', () => raw(`{"scope":"${scope}","client_ids":["n"],"input_text":"a\\u0000b"}`), 400, 'invalid_request'],
      ['malformed JSON', () => raw('{"node_ids":["'), 400, 'invalid_request'],
      ['a body that is an array', () => env.api.post('/v1/memory/nodes/activate').set(env.as('plain')).send([ids.n]), 400, 'invalid_request'],
      ['a 6 MiB body', () => activate({ scope, client_ids: ['n'], input_text: 'x'.repeat(6 * 1024 * 1024) }), 413, 'payload_too_large'],
    ];
    await expectEachRefused(cases);
    expect(await env.counts()).toEqual(before);
  });
});
