import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { type ContractEnv, deepObject, type KeyName, TENANT, OTHER_TENANT, startContractEnv, expectContractError, expectEachRefused } from '../../support/contract';
import { sha, sha256, UUID } from '../../support/spec-hash';

/**
 * POST /v1/memory/sessions, from the contract (§2.6, §7, §1.4, §1.9): every request field with its
 * type, default and limit, every response member, the derived ids, URI and commit hash, the
 * idempotent repeat, identity injection, tenant isolation, and bad input refused with nothing
 * written. The derivations of §1.9 are written out here (not imported from src) and checked against
 * the contract's own examples first, so the product is measured against the rules themselves.
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
interface DiffNode {
  id: string;
  client_id?: string;
  type: string;
  title?: string;
  memory_lane: 'private' | 'shared';
  producer_agent_id: string | null;
  owner_agent_id: string | null;
  owner_team_id: string | null;
}
/** §1.9 write commit hash, no parent commit, redaction counts empty. */
const writeCommitHash = (tenant: string, scope: string, inputText: string, actor: string, nodes: DiffNode[]): string =>
  sha({ parentHash: '', inputSha: sha256(inputText), diffSha: sha({ redaction: {}, nodes, edges: [] }), scope: scopeKeyOf(tenant, scope), actor, model_version: null, prompt_version: null });
const sessionDiff = (tenant: string, scope: string, sessionId: string, title: string, lane: 'private' | 'shared', owners: Partial<Pick<DiffNode, 'producer_agent_id' | 'owner_agent_id' | 'owner_team_id'>> = {}): DiffNode => ({
  id: nodeIdOf(tenant, scope, `session:${sessionId}`),
  client_id: `session:${sessionId}`,
  type: 'topic',
  title,
  memory_lane: lane,
  producer_agent_id: null,
  owner_agent_id: null,
  owner_team_id: null,
  ...owners,
});

