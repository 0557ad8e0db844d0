import { axisVector, type ContractEnv, deepObject, type KeyName, TENANT, OTHER_TENANT, startContractEnv, expectContractError, expectEachRefused } from '../../support/contract';

/**
 * POST /v1/memory/find, from the contract (§2.5, §1.5 URIs, §3.2 lanes): every filter (ANDed),
 * the URI and its conflicts, no filter on tier / embedding status / topic state, the order and
 * the page, the `filters` echo, the node view with its meta, topic and slot fields, lanes and
 * isolation, and bad input refused with nothing stored.
 */

const PG_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?\+00$/;
const NO_FILTERS = { uri: null, id: null, client_id: null, type: null, title_contains: null, text_contains: null, memory_lane: null, slots_contains: null, consumer_agent_id: null, consumer_team_id: null };

/** A PostgreSQL text timestamp as a sortable string (fraction padded to microseconds). */
const sortable = (ts: string) => ts.replace(/(:\d{2})(?:\.(\d+))?\+00$/, (_m, s: string, f: string | undefined) => `${s}.${(f ?? '').padEnd(6, '0')}`);

interface FoundNode {
  uri: string;
  id: string;
  client_id: string | null;
  type: string;
  created_at: string;
}

describe('contract: POST /v1/memory/find', () => {
  let env: ContractEnv;
  const scope = 'find';
  const id: Record<string, string> = {};
  let firstCommit: string;
  beforeAll(async () => {
    env = await startContractEnv();
    const w1 = await write({
      scope,
      auto_embed: false,
      memory_lane: 'shared',
      nodes: [
        { client_id: 'pct', type: 'event', title: '100% done', text_summary: 'Half_way THERE' },
        { client_id: 'snake', type: 'entity', title: 'snake_case', text_summary: 'plain words' },
        { client_id: 'plain', type: 'entity', title: 'Plain Title', text_summary: '50% off' },
        { client_id: 'tags', type: 'concept', title: 'tags', slots: { tags: ['a', 'b', 'c'], nested: { k: 1, j: [1, 2] }, n: 3 } },
        { client_id: 'archived', type: 'event', tier: 'archive', title: 'archived' },
        { client_id: 'ready', type: 'event', title: 'ready', embedding: axisVector(0) },
        { client_id: 'draft-topic', type: 'topic', title: 'draft topic', slots: { topic_state: 'draft', member_count: '12' } },
        { client_id: 'topic-int', type: 'topic', title: 'int', slots: { member_count: 7 } },
        { client_id: 'topic-word', type: 'topic', title: 'word', slots: { member_count: 'many' } },
        { client_id: 'topic-float', type: 'topic', title: 'float', slots: { member_count: 2.5 } },
        { client_id: 'topic-signed', type: 'topic', title: 'signed', slots: { member_count: '-3' } },
        { client_id: 'topic-empty', type: 'topic', title: 'empty', slots: { member_count: '' } },
        { client_id: 'topic-none', type: 'topic', title: 'none' },
        { client_id: 'of-a', type: 'event', title: 'of agent a', memory_lane: 'private', owner_agent_id: 'agent-a' },
        { client_id: 'of-x', type: 'event', title: 'of team x', memory_lane: 'private', owner_team_id: 'team-x' },
        { client_id: 'ownerless', type: 'event', title: 'of nobody', memory_lane: 'private' },
      ],
    });
    firstCommit = w1.commit_id;
    const w2 = await write({ scope, memory_lane: 'shared', nodes: [{ client_id: 'late', type: 'event', title: 'written later', text_summary: 'pending at first' }] });
    for (const w of [w1, w2]) for (const n of w.nodes) id[n.client_id!] = n.id;
  });
  afterAll(async () => {
    await env.stop();
  });
  async function write(body: Record<string, unknown>, key: KeyName = 'plain') {
    const res = await env.api.post('/v1/memory/write').set(env.as(key)).send({ input_text: `fixture ${Math.random()}`, ...body });
    expect(res.status).toBe(200);
    return res.body as { commit_id: string; nodes: { id: string; client_id?: string }[] };
  }
  const find = (body: unknown, key: KeyName = 'plain') => env.api.post('/v1/memory/find').set(env.as(key)).send(body as object);
  const clientIds = async (body: Record<string, unknown>, key: KeyName = 'plain') => {
    const res = await find({ scope, limit: 200, ...body }, key);
    expect(res.status).toBe(200);
    return (res.body.nodes as FoundNode[]).map((n) => n.client_id).sort();
  };

  it('answers with tenant_id, scope, mode, every filter echoed (null when unused), the nodes and the page', async () => {
    const res = await find({ scope, type: 'entity', title_contains: 'plain', limit: 1 });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      tenant_id: TENANT,
      scope,
      mode: 'find',
      filters: { ...NO_FILTERS, type: 'entity', title_contains: 'plain' },
      nodes: [{ uri: `aionis://${TENANT}/${scope}/entity/${id.plain}`, id: id.plain, client_id: 'plain', type: 'entity', title: 'Plain Title', text_summary: '50% off' }],
      page: { limit: 1, offset: 0, returned: 1, has_more: false },
    });
    // With nothing given: every filter null, the default page (limit 20, offset 0), scope `default`.
    const empty = await find({});
    expect(empty.body).toEqual({ tenant_id: TENANT, scope: 'default', mode: 'find', filters: NO_FILTERS, nodes: [], page: { limit: 20, offset: 0, returned: 0, has_more: false } });
  });

  it('ANDs the filters: id, client_id (trimmed), type, title/text_contains (case-insensitive, % and _ literal), memory_lane, slots_contains', async () => {
    expect(await clientIds({ id: id.snake })).toEqual(['snake']);
    const trimmed = await find({ scope, client_id: '  snake ' });
    expect(trimmed.body.nodes.map((n: FoundNode) => n.client_id)).toEqual(['snake']);
    expect(trimmed.body.filters.client_id).toBe('snake');
    expect(await clientIds({ type: 'entity' })).toEqual(['plain', 'snake']);
    expect(await clientIds({ title_contains: 'DONE' })).toEqual(['pct']);
    expect(await clientIds({ title_contains: 'plain' })).toEqual(['plain']);
    expect(await clientIds({ text_contains: 'PLAIN' })).toEqual(['snake']);
    expect(await clientIds({ text_contains: 'half_WAY' })).toEqual(['pct']);
    // `%` and `_` match themselves, not "anything" (the contract's listed fix).
    expect(await clientIds({ title_contains: '%' })).toEqual(['pct']);
    expect(await clientIds({ title_contains: '_' })).toEqual(['snake']);
    expect(await clientIds({ text_contains: '%' })).toEqual(['plain']);
    expect(await clientIds({ text_contains: '_' })).toEqual(['pct']);
    expect(await clientIds({ title_contains: 'e_c' })).toEqual(['snake']);
    expect(await clientIds({ title_contains: 's%e' })).toEqual([]);
    expect(await clientIds({ title_contains: '\\' })).toEqual([]);
    expect(await clientIds({ memory_lane: 'private', consumer_agent_id: 'agent-a' })).toEqual(['of-a']);
    expect(await clientIds({ memory_lane: 'shared', type: 'entity' })).toEqual(['plain', 'snake']);
    // JSON containment: every key and value given, recursively; arrays as subsets.
    expect(await clientIds({ slots_contains: { tags: ['c', 'a'] } })).toEqual(['tags']);
    expect(await clientIds({ slots_contains: { nested: { k: 1 } } })).toEqual(['tags']);
    expect(await clientIds({ slots_contains: { nested: { j: [2] }, n: 3 } })).toEqual(['tags']);
    expect(await clientIds({ slots_contains: { tags: ['z'] } })).toEqual([]);
    expect(await clientIds({ slots_contains: { n: 4 } })).toEqual([]);
    expect(await clientIds({ slots_contains: { topic_state: 'draft' } })).toEqual(['draft-topic']);
    // AND: each added filter can only narrow.
    expect(await clientIds({ type: 'entity', title_contains: 'snake' })).toEqual(['snake']);
    expect(await clientIds({ type: 'event', title_contains: 'snake' })).toEqual([]);
    expect(await clientIds({ id: id.snake, client_id: 'plain' })).toEqual([]);
    expect(await clientIds({ type: 'concept', slots_contains: { n: 3 }, title_contains: 'TAG', memory_lane: 'shared' })).toEqual(['tags']);
  });

  it('filters by a URI: its tenant, scope, type and id, echoed as the effective filters', async () => {
    const uri = `aionis://${TENANT}/${scope}/entity/${id.snake}`;
    const res = await find({ uri });
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe(scope); // the URI's scope, though the request named none
    expect(res.body.nodes.map((n: FoundNode) => n.id)).toEqual([id.snake]);
    expect(res.body.nodes[0].uri).toBe(uri);
    expect(res.body.filters).toEqual({ ...NO_FILTERS, uri, id: id.snake, type: 'entity' });
    // Explicit fields that agree are fine.
    expect((await find({ uri, scope, type: 'entity', id: id.snake, tenant_id: TENANT })).body.nodes).toHaveLength(1);
    // A URI with a type other than the node's finds nothing (it is a filter, not a lookup by id).
    expect((await find({ uri: `aionis://${TENANT}/${scope}/event/${id.snake}` })).body.nodes).toEqual([]);
    // Segments are percent-encoded: a scope with a space and a slash round-trips.
    const odd = await write({ scope: 'a b/c', memory_lane: 'shared', nodes: [{ client_id: 'odd', type: 'event', title: 'odd' }] });
    const oddUri = `aionis://${TENANT}/a%20b%2Fc/event/${odd.nodes[0]!.id}`;
    const byUri = await find({ uri: oddUri });
    expect(byUri.body).toMatchObject({ scope: 'a b/c', nodes: [{ uri: oddUri, id: odd.nodes[0]!.id }] });
  });

  it('refuses a URI contradicted by an explicit field with 400 conflicting_filters, and a malformed one with 400 invalid_aionis_uri', async () => {
    const before = await env.counts();
    const uri = `aionis://${TENANT}/${scope}/entity/${id.snake}`;
    const conflicts: [Record<string, unknown>, Record<string, unknown>][] = [
      [{ type: 'event' }, { field: 'type', uri_value: 'entity', request_value: 'event' }],
      [{ scope: 'elsewhere' }, { field: 'scope', uri_value: scope, request_value: 'elsewhere' }],
      [{ id: id.plain }, { field: 'id', uri_value: id.snake, request_value: id.plain }],
    ];
    for (const [extra, details] of conflicts) {
      const res = await find({ uri, ...extra });
      expectContractError(res, 400, 'conflicting_filters');
      expect(res.body.details).toEqual(details);
    }
    // A URI naming another tenant conflicts with the key's tenant.
    const tenant = await find({ uri: `aionis://${OTHER_TENANT}/${scope}/entity/${id.snake}` });
    expectContractError(tenant, 400, 'conflicting_filters');
    expect(tenant.body.details).toEqual({ field: 'tenant_id', uri_value: OTHER_TENANT, request_value: TENANT });
    const v = id.snake!;
    const malformed: [string, Record<string, unknown> | undefined][] = [
      [`http://${TENANT}/${scope}/entity/${v}`, undefined],
      [`aionis:/${TENANT}/${scope}/entity/${v}`, undefined],
      [`aionis://${TENANT}/${scope}/entity`, undefined],
      [`aionis://${TENANT}/${scope}/entity/${v}/more`, undefined],
      [`aionis://${TENANT}//entity/${v}`, undefined],
      [`aionis://${TENANT}/${scope}/memory/${v}`, { type: 'memory' }],
      [`aionis://${TENANT}/${scope}/entity/not-a-uuid`, { id: 'not-a-uuid' }],
      [`aionis://${TENANT}/${scope}/entity/${v.slice(0, 14)}0${v.slice(15)}`, { id: `${v.slice(0, 14)}0${v.slice(15)}` }], // version digit 0
      [`aionis://${TENANT}/${scope}/entity/${v.slice(0, 19)}c${v.slice(20)}`, { id: `${v.slice(0, 19)}c${v.slice(20)}` }], // variant digit c
      [`aionis://${TENANT}/%E0%A4%A/entity/${v}`, undefined],
    ];
    for (const [bad, details] of malformed) {
      const res = await find({ uri: bad });
      expect({ bad, status: res.status, error: res.body.error }).toEqual({ bad, status: 400, error: 'invalid_aionis_uri' });
      expectContractError(res, 400, 'invalid_aionis_uri');
      if (details) expect(res.body.details).toMatchObject(details);
    }
    expect(await env.counts()).toEqual(before);
  });

  it('does not filter on tier, embedding status or topic state: archived, failed, pending and draft nodes are found', async () => {
    const res = await find({ scope, limit: 200, include_meta: true });
    const by = Object.fromEntries((res.body.nodes as (FoundNode & { tier: string; embedding_status: string })[]).map((n) => [n.client_id, n]));
    expect(by['archived']).toMatchObject({ tier: 'archive' });
    expect(by['pct']).toMatchObject({ embedding_status: 'failed' });
    expect(by['ready']).toMatchObject({ embedding_status: 'ready' });
    expect(by['draft-topic']).toMatchObject({ topic_state: 'draft' });
    // A node written a moment ago is found whatever its embedding's progress.
    await write({ scope: 'fresh', memory_lane: 'shared', nodes: [{ client_id: 'fresh', type: 'event', text_summary: 'just now' }] });
    const fresh = await find({ scope: 'fresh', include_meta: true });
    expect(fresh.body.nodes).toHaveLength(1);
    expect(['pending', 'ready']).toContain(fresh.body.nodes[0].embedding_status);
  });

  it('orders by created_at descending then id descending, and pages with limit, offset, returned and has_more', async () => {
    const all = await find({ scope, limit: 200, include_meta: true });
    const nodes = all.body.nodes as FoundNode[];
    expect(nodes.length).toBeGreaterThan(4);
    const expected = [...nodes].sort((a, b) => (sortable(a.created_at) === sortable(b.created_at) ? (a.id < b.id ? 1 : -1) : sortable(a.created_at) < sortable(b.created_at) ? 1 : -1));
    expect(nodes.map((n) => n.id)).toEqual(expected.map((n) => n.id));
    // The later write comes first; the nodes of one write share created_at and are ordered by id.
    expect(nodes[0]!.client_id).toBe('late');
    const firstWrite = nodes.slice(1);
    expect(new Set(firstWrite.map((n) => n.created_at)).size).toBe(1);
    expect(firstWrite.map((n) => n.id)).toEqual(firstWrite.map((n) => n.id).sort().reverse());
    const total = nodes.length;
    expect(all.body.page).toEqual({ limit: 200, offset: 0, returned: total, has_more: false });
    const p1 = await find({ scope, limit: 2 });
    expect(p1.body.page).toEqual({ limit: 2, offset: 0, returned: 2, has_more: true });
    expect(p1.body.nodes.map((n: FoundNode) => n.id)).toEqual(nodes.slice(0, 2).map((n) => n.id));
    const p2 = await find({ scope, limit: 2, offset: 2 });
    expect(p2.body.nodes.map((n: FoundNode) => n.id)).toEqual(nodes.slice(2, 4).map((n) => n.id));
    const tail = await find({ scope, limit: 2, offset: total - 1 });
    expect(tail.body.page).toEqual({ limit: 2, offset: total - 1, returned: 1, has_more: false });
    const exact = await find({ scope, limit: 2, offset: total - 2 });
    expect(exact.body.page).toEqual({ limit: 2, offset: total - 2, returned: 2, has_more: false });
    const past = await find({ scope, offset: 200_000 });
    expect(past.body).toMatchObject({ nodes: [], page: { limit: 20, offset: 200_000, returned: 0, has_more: false } });
    const dflt = await find({ scope });
    expect(dflt.body.page).toEqual({ limit: 20, offset: 0, returned: Math.min(20, total), has_more: total > 20 });
    expect((await find({ scope, limit: 1 })).status).toBe(200);
    expect((await find({ scope, limit: 200 })).status).toBe(200);
    expect((await find({ scope, offset: 0 })).status).toBe(200);
  });

  it('adds the meta set with include_meta, timestamps in PostgreSQL text form', async () => {
    const res = await find({ scope, client_id: 'ready', include_meta: true });
    expect(res.body.nodes).toEqual([
      {
        uri: `aionis://${TENANT}/${scope}/event/${id.ready}`,
        id: id.ready,
        client_id: 'ready',
        type: 'event',
        title: 'ready',
        text_summary: null,
        tier: 'hot',
        memory_lane: 'shared',
        producer_agent_id: null,
        owner_agent_id: null,
        owner_team_id: null,
        embedding_status: 'ready',
        embedding_model: 'client',
        raw_ref: null,
        evidence_ref: null,
        created_at: expect.stringMatching(PG_TIMESTAMP),
        updated_at: expect.stringMatching(PG_TIMESTAMP),
        last_activated: null,
        salience: 0.5,
        importance: 0.5,
        confidence: 0.5,
        commit_id: firstCommit,
      },
    ]);
    // Without include_meta: the six members only; nothing of the embedding ever.
    const bare = await find({ scope, client_id: 'ready' });
    expect(Object.keys(bare.body.nodes[0]).sort()).toEqual(['client_id', 'id', 'text_summary', 'title', 'type', 'uri']);
    expect(JSON.stringify(res.body)).not.toMatch(/"embedding"/);
  });

  it('gives topics topic_state (default active) and member_count (null unless digits), and slots or a sorted preview on request', async () => {
    const topics = await find({ scope, type: 'topic', limit: 200 });
    const by = Object.fromEntries((topics.body.nodes as (FoundNode & { topic_state: string; member_count: number | null })[]).map((n) => [n.client_id, [n.topic_state, n.member_count]]));
    expect(by).toEqual({
      'draft-topic': ['draft', 12],
      'topic-int': ['active', 7],
      'topic-word': ['active', null],
      'topic-float': ['active', null],
      'topic-signed': ['active', null],
      'topic-empty': ['active', null],
      'topic-none': ['active', null],
    });
    const entity = await find({ scope, client_id: 'snake' });
    expect(entity.body.nodes[0]).not.toHaveProperty('topic_state');
    const slots = { tags: ['a', 'b', 'c'], nested: { k: 1, j: [1, 2] }, n: 3 };
    expect((await find({ scope, client_id: 'tags', include_slots: true, include_slots_preview: true })).body.nodes[0].slots).toEqual(slots);
    const preview = await find({ scope, client_id: 'tags', include_slots_preview: true, slots_preview_keys: 2 });
    expect(preview.body.nodes[0].slots_preview).toEqual({ n: 3, nested: { k: 1, j: [1, 2] } });
    expect(preview.body.nodes[0]).not.toHaveProperty('slots');
    const dflt = await find({ scope, client_id: 'tags', include_slots_preview: true });
    expect(dflt.body.nodes[0].slots_preview).toEqual({ n: 3, nested: { k: 1, j: [1, 2] }, tags: ['a', 'b', 'c'] });
    expect((await find({ scope, client_id: 'snake', include_slots_preview: true, slots_preview_keys: 50 })).body.nodes[0].slots_preview).toEqual({});
  });

  it('applies lane visibility: shared to all, private to the owner agent or team only, ownerless private to nobody', async () => {
    const shared = ['archived', 'draft-topic', 'late', 'pct', 'plain', 'ready', 'snake', 'tags', 'topic-empty', 'topic-float', 'topic-int', 'topic-none', 'topic-signed', 'topic-word'];
    const withs = (...extra: string[]) => [...shared, ...extra].sort();
    expect(await clientIds({})).toEqual(withs());
    expect(await clientIds({ consumer_agent_id: 'agent-a' })).toEqual(withs('of-a'));
    expect(await clientIds({ consumer_team_id: 'team-x' })).toEqual(withs('of-x'));
    expect(await clientIds({ consumer_agent_id: 'agent-a', consumer_team_id: 'team-x' })).toEqual(withs('of-a', 'of-x'));
    expect(await clientIds({}, 'agentA')).toEqual(withs('of-a'));
    expect(await clientIds({}, 'agentB')).toEqual(withs());
    expect(await clientIds({}, 'teamX')).toEqual(withs('of-x'));
    // Even by its exact id, an ownerless private node is found by no one.
    for (const key of ['plain', 'agentA', 'teamX'] as const) expect(await clientIds({ id: id.ownerless }, key)).toEqual([]);
    // The consumer ids a bound key injects are echoed.
    const a = await find({ scope, client_id: 'of-a' }, 'agentA');
    expect(a.body.filters).toMatchObject({ consumer_agent_id: 'agent-a', consumer_team_id: null });
    const x = await find({ scope, client_id: 'of-x' }, 'teamX');
    expect(x.body.filters).toMatchObject({ consumer_agent_id: null, consumer_team_id: 'team-x' });
    const mismatch = await find({ scope, consumer_agent_id: 'agent-b' }, 'agentA');
    expectContractError(mismatch, 403, 'identity_mismatch');
    expect(mismatch.body.details).toEqual({ field: 'consumer_agent_id', provided: 'agent-b', expected: 'agent-a' });
    const header = await env.api.post('/v1/memory/find').set(env.as('plain')).set('x-tenant-id', OTHER_TENANT).send({ scope });
    expectContractError(header, 403, 'identity_mismatch');
  });

  it("sees nothing of another tenant's or another project's scope of the same name, even by id", async () => {
    for (const key of ['other', 'project'] as const) {
      expect({ key, all: await clientIds({ consumer_agent_id: 'agent-a' }, key) }).toEqual({ key, all: [] });
      expect({ key, byId: await clientIds({ id: id.snake }, key) }).toEqual({ key, byId: [] });
    }
    expect((await find({ scope }, 'other')).body.tenant_id).toBe(OTHER_TENANT);
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and stores nothing', async () => {
    const before = await env.counts();
    const raw = (text: string) => env.api.post('/v1/memory/find').set(env.as('plain')).send(text);
    const invalid: [string, Record<string, unknown>][] = [
      ['type', { type: 'memory' }],
      ['type', { type: 7 }],
      ['id', { id: 'not-a-uuid' }],
      ['client_id', { client_id: '' }],
      ['uri', { uri: '' }],
      ['title_contains', { title_contains: '' }],
      ['text_contains', { text_contains: 5 }],
      ['memory_lane', { memory_lane: 'public' }],
      ['slots_contains', { slots_contains: ['a'] }],
      ['slots_contains', { slots_contains: 'a' }],
      ['consumer_agent_id', { consumer_agent_id: '' }],
      ['consumer_team_id', { consumer_team_id: 1 }],
      ['include_meta', { include_meta: 'true' }],
      ['include_slots', { include_slots: 1 }],
      ['include_slots_preview', { include_slots_preview: null }],
      ['slots_preview_keys', { slots_preview_keys: 0 }],
      ['slots_preview_keys', { slots_preview_keys: 51 }],
      ['limit', { limit: 0 }],
      ['limit', { limit: 201 }],
      ['limit', { limit: 1.5 }],
      ['limit', { limit: '10' }],
      ['offset', { offset: -1 }],
      ['offset', { offset: 200_001 }],
      ['scope', { scope: 9 }],
    ];
    for (const [field, body] of invalid) {
      const res = await find({ scope, ...body });
      expect({ field, status: res.status, error: res.body?.error }).toEqual({ field, status: 400, error: 'invalid_request' });
      expectContractError(res, 400, 'invalid_request');
      expect(res.body.issues).toEqual(expect.arrayContaining([{ path: field, message: expect.any(String) }]));
    }
    const cases: [string, () => ReturnType<typeof find>, number, string][] = [
      ['an infinite limit', () => raw('{"scope":"find","limit":1e999}'), 400, 'invalid_request'],
      ['NaN (not JSON)', () => raw('{"scope":"find","limit":NaN}'), 400, 'invalid_request'],
      ['a NUL character', () => raw('{"scope":"find","title_contains":"a\\u0000b"}'), 400, 'invalid_request'],
      ['a NUL character in slots_contains', () => raw('{"scope":"find","slots_contains":{"k":"a\\u0000b"}}'), 400, 'invalid_request'],
      ['JSON nested 200 levels deep', () => find({ scope, slots_contains: deepObject(200) }), 400, 'invalid_request'],
      ['malformed JSON', () => raw('{"scope":'), 400, 'invalid_request'],
      ['a body that is an array', () => env.api.post('/v1/memory/find').set(env.as('plain')).send([{ scope }]), 400, 'invalid_request'],
      ['an empty scope', () => find({ scope: '  ' }), 400, 'invalid_scope'],
      ['a 6 MiB body', () => find({ scope, title_contains: 'x'.repeat(6 * 1024 * 1024) }), 413, 'payload_too_large'],
      ['no key', () => env.api.post('/v1/memory/find').set('content-type', 'application/json').send({ scope }), 401, 'unauthorized'],
      ['a write-only key', () => find({ scope }, 'writeOnly'), 403, 'forbidden'],
    ];
    await expectEachRefused(cases);
    expect(await env.counts()).toEqual(before);
    // A find without a body is a find of the default scope with no filter.
    const none = await env.api.post('/v1/memory/find').set('x-api-key', env.keys.plain);
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ scope: 'default', filters: NO_FILTERS });
  });
});
