import { sql } from 'kysely';
import { axisVector, type ContractEnv, deepObject, TENANT, startContractEnv, expectContractError, expectEachRefused } from '../../support/contract';

/**
 * POST /v1/memory/write, from the contract (§2.2, §1.7-§1.9): every request field, every response
 * member, the defaults and limits, idempotency, and bad input refused with nothing written.
 */
describe('contract: POST /v1/memory/write', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env.stop();
  });
  const write = (body: unknown, key: Parameters<ContractEnv['as']>[0] = 'plain') => env.api.post('/v1/memory/write').set(env.as(key)).send(body as object);

  const example = {
    scope: 'travel-desk',
    input_text: 'Maria said she is vegetarian and likes window seats.',
    memory_lane: 'shared',
    nodes: [
      { client_id: 'user:maria', type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office' },
      { client_id: 'evt:diet-2026-02-20', type: 'event', text_summary: 'Maria is vegetarian and prefers window seats' },
    ],
    edges: [{ type: 'related_to', src: { client_id: 'evt:diet-2026-02-20' }, dst: { client_id: 'user:maria' }, weight: 0.9, confidence: 0.85 }],
  };

  it('answers the example with every member the contract lists, ids derived from the tenant and scope', async () => {
    const res = await write(example);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      tenant_id: TENANT,
      scope: 'travel-desk',
      commit_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      commit_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      nodes: [
        { id: expect.any(String), client_id: 'user:maria', type: 'entity' },
        { id: expect.any(String), client_id: 'evt:diet-2026-02-20', type: 'event' },
      ],
      edges: [{ id: expect.any(String), type: 'related_to', src_id: res.body.nodes[1].id, dst_id: res.body.nodes[0].id }],
      embedding_backfill: { enqueued: true, pending_nodes: 2 },
    });
    // A client id names a different node in another tenant (the scope key includes the tenant).
    const other = await write(example, 'other');
    expect(other.body.nodes[0].id).not.toBe(res.body.nodes[0].id);
  });

  it('returns the same commit, ids and hash for an identical write, and changes nothing stored (first write wins)', async () => {
    const body = { ...example, scope: 'replay' };
    const first = await write(body);
    const before = await env.counts();
    const again = await write(body);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ commit_id: first.body.commit_id, commit_hash: first.body.commit_hash, nodes: first.body.nodes, edges: first.body.edges });
    const { memory_outbox: _o1, ...rest1 } = before;
    const { memory_outbox: _o2, ...rest2 } = await env.counts();
    expect(rest2).toEqual(rest1);
    // New input with the same client ids: a new commit, the same node ids, the stored node unchanged.
    const edited = await write({ ...body, input_text: 'something else', nodes: [{ client_id: 'user:maria', type: 'entity', title: 'Renamed' }], edges: [] });
    expect(edited.body.commit_id).not.toBe(first.body.commit_id);
    expect(edited.body.nodes[0].id).toBe(first.body.nodes[0].id);
    const found = await env.api.post('/v1/memory/find').set(env.as('plain')).send({ scope: 'replay', client_id: 'user:maria' });
    expect(found.body.nodes[0].title).toBe('Maria');
  });

  it('accepts every request field of the contract with its type, and applies the defaults', async () => {
    const res = await write({
      tenant_id: TENANT,
      scope: 'all-fields',
      actor: 'importer',
      input_sha256: 'a'.repeat(64),
      model_version: 'm1',
      prompt_version: 'p1',
      auto_embed: false,
      force_reembed: false,
      memory_lane: 'private',
      producer_agent_id: 'agent-p',
      owner_agent_id: 'agent-o',
      owner_team_id: 'team-o',
      trigger_topic_cluster: false,
      topic_cluster_async: true,
      nodes: [
        {
          client_id: ' c1 ',
          scope: 'all-fields',
          type: 'evidence',
          tier: 'warm',
          memory_lane: 'shared',
          producer_agent_id: 'agent-n',
          owner_agent_id: 'agent-n',
          owner_team_id: 'team-n',
          title: '  A   title ',
          text_summary: 'summary',
          slots: { k: 'v', n: 1 },
          raw_ref: 's3://raw',
          evidence_ref: 'doc#1',
          embedding: axisVector(3),
          embedding_model: 'my-model',
          salience: 0.1,
          importance: 0.2,
          confidence: 0.3,
        },
        { id: '11111111-2222-4333-8444-555555555555', type: 'concept', title: 'by id' },
        { type: 'topic', title: 'neither id nor client id' },
      ],
      edges: [{ type: 'derived_from', src: { client_id: 'c1' }, dst: { id: '11111111-2222-4333-8444-555555555555' }, weight: 0.7, confidence: 0.6, decay_rate: 0.05 }],
    });
    expect(res.status).toBe(200);
    expect(res.body.nodes[0]).toEqual({ id: expect.any(String), client_id: 'c1', type: 'evidence' });
    expect(res.body.nodes[1]).toEqual({ id: '11111111-2222-4333-8444-555555555555', type: 'concept' });
    expect(res.body.nodes[2]).not.toHaveProperty('client_id');
    expect(res.body).not.toHaveProperty('embedding_backfill');
    const found = await env.api.post('/v1/memory/find').set(env.as('plain')).send({ scope: 'all-fields', client_id: 'c1', include_meta: true, include_slots: true });
    expect(found.body.nodes[0]).toMatchObject({
      title: 'A title',
      tier: 'warm',
      memory_lane: 'shared',
      producer_agent_id: 'agent-n',
      owner_agent_id: 'agent-n',
      owner_team_id: 'team-n',
      raw_ref: 's3://raw',
      evidence_ref: 'doc#1',
      embedding_status: 'ready',
      embedding_model: 'my-model',
      salience: 0.1,
      importance: 0.2,
      confidence: 0.3,
      slots: { k: 'v', n: 1 },
    });
    // The node without a vector and auto_embed false is failed; the defaults are 0.5 and hot.
    const byId = await env.api.post('/v1/memory/find').set(env.as('agentA')).send({ scope: 'all-fields', id: '11111111-2222-4333-8444-555555555555', include_meta: true });
    expect(byId.body.nodes).toEqual([]); // private, owned by agent-o / team-o: not agent-a's
    const owner = await env.api.post('/v1/memory/find').set(env.as('plain')).send({ scope: 'all-fields', id: '11111111-2222-4333-8444-555555555555', include_meta: true, consumer_agent_id: 'agent-o' });
    expect(owner.body.nodes[0]).toMatchObject({ embedding_status: 'failed', tier: 'hot', salience: 0.5, importance: 0.5, confidence: 0.5, memory_lane: 'private', owner_team_id: 'team-o' });
    const commit = await sql<{ actor: string; model_version: string; prompt_version: string; input_sha256: string }>`
      SELECT actor, model_version, prompt_version, input_sha256 FROM memory_commits WHERE commit_id = ${res.body.commit_id}::uuid`.execute(env.t.tdb.database.db);
    expect(commit.rows[0]).toEqual({ actor: 'importer', model_version: 'm1', prompt_version: 'p1', input_sha256: 'a'.repeat(64) });
  });

  it('ignores unknown fields at every level and names them in x-aionis-ignored-fields', async () => {
    const res = await write({ scope: 'tolerant', input_text: 'x', colour: 'blue', nodes: [{ type: 'event', title: 't', mood: 1 }], edges: [] });
    expect(res.status).toBe(200);
    expect(res.headers['x-aionis-ignored-fields']).toBe('colour,nodes.*.mood');
  });

  it('truncates over-long text instead of refusing it, and redacts PII', async () => {
    const res = await write({ scope: 'text', input_text: 'x', memory_lane: 'shared', nodes: [{ client_id: 'long', type: 'event', title: 'y'.repeat(9000), text_summary: 'call bob@example.com' }] });
    expect(res.status).toBe(200);
    const found = await env.api.post('/v1/memory/find').set(env.as('plain')).send({ scope: 'text', client_id: 'long' });
    expect(found.body.nodes[0].title).toHaveLength(8000);
    expect(found.body.nodes[0].title.endsWith('\u2026')).toBe(true);
    expect(found.body.nodes[0].text_summary).toMatch(/^call \[EMAIL#[0-9a-f]{8}\]$/);
  });

  it('fills producer and owner from an agent-bound key, and refuses a contradicting one with identity_mismatch', async () => {
    const res = await write({ scope: 'identity', input_text: 'x', nodes: [{ client_id: 'mine', type: 'event', title: 'mine' }] }, 'agentA');
    expect(res.status).toBe(200);
    const found = await env.api.post('/v1/memory/find').set(env.as('agentA')).send({ scope: 'identity', client_id: 'mine', include_meta: true });
    expect(found.body.nodes[0]).toMatchObject({ memory_lane: 'private', producer_agent_id: 'agent-a', owner_agent_id: 'agent-a' });
    const before = await env.counts();
    for (const body of [{ producer_agent_id: 'agent-b' }, { owner_agent_id: 'agent-b' }, { tenant_id: 'contract-b' }]) {
      const bad = await write({ scope: 'identity', input_text: 'x', nodes: [{ type: 'event' }], ...body }, 'agentA');
      expectContractError(bad, 403, 'identity_mismatch');
      expect(bad.body.details).toMatchObject({ field: Object.keys(body)[0], provided: Object.values(body)[0] });
    }
    const header = await env.api.post('/v1/memory/write').set(env.as('plain')).set('x-tenant-id', 'contract-b').send({ scope: 'identity', input_text: 'x', nodes: [] });
    expectContractError(header, 403, 'identity_mismatch');
    expect(await env.counts()).toEqual(before);
  });

  it('refuses a private rule without an owner, and creates a draft definition for a shared one', async () => {
    const bad = await write({ scope: 'rules', input_text: 'x', nodes: [{ client_id: 'r', type: 'rule', slots: { if: { intent: 'x' } } }] });
    expectContractError(bad, 400, 'invalid_private_rule_owner');
    expect(bad.body.details).toMatchObject({ client_id: 'r', memory_lane: 'private', type: 'rule' });
    const ok = await write({ scope: 'rules', input_text: 'x', memory_lane: 'shared', nodes: [{ client_id: 'r', type: 'rule', slots: { if: { intent: 'x' }, then: { tool: { deny: ['rm'] } } } }] });
    expect(ok.status).toBe(200);
    const defs = await sql<{ state: string; if_json: unknown }>`SELECT state, if_json FROM memory_rule_defs WHERE rule_node_id = ${ok.body.nodes[0].id}::uuid`.execute(env.t.tdb.database.db);
    expect(defs.rows).toEqual([{ state: 'draft', if_json: { intent: 'x' } }]);
  });

  it('links to an existing node by id across writes, and upserts an edge keeping the larger weight', async () => {
    const a = await write({ scope: 'links', input_text: 'a', memory_lane: 'shared', nodes: [{ client_id: 'a', type: 'entity', title: 'A' }] });
    const b = await write({ scope: 'links', input_text: 'b', memory_lane: 'shared', nodes: [{ client_id: 'b', type: 'entity', title: 'B' }], edges: [{ type: 'related_to', src: { client_id: 'b' }, dst: { id: a.body.nodes[0].id }, weight: 0.9 }] });
    expect(b.status).toBe(200);
    await write({ scope: 'links', input_text: 'c', nodes: [{ client_id: 'b', type: 'entity' }], edges: [{ type: 'related_to', src: { client_id: 'b' }, dst: { id: a.body.nodes[0].id }, weight: 0.3, confidence: 0.95 }] }).expect(200);
    const edge = await sql<{ n: number; weight: number; confidence: number }>`
      SELECT count(*) OVER () AS n, weight, confidence FROM memory_edges WHERE tenant_id = ${TENANT} AND scope = 'links'`.execute(env.t.tdb.database.db);
    expect(edge.rows).toHaveLength(1);
    expect(Number(edge.rows[0]!.weight)).toBeCloseTo(0.9, 5);
    expect(Number(edge.rows[0]!.confidence)).toBeCloseTo(0.95, 5);
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and writes nothing', async () => {
    const before = await env.counts();
    const aNode = (await write({ scope: 'bad-base', input_text: 'x', memory_lane: 'shared', nodes: [{ client_id: 'n', type: 'entity' }] })).body.nodes[0].id as string;
    const base = await env.counts();
    expect(base).not.toEqual(before);
    const cases: [string, () => ReturnType<typeof write>, number, string][] = [
      ['wrong type of nodes', () => write({ scope: 's', input_text: 'x', nodes: 'many' }), 400, 'invalid_request'],
      ['wrong vector dimension', () => write({ scope: 's', input_text: 'x', nodes: [{ type: 'event', embedding: [0.1, 0.2] }] }), 400, 'invalid_request'],
      ['an infinite number', () => env.api.post('/v1/memory/write').set(env.as('plain')).send('{"scope":"s","input_text":"x","nodes":[{"type":"event","salience":1e999}]}'), 400, 'invalid_request'],
      ['a number beyond a 32-bit float in a vector', () => write({ scope: 's', input_text: 'x', nodes: [{ type: 'event', embedding: axisVector(0).map((v, i) => (i === 5 ? 1e39 : v)) }] }), 400, 'invalid_request'],
      ['salience out of range', () => write({ scope: 's', input_text: 'x', nodes: [{ type: 'event', salience: 1.5 }] }), 400, 'invalid_request'],
      ['an unknown node type', () => write({ scope: 's', input_text: 'x', nodes: [{ type: 'memory' }] }), 400, 'invalid_request'],
      ['an unknown edge type', () => write({ scope: 's', input_text: 'x', nodes: [{ client_id: 'a', type: 'event' }, { client_id: 'b', type: 'event' }], edges: [{ type: 'likes', src: { client_id: 'a' }, dst: { client_id: 'b' } }] }), 400, 'invalid_request'],
      ['an edge endpoint without id or client_id', () => write({ scope: 's', input_text: 'x', edges: [{ type: 'part_of', src: {}, dst: { client_id: 'b' } }] }), 400, 'invalid_request'],
      ['no input', () => write({ scope: 's', nodes: [{ type: 'event' }] }), 400, 'invalid_request'],
      ['whitespace-only input_text', () => write({ scope: 's', input_text: '   ', nodes: [{ type: 'event' }] }), 400, 'invalid_request'],
      ['whitespace-only client_id', () => write({ scope: 's', input_text: 'x', nodes: [{ client_id: '  ', type: 'event' }] }), 400, 'invalid_request'],
      ['an empty scope', () => write({ scope: '   ', input_text: 'x', nodes: [{ type: 'event' }] }), 400, 'invalid_scope'],
      ['a scope longer than 1024 bytes', () => write({ scope: 's'.repeat(1025), input_text: 'x', nodes: [{ type: 'event' }] }), 400, 'invalid_scope'],
      ['an edge to an unknown client id', () => write({ scope: 's', input_text: 'x', nodes: [{ client_id: 'k', type: 'event' }], edges: [{ type: 'part_of', src: { client_id: 'k' }, dst: { client_id: 'ghost' } }] }), 400, 'edge_endpoint_not_found'],
      ['an edge to an id that is nowhere', () => write({ scope: 's', input_text: 'x', nodes: [{ client_id: 'k', type: 'event' }], edges: [{ type: 'part_of', src: { client_id: 'k' }, dst: { id: '99999999-9999-4999-8999-999999999999' } }] }), 400, 'edge_endpoint_not_found'],
      ['an edge across scopes', () => write({ scope: 's', input_text: 'x', nodes: [{ client_id: 'k', type: 'event' }], edges: [{ type: 'part_of', src: { client_id: 'k' }, dst: { id: aNode } }] }), 400, 'cross_scope_edge'],
      ['a self-loop', () => write({ scope: 's', input_text: 'x', nodes: [{ client_id: 'k', type: 'event' }], edges: [{ type: 'part_of', src: { client_id: 'k' }, dst: { client_id: 'k' } }] }), 400, 'edge_self_loop'],
      ['an explicit id of another scope', () => write({ scope: 's', input_text: 'x', nodes: [{ id: aNode, type: 'event' }] }), 400, 'node_id_conflict'],
      ['id and client_id that disagree', () => write({ scope: 's', input_text: 'x', nodes: [{ id: aNode, client_id: 'other', type: 'event' }] }), 400, 'invalid_request'],
      ['an unknown parent commit', () => write({ scope: 's', input_text: 'x', parent_commit_id: '99999999-9999-4999-8999-999999999999', nodes: [{ type: 'event' }] }), 400, 'parent_commit_not_found'],
      ['an agent rule without its target', () => write({ scope: 's', input_text: 'x', memory_lane: 'shared', nodes: [{ type: 'rule', slots: { rule_scope: 'agent' } }] }), 400, 'invalid_rule_scope_target'],
      ['JSON nested 200 levels deep', () => write({ scope: 's', input_text: 'x', nodes: [{ type: 'event', slots: deepObject(200) }] }), 400, 'invalid_request'],
      ['a NUL character', () => env.api.post('/v1/memory/write').set(env.as('plain')).send('{"scope":"s","input_text":"a\\u0000b","nodes":[{"type":"event"}]}'), 400, 'invalid_request'],
      ['malformed JSON', () => env.api.post('/v1/memory/write').set(env.as('plain')).send('{"scope":'), 400, 'invalid_request'],
      ['a body that is an array', () => env.api.post('/v1/memory/write').set(env.as('plain')).send([1, 2]), 400, 'invalid_request'],
      ['a 6 MiB body', () => write({ scope: 's', input_text: 'x'.repeat(6 * 1024 * 1024), nodes: [{ type: 'event' }] }), 413, 'payload_too_large'],
    ];
    await expectEachRefused(cases);
    // Invalid UTF-8 in the body.
    const bytes = Buffer.concat([Buffer.from('{"scope":"s","input_text":"'), Buffer.from([0xc3, 0x28]), Buffer.from('","nodes":[{"type":"event"}]}')]);
    const utf8 = await env.api.post('/v1/memory/write').set(env.as('plain')).send(bytes);
    expectContractError(utf8, 400, 'invalid_request');
    expect(await env.counts()).toEqual(base);
  });

  it('needs a key with memory:write, and any valid key: 401 and 403 in the contract shape', async () => {
    expectContractError(await env.api.post('/v1/memory/write').set('Content-Type', 'application/json').send({ input_text: 'x' }), 401, 'unauthorized');
    expectContractError(await write({ input_text: 'x', nodes: [] }, 'readOnly'), 403, 'forbidden');
    // Authorization: Bearer <key> in any letter case works as well as x-api-key.
    const bearer = await env.api.post('/v1/memory/write').set('Content-Type', 'application/json').set('authorization', `bearer ${env.keys.plain}`).send({ scope: 'bearer', input_text: 'x', nodes: [] });
    expect(bearer.status).toBe(200);
  });

  it('accepts a write without a body as {} (SDK 0.1.4 sends none) and refuses it for the missing input', async () => {
    const res = await env.api.post('/v1/memory/write').set(env.as('plain'));
    expectContractError(res, 400, 'invalid_request');
    expect(res.body.issues).toEqual([{ path: '', message: 'one of input_text / input_sha256 is required' }]);
  });
});