describe('contract: POST /v1/memory/sessions', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env.stop();
  });
  const session = (body: unknown, key: KeyName = 'plain') => env.api.post('/v1/memory/sessions').set(env.as(key)).send(body as object);
  const stored = async (scope: string, clientId: string, tenant = TENANT) => {
    const r = await sql<{ node_id: string; type: string; title: string | null; text_summary: string | null; slots: Record<string, unknown>; memory_lane: string; producer_agent_id: string | null; owner_agent_id: string | null; owner_team_id: string | null; embedding_status: string; tier: string; commit_id: string }>`
      SELECT node_id::text AS node_id, type, title, text_summary, slots, memory_lane, producer_agent_id, owner_agent_id, owner_team_id, embedding_status, tier, commit_id::text AS commit_id
      FROM memory_nodes WHERE tenant_id = ${tenant} AND project_key = '' AND scope = ${scope} AND client_id = ${clientId}`.execute(env.t.tdb.database.db);
    expect(r.rows).toHaveLength(1);
    return r.rows[0]!;
  };
  const commitRow = async (commitId: string) => {
    const r = await sql<{ actor: string; input_sha256: string; commit_hash: string }>`SELECT actor, input_sha256, commit_hash FROM memory_commits WHERE commit_id = ${commitId}::uuid`.execute(env.t.tdb.database.db);
    expect(r.rows).toHaveLength(1);
    return r.rows[0]!;
  };

  it("reproduces the contract's example ids and hash with this suite's derivations (default tenant)", () => {
    expect(nodeIdOf('default', 'travel-desk', 'session:chat-2026-02-20-01')).toBe('ccdc2bad-73a0-50fa-9907-e89fe9ac38c7');
    expect(writeCommitHash('default', 'travel-desk', 'create session chat-2026-02-20-01', 'session_api', [sessionDiff('default', 'travel-desk', 'chat-2026-02-20-01', 'Booking chat with Maria', 'shared')])).toBe(
      '8e1e36751f62365625695482085e670320980e854f75e1fbdcc0f3ec3bcfed38',
    );
  });

  it('answers the example with every member, the id, URI and commit hash derived for tenant contract-a, embedding_backfill null', async () => {
    const res = await session({ scope: 'travel-desk', session_id: 'chat-2026-02-20-01', title: 'Booking chat with Maria', metadata: { channel: 'web' }, memory_lane: 'shared' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const id = nodeIdOf(TENANT, 'travel-desk', 'session:chat-2026-02-20-01');
    expect(id).not.toBe('ccdc2bad-73a0-50fa-9907-e89fe9ac38c7'); // the scope key holds the tenant
    expect(res.body).toEqual({
      tenant_id: TENANT,
      scope: 'travel-desk',
      session_id: 'chat-2026-02-20-01',
      session_node_id: id,
      session_uri: `aionis://${TENANT}/travel-desk/topic/${id}`,
      commit_id: expect.stringMatching(UUID),
      commit_hash: writeCommitHash(TENANT, 'travel-desk', 'create session chat-2026-02-20-01', 'session_api', [sessionDiff(TENANT, 'travel-desk', 'chat-2026-02-20-01', 'Booking chat with Maria', 'shared')]),
      nodes: [{ id, client_id: 'session:chat-2026-02-20-01', type: 'topic' }],
      edges: [],
      embedding_backfill: null,
    });
    // A topic node: summary defaults to the title, metadata in slots beside the system keys, not embedded.
    const found = await env.api.post('/v1/memory/find').set(env.as('plain')).send({ scope: 'travel-desk', client_id: 'session:chat-2026-02-20-01', include_meta: true, include_slots: true });
    expect(found.body.nodes).toEqual([
      expect.objectContaining({
        uri: `aionis://${TENANT}/travel-desk/topic/${id}`,
        id,
        type: 'topic',
        title: 'Booking chat with Maria',
        text_summary: 'Booking chat with Maria',
        topic_state: 'active',
        slots: { channel: 'web', system_kind: 'session', session_id: 'chat-2026-02-20-01' },
        tier: 'hot',
        memory_lane: 'shared',
        embedding_status: 'failed',
        commit_id: res.body.commit_id,
      }),
    ]);
    expect(await commitRow(res.body.commit_id)).toEqual({ actor: 'session_api', input_sha256: sha256('create session chat-2026-02-20-01'), commit_hash: res.body.commit_hash });
  });

  it('applies the defaults: trimmed id, title "Session <id>", summary = title, input "create session <id>", actor session_api, private, not embedded', async () => {
    const res = await session({ scope: 'defaults', session_id: '  s-defaults \t' });
    expect(res.status).toBe(200);
    const id = nodeIdOf(TENANT, 'defaults', 'session:s-defaults');
    expect(res.body).toMatchObject({
      session_id: 's-defaults',
      session_node_id: id,
      nodes: [{ id, client_id: 'session:s-defaults', type: 'topic' }],
      embedding_backfill: null,
      commit_hash: writeCommitHash(TENANT, 'defaults', 'create session s-defaults', 'session_api', [sessionDiff(TENANT, 'defaults', 's-defaults', 'Session s-defaults', 'private')]),
    });
    expect(await stored('defaults', 'session:s-defaults')).toEqual({
      node_id: id,
      type: 'topic',
      title: 'Session s-defaults',
      text_summary: 'Session s-defaults',
      slots: { system_kind: 'session', session_id: 's-defaults' },
      memory_lane: 'private',
      producer_agent_id: null,
      owner_agent_id: null,
      owner_team_id: null,
      embedding_status: 'failed',
      tier: 'hot',
      commit_id: res.body.commit_id,
    });
    expect(await commitRow(res.body.commit_id)).toMatchObject({ actor: 'session_api', input_sha256: sha256('create session s-defaults') });
    // The id is trimmed before use: the untrimmed and the trimmed request are the same request.
    const again = await session({ scope: 'defaults', session_id: 's-defaults' });
    expect(again.body).toEqual(res.body);
    // A summary without a title: the title is still the default.
    const summaryOnly = await session({ scope: 'defaults', session_id: 'summary-only', text_summary: 'only a summary' });
    expect(summaryOnly.status).toBe(200);
    expect(await stored('defaults', 'session:summary-only')).toMatchObject({ title: 'Session summary-only', text_summary: 'only a summary' });
  });

  it('accepts every request field of the contract with its type; auto_embed true queues the session node once', async () => {
    const body = {
      tenant_id: TENANT,
      scope: 'all-fields',
      session_id: 'all',
      title: '  Planning   call ',
      text_summary: 'We planned the trip',
      input_text: 'open the session',
      metadata: { channel: 'voice', nested: { n: 1, list: [1, 'two'] } },
      auto_embed: true,
      memory_lane: 'shared',
      producer_agent_id: 'agent-p',
      owner_agent_id: 'agent-o',
      owner_team_id: 'team-o',
      actor: 'my-actor',
      colour: 'blue',
    };
    const res = await session(body);
    expect(res.status).toBe(200);
    expect(res.headers['x-aionis-ignored-fields']).toBe('colour');
    const owners = { producer_agent_id: 'agent-p', owner_agent_id: 'agent-o', owner_team_id: 'team-o' };
    expect(res.body).toMatchObject({
      tenant_id: TENANT,
      session_node_id: nodeIdOf(TENANT, 'all-fields', 'session:all'),
      embedding_backfill: { enqueued: true, pending_nodes: 1 },
      commit_hash: writeCommitHash(TENANT, 'all-fields', 'open the session', 'my-actor', [sessionDiff(TENANT, 'all-fields', 'all', 'Planning call', 'shared', owners)]),
    });
    expect(await stored('all-fields', 'session:all')).toMatchObject({
      title: 'Planning call',
      text_summary: 'We planned the trip',
      slots: { channel: 'voice', nested: { n: 1, list: [1, 'two'] }, system_kind: 'session', session_id: 'all' },
      memory_lane: 'shared',
      ...owners,
    });
    expect(await commitRow(res.body.commit_id)).toMatchObject({ actor: 'my-actor', input_sha256: sha256('open the session') });
    await env.waitReady('plain', 'all-fields', ['session:all']);
    // A ready node is not queued again: the identical request answers the same commit and null.
    const again = await session(body);
    expect(again.body).toMatchObject({ commit_id: res.body.commit_id, commit_hash: res.body.commit_hash, embedding_backfill: null });
    // auto_embed false, explicitly.
    const off = await session({ scope: 'all-fields', session_id: 'off', auto_embed: false });
    expect(off.body.embedding_backfill).toBeNull();
  });

  it('holds the limits: session_id 1..128, title 1..512 (513 refused, not truncated), text_summary 1..4000, input_text non-empty', async () => {
    const ok: [string, Record<string, unknown>][] = [
      ['session_id of 128', { session_id: 'i'.repeat(128) }],
      ['title of 512', { session_id: 't512', title: 't'.repeat(512) }],
      ['text_summary of 4000', { session_id: 's4000', text_summary: 's'.repeat(4000) }],
      ['one-character values', { session_id: 'x', title: 'T', text_summary: 'S', input_text: 'I' }],
    ];
    for (const [name, body] of ok) {
      const res = await session({ scope: 'limits', ...body });
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
    }
    expect((await stored('limits', `session:${'i'.repeat(128)}`)).title).toBe(`Session ${'i'.repeat(128)}`);
    expect((await stored('limits', 'session:t512')).title).toHaveLength(512);
    expect((await stored('limits', 'session:s4000')).text_summary).toHaveLength(4000);
    const before = await env.counts();
    const bad: [string, Record<string, unknown>, string][] = [
      ['session_id of 129', { session_id: 'i'.repeat(129) }, 'session_id'],
      ['empty session_id', { session_id: '' }, 'session_id'],
      ['whitespace-only session_id', { session_id: '   ' }, 'session_id'],
      ['title of 513', { session_id: 't513', title: 't'.repeat(513) }, 'title'],
      ['empty title', { session_id: 'te', title: '' }, 'title'],
      ['text_summary of 4001', { session_id: 's4001', text_summary: 's'.repeat(4001) }, 'text_summary'],
      ['empty text_summary', { session_id: 'se', text_summary: '' }, 'text_summary'],
      ['empty input_text', { session_id: 'ie', input_text: '' }, 'input_text'],
    ];
    for (const [name, body, path] of bad) {
      const res = await session({ scope: 'limits', ...body });
      expect({ name, status: res.status }).toEqual({ name, status: 400 });
      expectContractError(res, 400, 'invalid_request');
      expect({ name, paths: (res.body.issues as { path: string }[]).map((i) => i.path) }).toEqual({ name, paths: [path] });
    }
    expect(await env.counts()).toEqual(before);
  });

  it('returns the same node for the same session_id, the same commit for an identical request, and keeps the first title', async () => {
    const body = { scope: 'replay', session_id: 'r1', title: 'First title', memory_lane: 'shared' };
    const first = await session(body);
    const before = await env.counts();
    const again = await session(body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await env.counts()).toEqual(before);
    const renamed = await session({ ...body, title: 'Second title', text_summary: 'changed' });
    expect(renamed.status).toBe(200);
    expect(renamed.body.session_node_id).toBe(first.body.session_node_id);
    expect(renamed.body.commit_id).not.toBe(first.body.commit_id);
    expect(renamed.body.commit_hash).not.toBe(first.body.commit_hash);
    expect(await stored('replay', 'session:r1')).toMatchObject({ title: 'First title', text_summary: 'First title', commit_id: first.body.commit_id });
  });

  it('merges metadata into slots but never over system_kind or session_id, and redacts PII in metadata but not in the system keys', async () => {
    const res = await session({ scope: 'meta', session_id: '555-123-4567', memory_lane: 'shared', metadata: { system_kind: 'hijack', session_id: 'other', note: 'mail bob@example.com', channel: 'web' } });
    expect(res.status).toBe(200);
    const node = await stored('meta', 'session:555-123-4567');
    expect(node.slots).toEqual({ system_kind: 'session', session_id: '555-123-4567', note: `mail [EMAIL#${sha256('bob@example.com').slice(0, 8)}]`, channel: 'web' });
    // The title is text, so it is redacted like any title (§1.7); the client id is not.
    expect(node.title).toMatch(/^Session \[PHONE#[0-9a-f]{8}\]$/);
    expect(res.body.nodes[0].client_id).toBe('session:555-123-4567');
  });

  it('percent-encodes a session id with spaces, unicode, slashes and percent signs in the client id, and the scope in the URI', async () => {
    const res = await session({ scope: 'odd scope/ü', session_id: ' team chat/ü 100% ', memory_lane: 'shared' });
    expect(res.status).toBe(200);
    const clientId = 'session:team%20chat%2F%C3%BC%20100%25';
    const id = nodeIdOf(TENANT, 'odd scope/ü', clientId);
    expect(res.body).toMatchObject({
      scope: 'odd scope/ü',
      session_id: 'team chat/ü 100%',
      session_node_id: id,
      session_uri: `aionis://${TENANT}/odd%20scope%2F%C3%BC/topic/${id}`,
      nodes: [{ id, client_id: clientId, type: 'topic' }],
    });
    expect(await stored('odd scope/ü', clientId)).toMatchObject({ title: 'Session team chat/ü 100%', slots: { system_kind: 'session', session_id: 'team chat/ü 100%' } });
  });

  it('fills producer and owner from an agent- or team-bound key, and refuses a contradicting identity with 403 identity_mismatch', async () => {
    const a = await session({ scope: 'identity', session_id: 'mine' }, 'agentA');
    expect(a.status).toBe(200);
    const agentOwners = { producer_agent_id: 'agent-a', owner_agent_id: 'agent-a' };
    expect(a.body.commit_hash).toBe(writeCommitHash(TENANT, 'identity', 'create session mine', 'session_api', [sessionDiff(TENANT, 'identity', 'mine', 'Session mine', 'private', agentOwners)]));
    expect(await stored('identity', 'session:mine')).toMatchObject({ memory_lane: 'private', ...agentOwners, owner_team_id: null });
    const team = await session({ scope: 'identity', session_id: 'team' }, 'teamX');
    expect(team.status).toBe(200);
    expect(await stored('identity', 'session:team')).toMatchObject({ memory_lane: 'private', producer_agent_id: null, owner_agent_id: null, owner_team_id: 'team-x' });
    // Repeating the key's own identity is allowed.
    expect((await session({ scope: 'identity', session_id: 'mine', producer_agent_id: 'agent-a', owner_agent_id: ' agent-a ' }, 'agentA')).status).toBe(200);
    const before = await env.counts();
    for (const [field, value, key] of [
      ['producer_agent_id', 'agent-b', 'agentA'],
      ['owner_agent_id', 'agent-b', 'agentA'],
      ['owner_team_id', 'team-y', 'teamX'],
      ['tenant_id', OTHER_TENANT, 'plain'],
    ] as const) {
      const res = await session({ scope: 'identity', session_id: 'x', [field]: value }, key);
      expectContractError(res, 403, 'identity_mismatch');
      expect(res.body.details).toMatchObject({ field, provided: value });
    }
    const header = await env.api.post('/v1/memory/sessions').set(env.as('plain')).set('x-tenant-id', OTHER_TENANT).send({ scope: 'identity', session_id: 'x' });
    expectContractError(header, 403, 'identity_mismatch');
    expect(await env.counts()).toEqual(before);
  });

  it("keeps tenants and projects apart: the same session_id is another node for the other tenant's and the project's keys", async () => {
    const body = { scope: 'iso', session_id: 'shared-name', memory_lane: 'shared' };
    const mine = await session(body);
    const theirs = await session(body, 'other');
    const project = await session(body, 'project');
    expect(theirs.body).toMatchObject({ tenant_id: OTHER_TENANT, session_node_id: nodeIdOf(OTHER_TENANT, 'iso', 'session:shared-name'), session_uri: expect.stringMatching(new RegExp(`^aionis://${OTHER_TENANT}/iso/topic/`)) });
    expect(new Set([mine.body.session_node_id, theirs.body.session_node_id, project.body.session_node_id]).size).toBe(3);
    const found = await env.api.post('/v1/memory/find').set(env.as('other')).send({ scope: 'iso', client_id: 'session:shared-name' });
    expect(found.body.nodes.map((n: { id: string }) => n.id)).toEqual([theirs.body.session_node_id]);
  });

  it('needs a key with memory:write: 401 and 403 in the contract shape', async () => {
    expectContractError(await env.api.post('/v1/memory/sessions').set('Content-Type', 'application/json').send({ session_id: 'x' }), 401, 'unauthorized');
    expectContractError(await session({ session_id: 'x' }, 'readOnly'), 403, 'forbidden');
    expect((await session({ scope: 'write-only', session_id: 'x' }, 'writeOnly')).status).toBe(200);
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and writes nothing', async () => {
    const before = await env.counts();
    const raw = (s: string | Buffer) => env.api.post('/v1/memory/sessions').set(env.as('plain')).send(s);
    const cases: [string, () => ReturnType<typeof session>, number, string][] = [
      ['no session_id', () => session({ scope: 's', title: 't' }), 400, 'invalid_request'],
      ['no body at all', () => env.api.post('/v1/memory/sessions').set(env.as('plain')), 400, 'invalid_request'],
      ['a number as session_id', () => session({ scope: 's', session_id: 42 }), 400, 'invalid_request'],
      ['null as session_id', () => session({ scope: 's', session_id: null }), 400, 'invalid_request'],
      ['a number as title', () => session({ scope: 's', session_id: 'x', title: 7 }), 400, 'invalid_request'],
      ['a string as metadata', () => session({ scope: 's', session_id: 'x', metadata: 'web' }), 400, 'invalid_request'],
      ['an array as metadata', () => session({ scope: 's', session_id: 'x', metadata: [1] }), 400, 'invalid_request'],
      ['a string as auto_embed', () => session({ scope: 's', session_id: 'x', auto_embed: 'true' }), 400, 'invalid_request'],
      ['an unknown lane', () => session({ scope: 's', session_id: 'x', memory_lane: 'public' }), 400, 'invalid_request'],
      ['an empty actor', () => session({ scope: 's', session_id: 'x', actor: '' }), 400, 'invalid_request'],
      ['an empty owner', () => session({ scope: 's', session_id: 'x', owner_agent_id: '' }), 400, 'invalid_request'],
      ['Infinity as auto_embed', () => raw('{"scope":"s","session_id":"x","auto_embed":1e999}'), 400, 'invalid_request'],
      ['an empty scope', () => session({ scope: '  ', session_id: 'x' }), 400, 'invalid_scope'],
      ['JSON nested 200 levels deep', () => session({ scope: 's', session_id: 'x', metadata: deepObject(200) }), 400, 'invalid_request'],
      ['a NUL character', () => raw('{"scope":"s","session_id":"a\\u0000b"}'), 400, 'invalid_request'],
      ['a NUL character in metadata', () => raw('{"scope":"s","session_id":"x","metadata":{"k":"a\\u0000b"}}'), 400, 'invalid_request'],
      ['malformed JSON', () => raw('{"session_id":'), 400, 'invalid_request'],
      ['a body that is an array', () => env.api.post('/v1/memory/sessions').set(env.as('plain')).send([{ session_id: 'x' }]), 400, 'invalid_request'],
      ['invalid UTF-8', () => raw(Buffer.concat([Buffer.from('{"scope":"s","session_id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])), 400, 'invalid_request'],
      ['a 6 MiB body', () => session({ scope: 's', session_id: 'x', input_text: 'x'.repeat(6 * 1024 * 1024) }), 413, 'payload_too_large'],
    ];
    await expectEachRefused(cases);
    expect(await env.counts()).toEqual(before);
  });

  it('refuses a non-finite number inside metadata (raw JSON 1e999) with 400 instead of storing null', async () => {
    const before = await env.counts();
    const res = await env.api.post('/v1/memory/sessions').set(env.as('plain')).send('{"scope":"inf","session_id":"x","memory_lane":"shared","metadata":{"n":1e999}}');
    expectContractError(res, 400, 'invalid_request');
    expect(await env.counts()).toEqual(before);
  });
});
