import { sql } from 'kysely';
import { type ContractEnv, expectContractError, expectEachRefused, type KeyName, type RefusalCase, startContractEnv, TENANT, transportRefusals } from '../../support/contract';
import { HEX64, sha, sha256, UUID } from '../../support/spec-hash';

/**
 * POST /v1/memory/rules/state, from the contract (§2.14, §5.2, §5.3, §1.4 tenant-only, §1.9): the
 * promotion checks with their codes (and a refused promotion writes nothing), every state to every
 * state, the response, the `rule_state_change` commit on the scope's chain (raw input hashing, the
 * hash recomputed from the spec), the definition and node updates, and the RuleStateChanged event
 * of each change in the operators' audit trail. Bad input is refused with nothing written.
 */
/** The key id is the middle part of an issued key: aio_live_<key_id>_<secret>. */
const keyIdOf = (key: string): string => key.split('_')[2]!;
const STATES = ['draft', 'shadow', 'active', 'disabled'] as const;

interface AuditEntry {
  type: string;
  tenant_id: string;
  request_id: string | null;
  actor: { type: string; id: string };
  data: Record<string, unknown>;
}

describe('contract: POST /v1/memory/rules/state', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env?.stop();
  });

  const db = () => env.t.tdb.database.db;
  const post = (path: string, body: unknown, key: KeyName = 'plain') => env.api.post(`/v1/memory/${path}`).set(env.as(key)).send(body as object);
  const state = (body: unknown, key: KeyName = 'plain') => post('rules/state', body, key);
  const writeRules = async (scope: string, nodes: readonly Record<string, unknown>[], extra: Record<string, unknown> = {}, key: KeyName = 'plain'): Promise<Record<string, string>> => {
    const res = await post('write', { scope, input_text: `rules ${nodes.map((n) => String(n.client_id)).join(' ')}`, auto_embed: false, memory_lane: 'shared', ...extra, nodes: nodes.map((n) => ({ type: 'rule', ...n })) }, key);
    expect(res.status).toBe(200);
    return Object.fromEntries((res.body.nodes as { id: string; client_id: string }[]).map((n) => [n.client_id, n.id]));
  };
  const verify = async (scope: string, key: KeyName = 'plain') => {
    const r = await post('commits/verify', { scope }, key);
    expect(r.status).toBe(200);
    return r.body as { ok: boolean; commits: number };
  };
  const definition = async (id: string) => {
    const r = await sql<{ state: string; commit_id: string; updated_at: Date }>`SELECT state, commit_id::text AS commit_id, updated_at FROM memory_rule_defs WHERE rule_node_id = ${id}::uuid`.execute(db());
    expect(r.rows).toHaveLength(1);
    return r.rows[0]!;
  };
  const head = async (scope: string) =>
    (await sql<{ head: string | null; n: string }>`SELECT head_commit_id::text AS head, commit_count::text AS n FROM memory_scopes WHERE tenant_id = ${TENANT} AND project_key = '' AND scope = ${scope}`.execute(db())).rows[0];
  const events = async () => Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM es_events`.execute(db())).rows[0]!.n);
  /** RuleStateChanged entries of the audit trail (projected asynchronously: polled until `n` are there). */
  const audit = async (query: Record<string, string>, n: number, keep: (e: AuditEntry) => boolean = () => true): Promise<AuditEntry[]> => {
    const until = Date.now() + 15_000;
    for (;;) {
      const res = await env.api.get('/v1/admin/control/audit-events').query({ type: 'RuleStateChanged', limit: 1000, ...query }).set(env.t.auth);
      expect(res.status).toBe(200);
      const items = (res.body.items as AuditEntry[]).filter(keep);
      if (items.length >= n || Date.now() > until) return items;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('promotes a draft rule: the response, a rule_state_change commit on the chain (input hashed raw), the definition and node, and a RuleStateChanged event', async () => {
    const scope = 'st-basic';
    const r = await writeRules(scope, [{ client_id: 'r', text_summary: 'JSON for bookings', slots: { if: { intent: 'booking' }, then: { output: { format: 'json' } } } }]);
    const id = r.r!;
    const chain = await verify(scope);
    const before = await head(scope);
    const inputText = '  promoted   after\treview ';
    const started = Date.now();
    const res = await env.api.post('/v1/memory/rules/state').set(env.as('plain')).set('x-request-id', 'st-basic-promote').send({ scope, rule_node_id: id.toUpperCase(), state: 'active', input_text: inputText, actor: 'reviewer' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['x-request-id']).toBe('st-basic-promote');
    expect(res.body).toEqual({ tenant_id: TENANT, scope, commit_id: expect.stringMatching(UUID), commit_hash: expect.stringMatching(HEX64) });

    // The commit: kind, diff, parent, actor, the RAW input text's hash (not normalised), the hash of §1.9.
    const c = (
      await sql<{ kind: string; actor: string; input_sha256: string; diff: unknown; parent_id: string; commit_hash: string }>`
        SELECT kind, actor, input_sha256, diff, parent_id::text AS parent_id, commit_hash FROM memory_commits WHERE commit_id = ${res.body.commit_id}::uuid`.execute(db())
    ).rows[0]!;
    const diff = { rule_state_change: [{ rule_node_id: id, state: 'active' }] };
    expect(c).toEqual({ kind: 'rule_state_change', actor: 'reviewer', input_sha256: sha256(inputText), diff, parent_id: before!.head, commit_hash: res.body.commit_hash });
    expect(c.input_sha256).not.toBe(sha256('promoted after review'));
    const parentHash = (await sql<{ h: string }>`SELECT commit_hash AS h FROM memory_commits WHERE commit_id = ${before!.head}::uuid`.execute(db())).rows[0]!.h;
    expect(res.body.commit_hash).toBe(sha({ parentHash, inputSha: sha256(inputText), diffSha: sha(diff), scope: `tenant:${TENANT}::scope:${scope}`, actor: 'reviewer', kind: 'rule_state_change' }));
    const after = await verify(scope);
    expect(after).toMatchObject({ ok: true, commits: chain.commits + 1 });

    // The definition moved and points at this commit; the node was activated.
    expect(await definition(id)).toMatchObject({ state: 'active', commit_id: res.body.commit_id });
    const node = (await sql<{ last_activated: Date | null }>`SELECT last_activated FROM memory_nodes WHERE node_id = ${id}::uuid`.execute(db())).rows[0]!;
    expect(node.last_activated).not.toBeNull();
    expect(new Date(node.last_activated!).getTime()).toBeGreaterThanOrEqual(started - 1000);
    const ev = await post('rules/evaluate', { scope, context: { intent: 'booking' } });
    expect(ev.body.active).toEqual([expect.objectContaining({ rule_node_id: id, state: 'active', commit_id: res.body.commit_id })]);

    // The audit trail: one RuleStateChanged, by this key, with this request id.
    const [entry, ...rest] = await audit({ request_id: 'st-basic-promote' }, 1);
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({ type: 'RuleStateChanged', tenant_id: TENANT, request_id: 'st-basic-promote', actor: { type: 'api_key', id: keyIdOf(env.keys.plain) } });
    expect(entry!.data).toEqual({
      tenant_id: TENANT,
      project_id: null,
      scope,
      rule_node_id: id,
      from_state: 'draft',
      to_state: 'active',
      commit_id: res.body.commit_id,
      commit_hash: res.body.commit_hash,
      key_id: keyIdOf(env.keys.plain),
    });

    // input_sha256 instead of input_text is stored as given; actor defaults to "system".
    const bySha = await state({ scope, rule_node_id: id, state: 'shadow', input_sha256: 'c'.repeat(64) });
    expect(bySha.status).toBe(200);
    const c2 = (await sql<{ actor: string; input_sha256: string; parent_id: string }>`SELECT actor, input_sha256, parent_id::text AS parent_id FROM memory_commits WHERE commit_id = ${bySha.body.commit_id}::uuid`.execute(db())).rows[0]!;
    expect(c2).toEqual({ actor: 'system', input_sha256: 'c'.repeat(64), parent_id: res.body.commit_id });
    // Not replay-safe: the same request again is a new commit (its parent is the newest commit).
    const again = await state({ scope, rule_node_id: id, state: 'shadow', input_sha256: 'c'.repeat(64) });
    expect(again.body.commit_id).not.toBe(bySha.body.commit_id);
    expect(await verify(scope)).toMatchObject({ ok: true, commits: chain.commits + 3 });
  });

  it('moves any state to any other (and to itself), each change a commit and an event with from_state and to_state', async () => {
    const scope = 'st-all';
    const id = (await writeRules(scope, [{ client_id: 'r' }])).r!;
    const chain = await verify(scope);
    // A de Bruijn sequence over the four states: every ordered pair, self-transitions included, once.
    const seq = '00110212031322330'.split('').map((d) => STATES[Number(d)]!);
    const pairs: [string, string][] = [];
    for (let i = 1; i < seq.length; i++) {
      const [from, to] = [seq[i - 1]!, seq[i]!];
      pairs.push([from, to]);
      const res = await env.api.post('/v1/memory/rules/state').set(env.as('plain')).set('x-request-id', `st-all-${i}`).send({ scope, rule_node_id: id, state: to, input_text: `step ${i}` });
      expect({ i, from, to, status: res.status }).toEqual({ i, from, to, status: 200 });
      expect(await definition(id)).toMatchObject({ state: to, commit_id: res.body.commit_id });
      const considered = (await post('rules/evaluate', { scope })).body.considered;
      expect({ to, considered }).toEqual({ to, considered: to === 'shadow' || to === 'active' ? 1 : 0 });
    }
    expect(new Set(pairs.map((p) => p.join('>'))).size).toBe(16);
    expect(await verify(scope)).toMatchObject({ ok: true, commits: chain.commits + 16 });
    const all = await audit({ tenant_id: TENANT }, 16, (e) => e.data.rule_node_id === id);
    expect(all.map((e) => [e.data.from_state, e.data.to_state])).toEqual(pairs);
    expect(all.map((e) => e.request_id)).toEqual(pairs.map((_, i) => `st-all-${i + 1}`));
  });

  it('refuses each invalid promotion with its code and writes nothing (no commit, no event, no state change); demotions are not validated', async () => {
    const scope = 'st-invalid';
    const r = await writeRules(scope, [
      { client_id: 'bad-if', slots: { if: 'intent=booking' } },
      { client_id: 'array-if', slots: { if: [{ intent: 'booking' }] } },
      { client_id: 'bad-exceptions', slots: { exceptions: { vip: true } } },
      { client_id: 'unknown-key', slots: { then: { output: { format: 'json' }, colour: 'blue' } } },
      { client_id: 'bad-format', slots: { then: { output: { format: 'yaml' } } } },
      { client_id: 'allow-string', slots: { then: { tool: { allow: 'web' } } } },
      { client_id: 'empty-tool', slots: { then: { tool: { prefer: [''] } } } },
      { client_id: 'too-many', slots: { then: { tool: { deny: Array.from({ length: 101 }, (_, i) => `t${i}`) } } } },
      { client_id: 'nested-unknown', slots: { then: { tool: { allow: ['a'], block: ['b'] } } } },
      { client_id: 'agent-rule', slots: { rule_scope: 'agent', target_agent_id: 'agent-a' } },
    ]);
    // A private rule whose owner is blank passes the write (the owner is a non-empty string) but not promotion.
    const blankOwner = (await writeRules(scope, [{ client_id: 'blank-owner' }], { memory_lane: 'private', owner_agent_id: '   ' }))['blank-owner']!;
    const event = (await post('write', { scope, input_text: 'an event', auto_embed: false, memory_lane: 'shared', nodes: [{ client_id: 'evt', type: 'event', text_summary: 'not a rule' }] })).body.nodes[0].id as string;
    const elsewhere = (await writeRules('st-invalid-other', [{ client_id: 'r' }])).r!;
    // An agent rule's target is required at write time, so promotion's invalid_rule_scope_target
    // is unreachable through the API; a definition without its target is simulated in storage.
    await sql`UPDATE memory_rule_defs SET target_agent_id = NULL WHERE rule_node_id = ${r['agent-rule']!}::uuid`.execute(db());

    const base = await env.counts();
    const baseEvents = await events();
    const baseHead = await head(scope);
    const ghost = '99999999-9999-4999-8999-999999999999';
    const cases: [string, string, string, Record<string, unknown> | undefined][] = [
      ['unknown id', ghost, 'rule_not_found_in_scope', { rule_node_id: ghost, scope, tenant_id: TENANT }],
      ['a node that is not a rule', event, 'rule_not_found_in_scope', { rule_node_id: event, scope, tenant_id: TENANT }],
      ['a rule of another scope', elsewhere, 'rule_not_found_in_scope', { rule_node_id: elsewhere, scope, tenant_id: TENANT }],
      ['a private rule with a blank owner', blankOwner, 'invalid_private_rule_owner', undefined],
      ['if not an object', r['bad-if']!, 'invalid_rule_if_json', undefined],
      ['if an array', r['array-if']!, 'invalid_rule_if_json', undefined],
      ['exceptions not an array', r['bad-exceptions']!, 'invalid_rule_exceptions_json', undefined],
      ['then with an unknown key', r['unknown-key']!, 'invalid_rule_then_json', { message: expect.stringContaining('colour') }],
      ['then with an unknown format', r['bad-format']!, 'invalid_rule_then_json', { message: expect.stringContaining('output.format') }],
      ['then with an allow string', r['allow-string']!, 'invalid_rule_then_json', { message: expect.stringContaining('tool.allow') }],
      ['then with an empty tool name', r['empty-tool']!, 'invalid_rule_then_json', { message: expect.stringContaining('tool.prefer') }],
      ['then with 101 tools', r['too-many']!, 'invalid_rule_then_json', { message: expect.stringContaining('tool.deny') }],
      ['then with an unknown nested key', r['nested-unknown']!, 'invalid_rule_then_json', { message: expect.stringContaining('tool.block') }],
      ['an agent rule without its target (storage-level)', r['agent-rule']!, 'invalid_rule_scope_target', undefined],
    ];
    for (const [name, id, code, details] of cases) {
      for (const target of ['shadow', 'active']) {
        const res = await state({ scope, rule_node_id: id, state: target, input_text: 'promote' });
        expect({ name, target, status: res.status, error: res.body?.error }).toEqual({ name, target, status: 400, error: code });
        expectContractError(res, 400, code);
        if (details) expect(res.body.details).toEqual(details);
      }
    }
    expect(await env.counts()).toEqual(base);
    expect(await events()).toBe(baseEvents);
    expect(await head(scope)).toEqual(baseHead);
    for (const id of [...Object.values(r), blankOwner]) expect((await definition(id)).state).toBe('draft');
    expect(await verify(scope)).toMatchObject({ ok: true });

    // Demotions are not validated: an invalid rule may still be disabled or kept as a draft.
    expect((await state({ scope, rule_node_id: r['unknown-key']!, state: 'disabled', input_text: 'retire' })).status).toBe(200);
    expect((await state({ scope, rule_node_id: r['bad-if']!, state: 'draft', input_text: 'keep' })).status).toBe(200);
    expect((await definition(r['unknown-key']!)).state).toBe('disabled');
    // A valid rule of the same scope is promoted fine (the checks above could pass).
    const fine = (await writeRules(scope, [{ client_id: 'fine', slots: { if: { a: 1 }, exceptions: [], then: { tool: { allow: ['a'] }, extensions: { any: { thing: [1] } } } } }])).fine!;
    expect((await state({ scope, rule_node_id: fine, state: 'active', input_text: 'ok' })).status).toBe(200);
  });

  it('is tenant-only (§1.4): any key of the tenant may move any rule of its namespace; another tenant named is 403', async () => {
    const scope = 'st-identity';
    const r = await writeRules(scope, [{ client_id: 'b-owned', slots: {} }], { memory_lane: 'private', owner_agent_id: 'agent-b' });
    const res = await state({ scope, rule_node_id: r['b-owned']!, state: 'active', input_text: 'by agent a' }, 'agentA');
    expect(res.status).toBe(200);
    const [entry] = await audit({ request_id: res.headers['x-request-id'] as string }, 1);
    expect(entry).toMatchObject({ actor: { type: 'api_key', id: keyIdOf(env.keys.agentA) }, data: { key_id: keyIdOf(env.keys.agentA), from_state: 'draft', to_state: 'active' } });
    const before = await env.counts();
    expectContractError(await state({ scope, tenant_id: 'contract-b', rule_node_id: r['b-owned']!, state: 'shadow', input_text: 'x' }), 403, 'identity_mismatch');
    expectContractError(await env.api.post('/v1/memory/rules/state').set(env.as('plain')).set('x-tenant-id', 'contract-b').send({ scope, rule_node_id: r['b-owned']!, state: 'shadow', input_text: 'x' }), 403, 'identity_mismatch');
    // The project key's namespace is another one: the rule is not found there.
    const other = await state({ scope, rule_node_id: r['b-owned']!, state: 'shadow', input_text: 'x' }, 'project');
    expectContractError(other, 400, 'rule_not_found_in_scope');
    expect(await env.counts()).toEqual(before);
    // The project key's own rules: the event names the project.
    const p = await writeRules(scope, [{ client_id: 'p' }], {}, 'project');
    const promoted = await state({ scope, rule_node_id: p.p!, state: 'shadow', input_text: 'x' }, 'project');
    expect(promoted.status).toBe(200);
    const [pe] = await audit({ request_id: promoted.headers['x-request-id'] as string }, 1);
    expect(pe!.data).toMatchObject({ tenant_id: TENANT, project_id: 'contract-a-p1', scope, rule_node_id: p.p, to_state: 'shadow', commit_id: promoted.body.commit_id });
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and writes nothing; write-class quota; needs memory:write', async () => {
    const scope = 'st-bad';
    const id = (await writeRules(scope, [{ client_id: 'r' }])).r!;
    const valid = { scope, rule_node_id: id, state: 'active', input_text: 'x' };
    const before = await env.counts();
    const beforeEvents = await events();
    const cases: RefusalCase[] = [
      ['missing rule_node_id', () => state({ ...valid, rule_node_id: undefined }), 400, 'invalid_request'],
      ['rule_node_id not a uuid', () => state({ ...valid, rule_node_id: 'rule-1' }), 400, 'invalid_request'],
      ['rule_node_id a number', () => state({ ...valid, rule_node_id: 5 }), 400, 'invalid_request'],
      ['missing state', () => state({ ...valid, state: undefined }), 400, 'invalid_request'],
      ['an unknown state', () => state({ ...valid, state: 'archived' }), 400, 'invalid_request'],
      ['a state in capitals', () => state({ ...valid, state: 'ACTIVE' }), 400, 'invalid_request'],
      ['no input', () => state({ ...valid, input_text: undefined }), 400, 'invalid_request'],
      ['input_sha256 not hex64', () => state({ ...valid, input_text: undefined, input_sha256: 'ABC' }), 400, 'invalid_request'],
      ['an empty input_text', () => state({ ...valid, input_text: '' }), 400, 'invalid_request'],
      ['a whitespace-only input_text', () => state({ ...valid, input_text: '   ' }), 400, 'invalid_request'],
      ['an empty actor', () => state({ ...valid, actor: '' }), 400, 'invalid_request'],
      ['an empty scope', () => state({ ...valid, scope: '  ' }), 400, 'invalid_scope'],
      ...transportRefusals(env, 'rules/state', valid),
    ];
    await expectEachRefused(cases);
    const missing = await state({ ...valid, input_text: undefined });
    expect(missing.body.issues).toEqual([{ path: '', message: expect.any(String) }]);
    expectContractError(await env.api.post('/v1/memory/rules/state').set('Content-Type', 'application/json').send(valid), 401, 'unauthorized');
    expectContractError(await state(valid, 'readOnly'), 403, 'forbidden');
    expect(await env.counts()).toEqual(before);
    expect(await events()).toBe(beforeEvents);
    expect((await definition(id)).state).toBe('draft');
    // Write class: the tenant's write burst.
    const quota = (await env.api.get(`/v1/admin/control/tenants/${TENANT}/quota`).set(env.t.auth).expect(200)).body.values as { recall_burst: number; write_burst: number };
    expect(quota.write_burst).not.toBe(quota.recall_burst);
    const ok = await state(valid, 'writeOnly');
    expect(ok.status).toBe(200);
    expect(ok.headers['x-ratelimit-limit']).toBe(String(quota.write_burst));
  });
});
