import { createHash } from 'node:crypto';
import { type ContractEnv, expectContractError, type KeyName, OTHER_TENANT, startContractEnv, TENANT } from '../../support/contract';

/**
 * GET /v1/memory/sessions/:session_id/events, from the contract (§2.8, §3.2, §7, §1.2 points 1
 * and 8): query values read from strings (booleans true/1 and false/0/empty, the contract's fix),
 * limits and defaults, the page, the order, which nodes are listed, the EventDTO with and without
 * meta, the session found without a lane filter while its events are lane-filtered, the path
 * decoded once, and tenant/project isolation.
 */
function stableUuid(name: string): string {
  const h = createHash('sha256').update(`aionis-memory-graph:${name}`, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
const nodeIdOf = (scope: string, clientId: string): string => stableUuid(`tenant:${TENANT}::scope:${scope}:node:${clientId}`);
/** PostgreSQL's text form of a timestamptz under UTC (§1.10). */
const PG_TS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00$/;
const BASE_KEYS = ['uri', 'id', 'client_id', 'event_id', 'type', 'title', 'text_summary', 'edge_weight', 'edge_confidence'];
const META_KEYS = ['memory_lane', 'producer_agent_id', 'owner_agent_id', 'owner_team_id', 'embedding_status', 'embedding_model', 'raw_ref', 'evidence_ref', 'created_at', 'updated_at', 'last_activated', 'salience', 'importance', 'confidence', 'commit_id'];
const sorted = (xs: readonly string[]) => [...xs].sort();

describe('contract: GET /v1/memory/sessions/:session_id/events', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env.stop();
  });
  /** The SDK's call: the path segment percent-encoded, every query value a string, content-type json and no body. */
  const list = (sessionId: string, query: Record<string, string> = {}, key: KeyName = 'plain') =>
    env.api
      .get(`/v1/memory/sessions/${encodeURIComponent(sessionId)}/events`)
      .query(query)
      .set(env.as(key));
  const listPath = (path: string, key: KeyName = 'plain') => env.api.get(path).set(env.as(key));
  const post = (path: string, body: Record<string, unknown>, key: KeyName = 'plain') => env.api.post(path).set(env.as(key)).send(body).expect(200);
  const ids = (res: { body: { events: { id: string }[] } }) => res.body.events.map((e) => e.id);

  let example: { sessionId: string; eventId: string; eventCommit: string };
  beforeAll(async () => {
    await post('/v1/memory/sessions', { scope: 'travel-desk', session_id: 'chat-2026-02-20-01', title: 'Booking chat with Maria', metadata: { channel: 'web' }, memory_lane: 'shared' });
    const ev = await post('/v1/memory/events', { scope: 'travel-desk', session_id: 'chat-2026-02-20-01', event_id: 'turn-3', text_summary: 'Maria asked for an aisle seat this time', memory_lane: 'shared', metadata: { seat: 'aisle', b: 2, a: 1 } });
    example = { sessionId: ev.body.session_node_id as string, eventId: ev.body.event_node_id as string, eventCommit: ev.body.commit_id as string };
  });

  it("answers the contract's example with the session and the EventDTO, ids derived for contract-a", async () => {
    const res = await list('chat-2026-02-20-01', { scope: 'travel-desk', limit: '1' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const sessionId = nodeIdOf('travel-desk', 'session:chat-2026-02-20-01');
    const eventId = nodeIdOf('travel-desk', 'session_event:chat-2026-02-20-01:turn-3');
    expect([example.sessionId, example.eventId]).toEqual([sessionId, eventId]);
    expect(res.body).toEqual({
      tenant_id: TENANT,
      scope: 'travel-desk',
      session: { session_id: 'chat-2026-02-20-01', node_id: sessionId, title: 'Booking chat with Maria', text_summary: 'Booking chat with Maria', uri: `aionis://${TENANT}/travel-desk/topic/${sessionId}` },
      events: [
        {
          uri: `aionis://${TENANT}/travel-desk/event/${eventId}`,
          id: eventId,
          client_id: 'session_event:chat-2026-02-20-01:turn-3',
          event_id: 'turn-3',
          type: 'event',
          title: null,
          text_summary: 'Maria asked for an aisle seat this time',
          edge_weight: 1,
          edge_confidence: 1,
        },
      ],
      page: { limit: 1, offset: 0, returned: 1, has_more: false },
    });
    // The same call without the content-type the SDK always sends.
    const bare = await env.api.get('/v1/memory/sessions/chat-2026-02-20-01/events?scope=travel-desk').set('x-api-key', env.keys.plain);
    expect(bare.status).toBe(200);
    expect(ids(bare)).toEqual([eventId]);
  });

  it('reads booleans from strings: include_meta=false and =0 (and empty) mean false, =true and =1 true; meta has no tier and pg text timestamps', async () => {
    for (const v of ['false', '0', '']) {
      const res = await list('chat-2026-02-20-01', { scope: 'travel-desk', include_meta: v });
      expect({ v, status: res.status }).toEqual({ v, status: 200 });
      expect({ v, keys: sorted(Object.keys(res.body.events[0])) }).toEqual({ v, keys: sorted(BASE_KEYS) });
    }
    for (const v of ['true', '1']) {
      const res = await list('chat-2026-02-20-01', { scope: 'travel-desk', include_meta: v });
      expect({ v, keys: sorted(Object.keys(res.body.events[0])) }).toEqual({ v, keys: sorted([...BASE_KEYS, ...META_KEYS]) });
      expect(res.body.events[0]).toMatchObject({
        memory_lane: 'shared',
        producer_agent_id: null,
        owner_agent_id: null,
        owner_team_id: null,
        embedding_status: expect.stringMatching(/^(pending|ready)$/),
        raw_ref: null,
        evidence_ref: null,
        created_at: expect.stringMatching(PG_TS),
        updated_at: expect.stringMatching(PG_TS),
        last_activated: null,
        salience: 0.5,
        importance: 0.5,
        confidence: 0.5,
        commit_id: example.eventCommit,
      });
      expect(res.body.events[0]).not.toHaveProperty('tier');
    }
    const slots = await list('chat-2026-02-20-01', { scope: 'travel-desk', include_slots: 'true' });
    expect(slots.body.events[0].slots).toEqual({ seat: 'aisle', b: 2, a: 1, system_kind: 'session_event', session_id: 'chat-2026-02-20-01', event_id: 'turn-3' });
    const preview = await list('chat-2026-02-20-01', { scope: 'travel-desk', include_slots_preview: '1', slots_preview_keys: '2' });
    expect(preview.body.events[0].slots_preview).toEqual({ a: 1, b: 2 });
    expect(preview.body.events[0]).not.toHaveProperty('slots');
    const neither = await list('chat-2026-02-20-01', { scope: 'travel-desk', include_slots: 'false', include_slots_preview: '0' });
    expect(sorted(Object.keys(neither.body.events[0]))).toEqual(sorted(BASE_KEYS));
  });

  it('lists only event nodes linked by part_of, newest first (created_at desc, then id desc), paged with limit 1..200 (default 20) and offset', async () => {
    const scope = 'paging';
    const batch = Array.from({ length: 21 }, (_, i) => `ev-${String(i).padStart(2, '0')}`);
    await post('/v1/memory/write', {
      scope,
      input_text: 'a long session',
      memory_lane: 'shared',
      nodes: [
        { client_id: 'session:big', type: 'topic', title: 'Session big' },
        { client_id: 'topic:other', type: 'topic', title: 'Another topic' },
        ...batch.map((c) => ({ client_id: c, type: 'event', text_summary: c })),
        { client_id: 'an-entity', type: 'entity', title: 'not an event' },
        { client_id: 'related', type: 'event', text_summary: 'linked by related_to' },
        { client_id: 'elsewhere', type: 'event', text_summary: 'part of another topic' },
      ],
      edges: [
        ...batch.map((c) => ({ type: 'part_of', src: { client_id: c }, dst: { client_id: 'session:big' }, weight: 0.7, confidence: 0.6 })),
        { type: 'part_of', src: { client_id: 'an-entity' }, dst: { client_id: 'session:big' } },
        { type: 'related_to', src: { client_id: 'related' }, dst: { client_id: 'session:big' } },
        { type: 'part_of', src: { client_id: 'elsewhere' }, dst: { client_id: 'topic:other' } },
      ],
    });
    await new Promise((r) => setTimeout(r, 5));
    const late = await post('/v1/memory/events', { scope, session_id: 'big', event_id: 'late', title: 'the newest', memory_lane: 'shared' });
    // One write shares one created_at: those events are ordered by id, descending, after the newer one.
    const expected = [late.body.event_node_id as string, ...batch.map((c) => nodeIdOf(scope, c)).sort().reverse()];

    const first = await list('big', { scope });
    expect(first.body.page).toEqual({ limit: 20, offset: 0, returned: 20, has_more: true });
    expect(ids(first)).toEqual(expected.slice(0, 20));
    expect(first.body.events[1]).toMatchObject({ event_id: null, edge_weight: 0.7, edge_confidence: 0.6, type: 'event' }); // written by /write: no slots.event_id
    expect(first.body.events[0]).toMatchObject({ event_id: 'late', title: 'the newest', edge_weight: 1, edge_confidence: 1 });
    const rest = await list('big', { scope, offset: '20' });
    expect(rest.body.page).toEqual({ limit: 20, offset: 20, returned: 2, has_more: false });
    expect(ids(rest)).toEqual(expected.slice(20));
    const all = await list('big', { scope, limit: '200' });
    expect(ids(all)).toEqual(expected);
    expect((await list('big', { scope, limit: '1', offset: '21' })).body).toMatchObject({ events: [{ id: expected[21] }], page: { limit: 1, offset: 21, returned: 1, has_more: false } });
    expect((await list('big', { scope, limit: '21', offset: '0' })).body.page).toEqual({ limit: 21, offset: 0, returned: 21, has_more: true });
    expect((await list('big', { scope, offset: '200000' })).body).toMatchObject({ events: [], page: { limit: 20, offset: 200000, returned: 0, has_more: false } });
    // The session member of the page is the topic node the events belong to.
    expect(first.body.session).toEqual({ session_id: 'big', node_id: nodeIdOf(scope, 'session:big'), title: 'Session big', text_summary: null, uri: `aionis://${TENANT}/${scope}/topic/${nodeIdOf(scope, 'session:big')}` });
  });

  it('answers 200 with session null, no events and an empty page for an unknown session', async () => {
    const res = await list('no-such-session', { scope: 'travel-desk' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ tenant_id: TENANT, scope: 'travel-desk', session: null, events: [], page: { limit: 20, offset: 0, returned: 0, has_more: false } });
    expect((await list('no-such-session', { scope: 'travel-desk', limit: '5', offset: '3' })).body.page).toEqual({ limit: 5, offset: 3, returned: 0, has_more: false });
    // The default scope is `default`: the example session is not there.
    expect((await list('chat-2026-02-20-01')).body).toMatchObject({ scope: 'default', session: null, events: [] });
  });

  it('decodes the percent-encoded path segment exactly once (spaces, slashes, unicode, a literal %41)', async () => {
    const odd = 'a/b c%41 ü';
    const created = await post('/v1/memory/events', { scope: 'odd', session_id: odd, event_id: 'e/1', title: 'odd one', memory_lane: 'shared' });
    const res = await list(odd, { scope: 'odd' });
    expect(res.status).toBe(200);
    expect(res.body.session).toMatchObject({ session_id: odd, node_id: created.body.session_node_id, title: `Session ${odd}` });
    expect(res.body.events).toEqual([expect.objectContaining({ id: created.body.event_node_id, client_id: 'session_event:a%2Fb%20c%2541%20%C3%BC:e%2F1', event_id: 'e/1' })]);
    // Decoding twice would have looked for "a/b cA ü", which does not exist.
    expect((await listPath('/v1/memory/sessions/a%2Fb%20cA%20%C3%BC/events?scope=odd')).body.session).toBeNull();
  });

  it('applies lanes to the events but not to the session node: a private event of agent-a is invisible to agent-b', async () => {
    const scope = 'lanes';
    await post('/v1/memory/sessions', { scope, session_id: 'lane-s' }, 'agentA'); // private to agent-a
    const a = await post('/v1/memory/events', { scope, session_id: 'lane-s', event_id: 'a', title: 'a private' }, 'agentA');
    const b = await post('/v1/memory/events', { scope, session_id: 'lane-s', event_id: 'b', title: 'b private' }, 'agentB');
    const t = await post('/v1/memory/events', { scope, session_id: 'lane-s', event_id: 't', title: 'team private' }, 'teamX');
    const s = await post('/v1/memory/events', { scope, session_id: 'lane-s', event_id: 's', title: 'shared', memory_lane: 'shared' });
    // Private without an owner: in none of the sets below, since no reader can see it (§3.2).
    await post('/v1/memory/events', { scope, session_id: 'lane-s', event_id: 'n', title: 'private, no owner' });
    const visible = async (key: KeyName, query: Record<string, string> = {}) => {
      const res = await list('lane-s', { scope, limit: '200', ...query }, key);
      expect(res.status).toBe(200);
      expect(res.body.session).toMatchObject({ node_id: a.body.session_node_id, session_id: 'lane-s' });
      return new Set(ids(res));
    };
    const id = (r: { body: { event_node_id: string } }) => r.body.event_node_id;
    expect(await visible('agentA')).toEqual(new Set([id(a), id(s)]));
    expect(await visible('agentB')).toEqual(new Set([id(b), id(s)]));
    expect(await visible('teamX')).toEqual(new Set([id(t), id(s)]));
    expect(await visible('plain')).toEqual(new Set([id(s)]));
    expect(await visible('plain', { consumer_agent_id: 'agent-a' })).toEqual(new Set([id(a), id(s)]));
    expect(await visible('plain', { consumer_team_id: 'team-x' })).toEqual(new Set([id(t), id(s)]));
    expect(await visible('agentA', { consumer_agent_id: 'agent-a' })).toEqual(new Set([id(a), id(s)]));
    expect([...(await visible('plain', { consumer_agent_id: 'agent-a', consumer_team_id: 'team-x' }))].sort()).toEqual([id(a), id(t), id(s)].sort());
    // A reader may not claim another agent's or team's identity.
    for (const [key, query, field] of [
      ['agentA', { consumer_agent_id: 'agent-b' }, 'consumer_agent_id'],
      ['teamX', { consumer_team_id: 'team-y' }, 'consumer_team_id'],
    ] as const) {
      const res = await list('lane-s', { scope, ...query }, key);
      expectContractError(res, 403, 'identity_mismatch');
      expect(res.body.details).toMatchObject({ field });
    }
  });

  it("keeps tenants and projects apart: the other tenant's and the project's keys see no session and no events of plain's", async () => {
    for (const key of ['other', 'project'] as const) {
      const res = await list('chat-2026-02-20-01', { scope: 'travel-desk' }, key);
      expect({ key, status: res.status, session: res.body.session, events: res.body.events }).toEqual({ key, status: 200, session: null, events: [] });
    }
    expect((await list('chat-2026-02-20-01', { scope: 'travel-desk' }, 'other')).body.tenant_id).toBe(OTHER_TENANT);
    expect((await list('chat-2026-02-20-01', { scope: 'travel-desk', tenant_id: TENANT })).body.events).toHaveLength(1);
    expectContractError(await list('chat-2026-02-20-01', { scope: 'travel-desk', tenant_id: OTHER_TENANT }), 403, 'identity_mismatch');
    expectContractError(await list('chat-2026-02-20-01', { scope: 'travel-desk' }).set('x-tenant-id', OTHER_TENANT), 403, 'identity_mismatch');
  });

  it('needs a key with memory:read: 401 and 403 in the contract shape', async () => {
    expectContractError(await env.api.get('/v1/memory/sessions/x/events').set('Content-Type', 'application/json'), 401, 'unauthorized');
    expectContractError(await list('chat-2026-02-20-01', { scope: 'travel-desk' }, 'writeOnly'), 403, 'forbidden');
    expect((await list('chat-2026-02-20-01', { scope: 'travel-desk' }, 'readOnly')).body.events).toHaveLength(1);
  });

  it('refuses bad query values and a bad path with 400 in the contract shape, never a 5xx', async () => {
    const before = await env.counts();
    const cases: [string, string, string][] = [
      ['a non-numeric limit', 'limit=abc', 'limit'],
      ['limit 0', 'limit=0', 'limit'],
      ['limit 201', 'limit=201', 'limit'],
      ['a fractional limit', 'limit=1.5', 'limit'],
      ['a negative limit', 'limit=-1', 'limit'],
      ['an empty limit', 'limit=', 'limit'],
      ['a repeated limit', 'limit=1&limit=2', 'limit'],
      ['offset 200001', 'offset=200001', 'offset'],
      ['a negative offset', 'offset=-1', 'offset'],
      ['slots_preview_keys 0', 'slots_preview_keys=0', 'slots_preview_keys'],
      ['slots_preview_keys 51', 'slots_preview_keys=51', 'slots_preview_keys'],
      ['a repeated include_meta', 'include_meta=true&include_meta=false', 'include_meta'],
    ];
    for (const [name, query, path] of cases) {
      const res = await listPath(`/v1/memory/sessions/chat-2026-02-20-01/events?scope=travel-desk&${query}`);
      expect({ name, status: res.status, error: res.body?.error }).toEqual({ name, status: 400, error: 'invalid_request' });
      expectContractError(res, 400, 'invalid_request');
      expect({ name, paths: (res.body.issues as { path: string }[]).map((i) => i.path) }).toEqual({ name, paths: [path] });
    }
    const paths: [string, string, string][] = [
      ['a session id of 129 characters', `/v1/memory/sessions/${'x'.repeat(129)}/events`, 'invalid_request'],
      ['a session id of spaces only', '/v1/memory/sessions/%20%20/events', 'invalid_request'],
      ['a malformed percent-encoding', '/v1/memory/sessions/a%zzb/events', 'invalid_request'],
      ['an empty scope', '/v1/memory/sessions/x/events?scope=%20', 'invalid_scope'],
    ];
    for (const [name, path, code] of paths) {
      const res = await listPath(path);
      expect({ name, status: res.status, error: res.body?.error }).toEqual({ name, status: 400, error: code });
      expectContractError(res, 400, code);
    }
    // 128 characters is within the limit.
    expect((await listPath(`/v1/memory/sessions/${'x'.repeat(128)}/events`)).status).toBe(200);
    expect(await env.counts()).toEqual(before);
  });

  it('refuses a NUL character in a query value with 400, not a 5xx', async () => {
    // On the example session, so that the lane filter runs with the consumer ids.
    const queries = ['scope=a%00b', 'scope=travel-desk&consumer_agent_id=a%00b', 'scope=travel-desk&consumer_team_id=a%00b'];
    const answers = await Promise.all(queries.map((q) => listPath(`/v1/memory/sessions/chat-2026-02-20-01/events?${q}`)));
    expect(answers.map((r, i) => [queries[i], r.status])).toEqual(queries.map((q) => [q, 400]));
    for (const res of answers) expectContractError(res, 400, 'invalid_request');
  });
});
