import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { type ContractEnv, deepObject, type KeyName, TENANT, OTHER_TENANT, startContractEnv, expectContractError, expectEachRefused } from '../../support/contract';
import { sha, sha256, UUID } from '../../support/spec-hash';

/**
 * POST /v1/memory/events, from the contract (§2.7, §7, §1.4, §1.9): every request field with its
 * type, default and limit, every response member ([session topic, event] and the part_of edge),
 * the derived ids, URIs, edge id and commit hash, implicit session creation, the embedding queue,
 * idempotent repeats, identity injection, tenant isolation, and bad input refused with nothing
 * written. The derivations of §1.9 are written out here and checked against the contract's example.
 */
function stableUuid(name: string): string {
  const h = createHash('sha256').update(`aionis-memory-graph:${name}`, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
const scopeKeyOf = (tenant: string, scope: string): string => (tenant === 'default' ? scope : `tenant:${tenant}::scope:${scope}`);
const nodeIdOf = (tenant: string, scope: string, clientId: string): string => stableUuid(`${scopeKeyOf(tenant, scope)}:node:${clientId}`);
type Owners = { producer_agent_id: string | null; owner_agent_id: string | null; owner_team_id: string | null };
const NO_OWNERS: Owners = { producer_agent_id: null, owner_agent_id: null, owner_team_id: null };

/**
 * What an event write derives (§1.9, §7): the two node ids, the part_of edge id (keyed by the
 * normalised input text and the client ids as sent) and the commit hash (no parent; the session
 * node enters the diff with its implicit title whatever the stored one is).
 */
function expectedEvent(o: { tenant?: string; scope: string; session: string; event: string; inputText: string; title?: string; lane: 'private' | 'shared'; owners?: Owners; actor?: string }) {
  const tenant = o.tenant ?? TENANT;
  const owners = o.owners ?? NO_OWNERS;
  const sessionCid = `session:${encodeURIComponent(o.session)}`;
  const eventCid = `session_event:${encodeURIComponent(o.session)}:${encodeURIComponent(o.event)}`;
  const sessionId = nodeIdOf(tenant, o.scope, sessionCid);
  const eventId = nodeIdOf(tenant, o.scope, eventCid);
  const edgeId = stableUuid(`${scopeKeyOf(tenant, o.scope)}:edge:${o.inputText}:part_of:${eventCid}:${sessionCid}`);
  const diff = {
    redaction: {},
    nodes: [
      { id: sessionId, client_id: sessionCid, type: 'topic', title: `Session ${o.session}`, memory_lane: o.lane, ...owners },
      { id: eventId, client_id: eventCid, type: 'event', title: o.title, memory_lane: o.lane, ...owners },
    ],
    edges: [{ id: edgeId, type: 'part_of', src_id: eventId, dst_id: sessionId }],
  };
  const commitHash = sha({ parentHash: '', inputSha: sha256(o.inputText), diffSha: sha(diff), scope: scopeKeyOf(tenant, o.scope), actor: o.actor ?? 'event_api', model_version: null, prompt_version: null });
  return { sessionCid, eventCid, sessionId, eventId, edgeId, commitHash };
}

describe('contract: POST /v1/memory/events', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env.stop();
  });
  const event = (body: unknown, key: KeyName = 'plain') => env.api.post('/v1/memory/events').set(env.as(key)).send(body as object);
  const stored = async (scope: string, clientId: string) => {
    const r = await sql<{ node_id: string; type: string; title: string | null; text_summary: string | null; slots: Record<string, unknown>; memory_lane: string; producer_agent_id: string | null; owner_agent_id: string | null; owner_team_id: string | null; embedding_status: string; commit_id: string }>`
      SELECT node_id::text AS node_id, type, title, text_summary, slots, memory_lane, producer_agent_id, owner_agent_id, owner_team_id, embedding_status, commit_id::text AS commit_id
      FROM memory_nodes WHERE tenant_id = ${TENANT} AND project_key = '' AND scope = ${scope} AND client_id = ${clientId}`.execute(env.t.tdb.database.db);
    expect(r.rows).toHaveLength(1);
    return r.rows[0]!;
  };
  const edgeOf = async (scope: string, src: string) => {
    const r = await sql<{ edge_id: string; type: string; dst_id: string; weight: number; confidence: number }>`
      SELECT edge_id::text AS edge_id, type, dst_id::text AS dst_id, weight, confidence FROM memory_edges WHERE tenant_id = ${TENANT} AND project_key = '' AND scope = ${scope} AND src_id = ${src}::uuid`.execute(env.t.tdb.database.db);
    expect(r.rows).toHaveLength(1);
    return { ...r.rows[0]!, weight: Number(r.rows[0]!.weight), confidence: Number(r.rows[0]!.confidence) };
  };
  const commitRow = async (commitId: string) => {
    const r = await sql<{ actor: string; input_sha256: string }>`SELECT actor, input_sha256 FROM memory_commits WHERE commit_id = ${commitId}::uuid`.execute(env.t.tdb.database.db);
    expect(r.rows).toHaveLength(1);
    return r.rows[0]!;
  };

  it("reproduces the contract's example ids and hash with this suite's derivations (default tenant)", () => {
    const x = expectedEvent({ tenant: 'default', scope: 'travel-desk', session: 'chat-2026-02-20-01', event: 'turn-3', inputText: 'Maria asked for an aisle seat this time', lane: 'shared' });
    expect(x).toEqual({
      sessionCid: 'session:chat-2026-02-20-01',
      eventCid: 'session_event:chat-2026-02-20-01:turn-3',
      sessionId: 'ccdc2bad-73a0-50fa-9907-e89fe9ac38c7',
      eventId: '5bc5c067-fce7-56a5-9569-a91ddf2efd50',
      edgeId: 'f0795f24-8b58-551c-9a0d-c73879dbee5a',
      commitHash: '43d26219ba03b7174562e6f2e848200c83d3bac413af876b27f1480c3e019101',
    });
  });

  it('answers the example with every member: [session topic, event], the part_of edge, URIs, ids and hash derived for contract-a, 2 nodes queued', async () => {
    await env.api.post('/v1/memory/sessions').set(env.as('plain')).send({ scope: 'travel-desk', session_id: 'chat-2026-02-20-01', title: 'Booking chat with Maria', memory_lane: 'shared' }).expect(200);
    const res = await event({ scope: 'travel-desk', session_id: 'chat-2026-02-20-01', event_id: 'turn-3', text_summary: 'Maria asked for an aisle seat this time', memory_lane: 'shared' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const x = expectedEvent({ scope: 'travel-desk', session: 'chat-2026-02-20-01', event: 'turn-3', inputText: 'Maria asked for an aisle seat this time', lane: 'shared' });
    expect(res.body).toEqual({
      tenant_id: TENANT,
      scope: 'travel-desk',
      session_id: 'chat-2026-02-20-01',
      event_id: 'turn-3',
      event_node_id: x.eventId,
      session_node_id: x.sessionId,
      event_uri: `aionis://${TENANT}/travel-desk/event/${x.eventId}`,
      session_uri: `aionis://${TENANT}/travel-desk/topic/${x.sessionId}`,
      commit_id: expect.stringMatching(UUID),
      commit_hash: x.commitHash,
      nodes: [
        { id: x.sessionId, client_id: 'session:chat-2026-02-20-01', type: 'topic' },
        { id: x.eventId, client_id: 'session_event:chat-2026-02-20-01:turn-3', type: 'event' },
      ],
      edges: [{ id: x.edgeId, type: 'part_of', src_id: x.eventId, dst_id: x.sessionId }],
      embedding_backfill: { enqueued: true, pending_nodes: 2 },
    });
    expect(await stored('travel-desk', x.eventCid)).toMatchObject({
      type: 'event',
      title: null,
      text_summary: 'Maria asked for an aisle seat this time',
      slots: { system_kind: 'session_event', session_id: 'chat-2026-02-20-01', event_id: 'turn-3' },
      memory_lane: 'shared',
      embedding_status: expect.stringMatching(/^(pending|ready)$/), // queued (the worker may already be done)
      commit_id: res.body.commit_id,
    });
    // The existing session keeps its title (first write wins); it was not embedded, and is queued now.
    expect(await stored('travel-desk', x.sessionCid)).toMatchObject({ title: 'Booking chat with Maria', embedding_status: expect.stringMatching(/^(pending|ready)$/) });
    expect(await edgeOf('travel-desk', x.eventId)).toEqual({ edge_id: x.edgeId, type: 'part_of', dst_id: x.sessionId, weight: 1, confidence: 1 });
    expect(await commitRow(res.body.commit_id)).toEqual({ actor: 'event_api', input_sha256: sha256('Maria asked for an aisle seat this time') });
  });

  it('creates the session implicitly with title and summary "Session <id>", and queues the session only until it is ready', async () => {
    const first = await event({ scope: 'implicit', session_id: 'new-session', event_id: 'e1', title: 'hello', memory_lane: 'shared' });
    expect(first.status).toBe(200);
    expect(first.body.embedding_backfill).toEqual({ enqueued: true, pending_nodes: 2 });
    const x = expectedEvent({ scope: 'implicit', session: 'new-session', event: 'e1', inputText: 'hello', title: 'hello', lane: 'shared' });
    expect(first.body).toMatchObject({ session_node_id: x.sessionId, event_node_id: x.eventId, commit_hash: x.commitHash });
    expect(await stored('implicit', 'session:new-session')).toMatchObject({
      type: 'topic',
      title: 'Session new-session',
      text_summary: 'Session new-session',
      slots: { system_kind: 'session', session_id: 'new-session' },
      memory_lane: 'shared',
      commit_id: first.body.commit_id,
    });
    await env.waitReady('plain', 'implicit', ['session:new-session', x.eventCid]);
    const second = await event({ scope: 'implicit', session_id: 'new-session', event_id: 'e2', title: 'again', memory_lane: 'shared' });
    expect(second.body.embedding_backfill).toEqual({ enqueued: true, pending_nodes: 1 });
    expect(second.body.session_node_id).toBe(x.sessionId);
    const off = await event({ scope: 'implicit', session_id: 'quiet', event_id: 'e1', title: 'no vectors', auto_embed: false, memory_lane: 'shared' });
    expect(off.body.embedding_backfill).toBeNull();
    expect((await stored('implicit', 'session:quiet')).embedding_status).toBe('failed');
    expect((await stored('implicit', 'session_event:quiet:e1')).embedding_status).toBe('failed');
  });

  it('resolves the summary from text_summary, else input_text, else title; input_text defaults to the summary; edge 1/1; a random event_id each call', async () => {
    const titleOnly = await event({ scope: 'defaults', session_id: 's', title: '  Only   a title ' });
    expect(titleOnly.status).toBe(200);
    expect(titleOnly.body.event_id).toMatch(UUID);
    const x = expectedEvent({ scope: 'defaults', session: 's', event: titleOnly.body.event_id, inputText: 'Only a title', title: 'Only a title', lane: 'private' });
    expect(titleOnly.body).toMatchObject({ event_node_id: x.eventId, commit_hash: x.commitHash, edges: [{ id: x.edgeId }] });
    expect(await stored('defaults', x.eventCid)).toMatchObject({ title: 'Only a title', text_summary: 'Only a title', memory_lane: 'private', owner_agent_id: null });
    expect(await commitRow(titleOnly.body.commit_id)).toEqual({ actor: 'event_api', input_sha256: sha256('Only a title') });
    expect(await edgeOf('defaults', x.eventId)).toMatchObject({ weight: 1, confidence: 1 });

    const inputOnly = await event({ scope: 'defaults', session_id: 's', event_id: 'i', input_text: 'the user said hello' });
    expect(await stored('defaults', 'session_event:s:i')).toMatchObject({ title: null, text_summary: 'the user said hello' });
    expect(await commitRow(inputOnly.body.commit_id)).toMatchObject({ input_sha256: sha256('the user said hello') });

    const both = await event({ scope: 'defaults', session_id: 's', event_id: 'b', title: 'T', text_summary: 'the summary', input_text: 'the raw input' });
    expect(await stored('defaults', 'session_event:s:b')).toMatchObject({ title: 'T', text_summary: 'the summary' });
    expect(both.body.commit_hash).toBe(expectedEvent({ scope: 'defaults', session: 's', event: 'b', inputText: 'the raw input', title: 'T', lane: 'private' }).commitHash);

    // No event_id: a new random id, so a new node, on every call (not retry-safe, §1.9).
    const again = await event({ scope: 'defaults', session_id: 's', title: '  Only   a title ' });
    expect(again.body.event_id).toMatch(UUID);
    expect(again.body.event_id).not.toBe(titleOnly.body.event_id);
    expect(again.body.event_node_id).not.toBe(titleOnly.body.event_node_id);
  });

  it('accepts every request field of the contract with its type (owners applied to both nodes)', async () => {
    const owners = { producer_agent_id: 'agent-p', owner_agent_id: 'agent-o', owner_team_id: 'team-o' };
    const res = await event({
      tenant_id: TENANT,
      scope: 'all-fields',
      session_id: 'sess',
      event_id: 'evt',
      title: 'A title',
      text_summary: 'A summary',
      input_text: 'The input',
      metadata: { mood: 'ok', n: [1, 2] },
      auto_embed: false,
      memory_lane: 'shared',
      ...owners,
      edge_weight: 0.25,
      edge_confidence: 0,
      actor: 'my-actor',
      colour: 'blue',
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-aionis-ignored-fields']).toBe('colour');
    const x = expectedEvent({ scope: 'all-fields', session: 'sess', event: 'evt', inputText: 'The input', title: 'A title', lane: 'shared', owners, actor: 'my-actor' });
    expect(res.body).toMatchObject({ commit_hash: x.commitHash, embedding_backfill: null, event_node_id: x.eventId, session_node_id: x.sessionId });
    expect(await stored('all-fields', x.eventCid)).toMatchObject({
      title: 'A title',
      text_summary: 'A summary',
      slots: { mood: 'ok', n: [1, 2], system_kind: 'session_event', session_id: 'sess', event_id: 'evt' },
      memory_lane: 'shared',
      ...owners,
      embedding_status: 'failed',
    });
    expect(await stored('all-fields', x.sessionCid)).toMatchObject({ memory_lane: 'shared', ...owners });
    expect(await edgeOf('all-fields', x.eventId)).toMatchObject({ weight: 0.25, confidence: 0 });
    expect(await commitRow(res.body.commit_id)).toEqual({ actor: 'my-actor', input_sha256: sha256('The input') });
  });

  it('holds the limits: session_id and event_id 1..128, title 1..512, text_summary 1..4000, edge weight and confidence 0..1, one text required', async () => {
    const ok: [string, Record<string, unknown>][] = [
      ['session_id of 128', { session_id: 's'.repeat(128), title: 't' }],
      ['event_id of 128', { session_id: 'l', event_id: 'e'.repeat(128), title: 't' }],
      ['title of 512', { session_id: 'l', event_id: 't512', title: 't'.repeat(512) }],
      ['text_summary of 4000', { session_id: 'l', event_id: 's4000', text_summary: 's'.repeat(4000) }],
      ['edge weight and confidence 1', { session_id: 'l', event_id: 'w1', title: 't', edge_weight: 1, edge_confidence: 1 }],
      ['edge weight and confidence 0', { session_id: 'l', event_id: 'w0', title: 't', edge_weight: 0, edge_confidence: 0 }],
    ];
    for (const [name, body] of ok) {
      const res = await event({ scope: 'limits', ...body });
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
    }
    expect((await stored('limits', `session_event:l:${'e'.repeat(128)}`)).slots.event_id).toBe('e'.repeat(128));
    expect((await stored('limits', 'session_event:l:t512')).title).toHaveLength(512);
    expect((await stored('limits', 'session_event:l:s4000')).text_summary).toHaveLength(4000);
    const before = await env.counts();
    const bad: [string, Record<string, unknown>, string][] = [
      ['session_id of 129', { session_id: 's'.repeat(129), title: 't' }, 'session_id'],
      ['empty session_id', { session_id: '', title: 't' }, 'session_id'],
      ['whitespace-only session_id', { session_id: '  ', title: 't' }, 'session_id'],
      ['event_id of 129', { session_id: 'l', event_id: 'e'.repeat(129), title: 't' }, 'event_id'],
      ['empty event_id', { session_id: 'l', event_id: '', title: 't' }, 'event_id'],
      ['title of 513', { session_id: 'l', title: 't'.repeat(513) }, 'title'],
      ['text_summary of 4001', { session_id: 'l', text_summary: 's'.repeat(4001) }, 'text_summary'],
      ['edge_weight above 1', { session_id: 'l', title: 't', edge_weight: 1.01 }, 'edge_weight'],
      ['edge_weight below 0', { session_id: 'l', title: 't', edge_weight: -0.01 }, 'edge_weight'],
      ['edge_confidence above 1', { session_id: 'l', title: 't', edge_confidence: 1.5 }, 'edge_confidence'],
      ['none of text_summary, title, input_text', { session_id: 'l', event_id: 'nothing' }, ''],
    ];
    for (const [name, body, path] of bad) {
      const res = await event({ scope: 'limits', ...body });
      expect({ name, status: res.status }).toEqual({ name, status: 400 });
      expectContractError(res, 400, 'invalid_request');
      expect({ name, paths: (res.body.issues as { path: string }[]).map((i) => i.path) }).toEqual({ name, paths: [path] });
    }
    expect(await env.counts()).toEqual(before);
  });

  it('addresses the same node for the same event_id: identical text -> the same commit, different text -> a new commit and the stored event unchanged', async () => {
    const body = { scope: 'replay', session_id: 's', event_id: 'e', text_summary: 'first words', memory_lane: 'shared', auto_embed: false };
    const first = await event(body);
    const before = await env.counts();
    const again = await event(body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await env.counts()).toEqual(before);
    const edited = await event({ ...body, text_summary: 'other words', title: 'now titled' });
    expect(edited.status).toBe(200);
    expect(edited.body.commit_id).not.toBe(first.body.commit_id);
    expect(edited.body.commit_hash).not.toBe(first.body.commit_hash);
    expect(edited.body).toMatchObject({ event_node_id: first.body.event_node_id, session_node_id: first.body.session_node_id });
    expect(await stored('replay', 'session_event:s:e')).toMatchObject({ title: null, text_summary: 'first words', commit_id: first.body.commit_id });
  });

  it('merges metadata into the event slots but never over system_kind, session_id or event_id, and never redacts those ids', async () => {
    const res = await event({
      scope: 'meta',
      session_id: 'call 555-123-4567',
      event_id: '555-987-6543',
      text_summary: 'a call',
      memory_lane: 'shared',
      metadata: { system_kind: 'hijack', session_id: 'x', event_id: 'y', contact: 'bob@example.com' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ session_id: 'call 555-123-4567', event_id: '555-987-6543' });
    const node = await stored('meta', 'session_event:call%20555-123-4567:555-987-6543');
    expect(node.slots).toEqual({ system_kind: 'session_event', session_id: 'call 555-123-4567', event_id: '555-987-6543', contact: `[EMAIL#${sha256('bob@example.com').slice(0, 8)}]` });
    expect((await stored('meta', 'session:call%20555-123-4567')).slots).toEqual({ system_kind: 'session', session_id: 'call 555-123-4567' });
  });

  it('percent-encodes the session and event ids in the client ids', async () => {
    const res = await event({ scope: 'odd', session_id: ' a/b ü ', event_id: 'turn #1:x', title: 't', memory_lane: 'shared' });
    expect(res.status).toBe(200);
    const eventCid = 'session_event:a%2Fb%20%C3%BC:turn%20%231%3Ax';
    expect(res.body.nodes).toEqual([
      { id: nodeIdOf(TENANT, 'odd', 'session:a%2Fb%20%C3%BC'), client_id: 'session:a%2Fb%20%C3%BC', type: 'topic' },
      { id: nodeIdOf(TENANT, 'odd', eventCid), client_id: eventCid, type: 'event' },
    ]);
    expect(res.body).toMatchObject({ session_id: 'a/b ü', event_id: 'turn #1:x' });
  });

  it('fills producer and owner of both nodes from an agent-bound key, and refuses a contradicting identity with 403', async () => {
    const res = await event({ scope: 'identity', session_id: 'mine', event_id: 'e', title: 't' }, 'agentA');
    expect(res.status).toBe(200);
    const owners = { producer_agent_id: 'agent-a', owner_agent_id: 'agent-a', owner_team_id: null };
    expect(res.body.commit_hash).toBe(expectedEvent({ scope: 'identity', session: 'mine', event: 'e', inputText: 't', title: 't', lane: 'private', owners }).commitHash);
    expect(await stored('identity', 'session_event:mine:e')).toMatchObject({ memory_lane: 'private', ...owners });
    expect(await stored('identity', 'session:mine')).toMatchObject({ memory_lane: 'private', ...owners });
    const team = await event({ scope: 'identity', session_id: 'team', event_id: 'e', title: 't' }, 'teamX');
    expect(team.status).toBe(200);
    expect(await stored('identity', 'session_event:team:e')).toMatchObject({ producer_agent_id: null, owner_agent_id: null, owner_team_id: 'team-x' });
    const before = await env.counts();
    for (const [field, value, key] of [
      ['producer_agent_id', 'agent-b', 'agentA'],
      ['owner_agent_id', 'agent-b', 'agentA'],
      ['owner_team_id', 'team-y', 'teamX'],
      ['tenant_id', OTHER_TENANT, 'plain'],
    ] as const) {
      const bad = await event({ scope: 'identity', session_id: 'x', title: 't', [field]: value }, key);
      expectContractError(bad, 403, 'identity_mismatch');
      expect(bad.body.details).toMatchObject({ field, provided: value });
    }
    expect(await env.counts()).toEqual(before);
  });

  it("keeps tenants and projects apart: the same session and event ids are other nodes for the other tenant's and the project's keys", async () => {
    const body = { scope: 'iso', session_id: 's', event_id: 'e', title: 't', memory_lane: 'shared' };
    const mine = await event(body);
    const theirs = await event(body, 'other');
    const project = await event(body, 'project');
    const x = expectedEvent({ tenant: OTHER_TENANT, scope: 'iso', session: 's', event: 'e', inputText: 't', title: 't', lane: 'shared' });
    expect(theirs.body).toMatchObject({ tenant_id: OTHER_TENANT, event_node_id: x.eventId, session_node_id: x.sessionId, commit_hash: x.commitHash, event_uri: `aionis://${OTHER_TENANT}/iso/event/${x.eventId}` });
    expect(new Set([mine.body.event_node_id, theirs.body.event_node_id, project.body.event_node_id]).size).toBe(3);
    expect(new Set([mine.body.session_node_id, theirs.body.session_node_id, project.body.session_node_id]).size).toBe(3);
  });

  it('needs a key with memory:write: 401 and 403 in the contract shape', async () => {
    expectContractError(await env.api.post('/v1/memory/events').set('Content-Type', 'application/json').send({ session_id: 's', title: 't' }), 401, 'unauthorized');
    expectContractError(await event({ session_id: 's', title: 't' }, 'readOnly'), 403, 'forbidden');
    expect((await event({ scope: 'write-only', session_id: 's', title: 't' }, 'writeOnly')).status).toBe(200);
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and writes nothing', async () => {
    const before = await env.counts();
    const raw = (s: string | Buffer) => env.api.post('/v1/memory/events').set(env.as('plain')).send(s);
    const cases: [string, () => ReturnType<typeof event>, number, string][] = [
      ['no session_id', () => event({ scope: 's', title: 't' }), 400, 'invalid_request'],
      ['no body at all', () => env.api.post('/v1/memory/events').set(env.as('plain')), 400, 'invalid_request'],
      ['a number as session_id', () => event({ scope: 's', session_id: 1, title: 't' }), 400, 'invalid_request'],
      ['a number as event_id', () => event({ scope: 's', session_id: 's', event_id: 1, title: 't' }), 400, 'invalid_request'],
      ['a number as text_summary', () => event({ scope: 's', session_id: 's', text_summary: 3 }), 400, 'invalid_request'],
      ['null as title', () => event({ scope: 's', session_id: 's', title: null }), 400, 'invalid_request'],
      ['a string as edge_weight', () => event({ scope: 's', session_id: 's', title: 't', edge_weight: '0.5' }), 400, 'invalid_request'],
      ['an array as metadata', () => event({ scope: 's', session_id: 's', title: 't', metadata: ['x'] }), 400, 'invalid_request'],
      ['a string as auto_embed', () => event({ scope: 's', session_id: 's', title: 't', auto_embed: 'no' }), 400, 'invalid_request'],
      ['an unknown lane', () => event({ scope: 's', session_id: 's', title: 't', memory_lane: 'team' }), 400, 'invalid_request'],
      ['an infinite edge_weight', () => raw('{"scope":"s","session_id":"s","title":"t","edge_weight":1e999}'), 400, 'invalid_request'],
      ['an infinite edge_confidence', () => raw('{"scope":"s","session_id":"s","title":"t","edge_confidence":-1e999}'), 400, 'invalid_request'],
      ['an empty scope', () => event({ scope: ' ', session_id: 's', title: 't' }), 400, 'invalid_scope'],
      ['JSON nested 200 levels deep', () => event({ scope: 's', session_id: 's', title: 't', metadata: deepObject(200) }), 400, 'invalid_request'],
      ['a NUL character', () => raw('{"scope":"s","session_id":"s","title":"a\\u0000b"}'), 400, 'invalid_request'],
      ['malformed JSON', () => raw('{"session_id":"s",'), 400, 'invalid_request'],
      ['a body that is a string', () => raw('"hello"'), 400, 'invalid_request'],
      ['a 6 MiB body', () => event({ scope: 's', session_id: 's', input_text: 'x'.repeat(6 * 1024 * 1024) }), 413, 'payload_too_large'],
    ];
    await expectEachRefused(cases);
    expect(await env.counts()).toEqual(before);
  });

  it('refuses a non-finite number inside metadata (raw JSON 1e999) with 400 instead of storing null', async () => {
    const before = await env.counts();
    const res = await env.api.post('/v1/memory/events').set(env.as('plain')).send('{"scope":"inf","session_id":"s","event_id":"e","title":"t","memory_lane":"shared","metadata":{"n":-1e999}}');
    expectContractError(res, 400, 'invalid_request');
    expect(await env.counts()).toEqual(before);
  });
});
