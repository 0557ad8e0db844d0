import { sql } from 'kysely';
import { type ContractEnv, deepObject, type KeyName, TENANT, startContractEnv, expectContractError, expectEachRefused } from '../../support/contract';
import { sha, UUID } from '../../support/spec-hash';

/**
 * POST /v1/memory/tools/select, from the contract (§2.12, §6.1, §1.4 policy identity, §1.9, §10 #4):
 * candidate normalisation and limits, deny and allow filtering with reasons, the empty allow
 * intersection (ignored, for parity), strict and its fallbacks, preference and order, the
 * non-binding shadow preview, the tool conflicts summary, and the recorded decision (response and
 * row, with the context and policy hashes recomputed here from canonical JSON), including the
 * §2.12 example's policy_sha256. Bad input is refused with nothing written.
 */
const PG_TS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00$/;

interface DecisionRow {
  kind: string;
  run_id: string | null;
  selected_tool: string | null;
  candidates: string[];
  context: unknown;
  context_sha256: string;
  policy: unknown;
  policy_sha256: string;
  source_rule_ids: string[];
  commit_id: string | null;
  created_at_text: string;
}

describe('contract: POST /v1/memory/tools/select', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env?.stop();
  });

  const db = () => env.t.tdb.database.db;
  const post = (path: string, body: unknown, key: KeyName = 'plain') => env.api.post(`/v1/memory/${path}`).set(env.as(key)).send(body as object);
  const select = (body: unknown, key: KeyName = 'plain') => post('tools/select', body, key);
  const writeRules = async (scope: string, nodes: readonly Record<string, unknown>[], key: KeyName = 'plain'): Promise<Record<string, string>> => {
    const res = await post('write', { scope, input_text: `rules ${nodes.map((n) => String(n.client_id)).join(' ')}`, auto_embed: false, memory_lane: 'shared', nodes: nodes.map((n) => ({ type: 'rule', ...n })) }, key);
    expect(res.status).toBe(200);
    return Object.fromEntries((res.body.nodes as { id: string; client_id: string }[]).map((n) => [n.client_id, n.id]));
  };
  const setState = async (scope: string, id: string, state: string, key: KeyName = 'plain') => {
    const res = await post('rules/state', { scope, rule_node_id: id, state, input_text: `${state} ${id}` }, key);
    expect(res.status).toBe(200);
    return res.body as { commit_id: string };
  };
  /** Write rules and set each to its state (active unless told). */
  const rules = async (scope: string, specs: readonly { client_id: string; slots?: Record<string, unknown>; state?: string }[]) => {
    const r = await writeRules(
      scope,
      specs.map((s) => ({ client_id: s.client_id, slots: s.slots ?? {} })),
    );
    for (const s of specs) await setState(scope, r[s.client_id]!, s.state ?? 'active');
    return r;
  };
  const decisionRow = async (id: string): Promise<DecisionRow> => {
    const r = await sql<DecisionRow>`
      SELECT kind, run_id, selected_tool, candidates, context, context_sha256, policy, policy_sha256, source_rule_ids, commit_id::text AS commit_id,
             ((created_at AT TIME ZONE 'UTC')::text || '+00') AS created_at_text
      FROM memory_decisions WHERE decision_id = ${id}::uuid`.execute(db());
    expect(r.rows).toHaveLength(1);
    return r.rows[0]!;
  };
  const decisions = async () => Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM memory_decisions`.execute(db())).rows[0]!.n);

  it("answers the §2.12 example: normalised candidates, the preferred tool selected, and the decision with the example's policy_sha256, recorded as returned", async () => {
    const scope = 'sel-example';
    const r = await writeRules(scope, [
      { client_id: 'rule:json-bookings', text_summary: 'Bookings must be answered as JSON', slots: { if: { intent: 'booking' }, then: { output: { format: 'json' }, tool: { prefer: ['flight_search'] } } } },
      { client_id: 'rule:refunds', slots: { if: { intent: 'refund' }, then: { output: { format: 'text' } } } },
    ]);
    const booking = r['rule:json-bookings']!;
    const promoted = await setState(scope, booking, 'active');
    await setState(scope, r['rule:refunds']!, 'active');
    for (const outcome of ['positive', 'positive', 'positive', 'negative']) expect((await post('feedback', { scope, rule_node_id: booking, outcome, input_text: outcome })).status).toBe(200);
    const before = await decisions();

    const context = { intent: 'booking' };
    const res = await select({ scope, run_id: 'run-7781', context, candidates: ['web_browse', 'flight_search', 'flight_search'], strict: true });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const rank = { score: 201, evidence_score: 2, priority: 0, weight: 1, specificity: 1 };
    expect(res.body).toEqual({
      scope,
      tenant_id: TENANT,
      candidates: ['web_browse', 'flight_search'],
      selection: {
        candidates: ['web_browse', 'flight_search'],
        allowed: ['web_browse', 'flight_search'],
        denied: [],
        preferred: ['flight_search'],
        ordered: ['flight_search', 'web_browse'],
        selected: 'flight_search',
        fallback: { applied: false, reason: 'none', note: expect.any(String), effective_mode: 'deny_only' },
      },
      rules: {
        considered: 2,
        matched: 1,
        skipped_invalid_then: 0,
        invalid_then_sample: [],
        agent_visibility_summary: {
          agent: { id: null, team_id: null },
          rule_scope: { scanned: 2, filtered_by_scope: 0, filtered_by_lane: 0, filtered_by_condition: 1, skipped_invalid_then: 0, matched_active: 1, matched_shadow: 0 },
          lane: { applied: false, reason: 'missing_agent_context', legacy_unowned_private_visible: 0, legacy_unowned_private_detected: 0 },
        },
        applied: {
          policy: { output: { format: 'json' }, tool: { prefer: ['flight_search'] } },
          sources: [{ rule_node_id: booking, state: 'active', commit_id: promoted.commit_id, touched_paths: ['output.format', 'tool.prefer'], rank }],
          conflicts: [],
          conflict_explain: [],
          tool_explain: {
            notes: [expect.any(String)],
            contributions: [{ rule_node_id: booking, ...rank, allow_n: 0, deny_n: 0, prefer_n: 1, first_prefer: 'flight_search' }],
            winners: { prefer_by_tool: { flight_search: booking }, deny_by_tool: {} },
            conflicts: [],
          },
        },
        tool_conflicts_summary: [],
      },
      decision: {
        decision_id: expect.stringMatching(UUID),
        run_id: 'run-7781',
        selected_tool: 'flight_search',
        policy_sha256: '46159fa95ec92d179aea52ac217835086186f7fdfd1a9ea417e6c20860c36796',
        source_rule_ids: [booking],
        created_at: expect.stringMatching(PG_TS),
      },
    });
    expect(res.body.decision.policy_sha256).toBe(sha(res.body.rules.applied.policy));

    // The decision row holds what the response says, and the hashes of §6.1 step 9.
    expect(await decisions()).toBe(before + 1);
    expect(await decisionRow(res.body.decision.decision_id)).toEqual({
      kind: 'tools_select',
      run_id: 'run-7781',
      selected_tool: 'flight_search',
      candidates: ['web_browse', 'flight_search'],
      context,
      context_sha256: sha(context),
      policy: res.body.rules.applied.policy,
      policy_sha256: '46159fa95ec92d179aea52ac217835086186f7fdfd1a9ea417e6c20860c36796',
      source_rule_ids: [booking],
      commit_id: null,
      created_at_text: res.body.decision.created_at,
    });
    // Not replay-safe: every call records a new decision.
    const again = await select({ scope, run_id: 'run-7781', context, candidates: ['web_browse', 'flight_search'] });
    expect(again.body.decision.decision_id).not.toBe(res.body.decision.decision_id);
    expect(await decisions()).toBe(before + 2);
  });

  it('normalises the candidates (trim, drop empty, de-dup keeping the first) and takes 1..200 of them', async () => {
    const scope = 'sel-candidates';
    const res = await select({ scope, candidates: ['  b ', 'a', '   ', 'b', 'c\t', 'a'] });
    expect(res.status).toBe(200);
    expect(res.body.candidates).toEqual(['b', 'a', 'c']);
    expect(res.body.selection).toEqual({ candidates: ['b', 'a', 'c'], allowed: ['b', 'a', 'c'], denied: [], preferred: [], ordered: ['b', 'a', 'c'], selected: 'b', fallback: { applied: false, reason: 'none', note: expect.any(String), effective_mode: 'deny_only' } });
    expect(res.body.rules).toMatchObject({ considered: 0, matched: 0, applied: { policy: { tool: {} }, sources: [] }, tool_conflicts_summary: [] });
    expect(res.body.decision).toEqual({ decision_id: expect.stringMatching(UUID), run_id: null, selected_tool: 'b', policy_sha256: sha({ tool: {} }), source_rule_ids: [], created_at: expect.stringMatching(PG_TS) });
    // Absent context: the principal has no identity, so the decision hashes an empty object.
    expect((await decisionRow(res.body.decision.decision_id)).context_sha256).toBe(sha({}));
    const many = Array.from({ length: 200 }, (_, i) => `tool-${i}`);
    const max = await select({ scope, candidates: many });
    expect(max.status).toBe(200);
    expect(max.body.selection.ordered).toEqual(many);

    const before = await env.counts();
    for (const [name, candidates] of [
      ['201 candidates', [...many, 'tool-200']],
      ['none', []],
      ['an empty string', ['a', '']],
      ['a number', ['a', 1]],
      ['a string', 'a'],
      ['null', null],
      ['missing', undefined],
    ] as const) {
      const res2 = await select({ scope, candidates });
      expect({ name, status: res2.status, error: res2.body?.error }).toEqual({ name, status: 400, error: 'invalid_request' });
      expectContractError(res2, 400, 'invalid_request');
      expect(res2.body.issues[0].path).toMatch(/^candidates/);
    }
    expect(await env.counts()).toEqual(before);
    // Only blanks: nothing is left. Strict refuses; otherwise nothing is selected.
    expectContractError(await select({ scope, candidates: ['  ', '\t'] }), 400, 'no_tools_allowed');
    const blanks = await select({ scope, candidates: ['  ', '\t'], strict: false });
    expect(blanks.body).toMatchObject({ candidates: [], selection: { allowed: [], ordered: [], selected: null, fallback: { applied: true, reason: 'deny_filtered_all', effective_mode: 'deny_only' } }, decision: { selected_tool: null } });
  });

  it('denies with reasons (deny_list before not_in_allow_list), orders the preferred allowed tools first, and records the active sources', async () => {
    const scope = 'sel-filter';
    const r = await rules(scope, [
      { client_id: 'allow', slots: { priority: 1, then: { tool: { allow: ['search', 'calc', 'mail', 'shell'], prefer: ['shell', 'mail'] } } } },
      { client_id: 'deny', slots: { then: { tool: { deny: ['shell', 'ftp'], prefer: ['calc'] } } } },
    ]);
    const res = await select({ scope, candidates: ['ftp', 'search', 'shell', 'web', 'calc', 'mail'] });
    expect(res.body.selection).toEqual({
      candidates: ['ftp', 'search', 'shell', 'web', 'calc', 'mail'],
      allowed: ['search', 'calc', 'mail'],
      denied: [
        { name: 'ftp', reason: 'deny_list' },
        { name: 'shell', reason: 'deny_list' },
        { name: 'web', reason: 'not_in_allow_list' },
      ],
      preferred: ['mail', 'calc'],
      ordered: ['mail', 'calc', 'search'],
      selected: 'mail',
      fallback: { applied: false, reason: 'none', note: expect.any(String), effective_mode: 'allow_and_deny' },
    });
    expect(res.body.rules.applied.policy.tool).toEqual({ allow: ['calc', 'mail', 'search', 'shell'], deny: ['ftp', 'shell'], prefer: ['shell', 'mail', 'calc'] });
    // Merge order (ascending score): deny (0) then allow (1000).
    expect(res.body.decision.source_rule_ids).toEqual([r.deny, r.allow]);
    expect(res.body.rules.tool_conflicts_summary).toEqual([
      expect.stringMatching(/^\[allow_intersection\] /),
      expect.stringMatching(new RegExp(`^\\[prefer_competing_top_choice\\] .* \\(winner=${r.allow}\\)$`)),
    ]);
    for (const line of res.body.rules.tool_conflicts_summary as string[]) expect(line.length).toBeLessThanOrEqual(200);
    expect((await decisionRow(res.body.decision.decision_id)).policy_sha256).toBe(sha(res.body.rules.applied.policy));
  });

  it('ignores an EMPTY allow intersection (parity, §10 #4): nothing is filtered by it', async () => {
    const scope = 'sel-empty-allow';
    await rules(scope, [
      { client_id: 'a', slots: { then: { tool: { allow: ['a'] } } } },
      { client_id: 'b', slots: { then: { tool: { allow: ['b'], deny: ['c'] } } } },
    ]);
    const res = await select({ scope, candidates: ['c', 'x', 'a', 'b'] });
    expect(res.status).toBe(200);
    expect(res.body.rules.applied.policy.tool).toEqual({ allow: [], deny: ['c'] });
    expect(res.body.selection).toMatchObject({ allowed: ['x', 'a', 'b'], denied: [{ name: 'c', reason: 'deny_list' }], selected: 'x', fallback: { applied: false, reason: 'none', effective_mode: 'deny_only' } });
    expect(res.body.rules.tool_conflicts_summary.map((l: string) => l.replace(/\].*$/, ']'))).toEqual(['[allow_intersection]', '[allow_intersection_empty]']);
  });

  it('refuses in strict mode (the default) with 400 no_tools_allowed and counts, recording no decision; strict false falls back', async () => {
    const scope = 'sel-strict';
    await rules(scope, [{ client_id: 'r', slots: { then: { tool: { allow: ['a', 'b'], deny: ['c', 'd', 'e'] } } } }]);
    const before = await env.counts();
    const refused = await select({ scope, candidates: ['c', 'x', 'y'] });
    expectContractError(refused, 400, 'no_tools_allowed');
    expect(refused.body.details).toEqual({ candidates: 3, allow: 2, deny: 3 });
    expectContractError(await select({ scope, candidates: ['c', 'x', 'y'], strict: true }), 400, 'no_tools_allowed');
    expect(await env.counts()).toEqual(before);

    // Strict off: the allow list filtered everything, so only the deny list applies.
    const allowFallback = await select({ scope, candidates: ['c', 'x', 'y'], strict: false });
    expect(allowFallback.status).toBe(200);
    expect(allowFallback.body.selection).toEqual({
      candidates: ['c', 'x', 'y'],
      allowed: ['x', 'y'],
      denied: [{ name: 'c', reason: 'deny_list' }],
      preferred: [],
      ordered: ['x', 'y'],
      selected: 'x',
      fallback: { applied: true, reason: 'allowlist_filtered_all', note: expect.any(String), effective_mode: 'deny_only' },
    });
    // Still nothing: no tool is selected, and the decision says so.
    const denyFallback = await select({ scope, candidates: ['c', 'd'], strict: false });
    expect(denyFallback.body.selection).toEqual({
      candidates: ['c', 'd'],
      allowed: [],
      denied: [
        { name: 'c', reason: 'deny_list' },
        { name: 'd', reason: 'deny_list' },
      ],
      preferred: [],
      ordered: [],
      selected: null,
      fallback: { applied: true, reason: 'deny_filtered_all', note: expect.any(String), effective_mode: 'deny_only' },
    });
    expect(denyFallback.body.decision.selected_tool).toBeNull();
    expect((await decisionRow(denyFallback.body.decision.decision_id)).selected_tool).toBeNull();
    expect((await env.counts()).memory_decisions).toBe(before.memory_decisions! + 2);
    // A deny-only policy: strict refuses with the counts of the deny list alone.
    await rules('sel-strict-deny', [{ client_id: 'r', slots: { then: { tool: { deny: ['c'] } } } }]);
    const onlyDeny = await select({ scope: 'sel-strict-deny', candidates: ['c'] });
    expectContractError(onlyDeny, 400, 'no_tools_allowed');
    expect(onlyDeny.body.details).toEqual({ candidates: 1, allow: 0, deny: 1 });
  });

  it('previews the shadow policy with include_shadow (never enforced, never strict) and summarises its conflicts apart', async () => {
    const scope = 'sel-shadow';
    const r = await rules(scope, [
      { client_id: 'active', slots: { then: { tool: { prefer: ['b'] } } } },
      { client_id: 'shadow-1', slots: { then: { tool: { allow: ['a'], prefer: ['a'] } } }, state: 'shadow' },
      { client_id: 'shadow-2', slots: { then: { tool: { deny: ['a', 'b', 'c'] } } }, state: 'shadow' },
    ]);
    const plain = await select({ scope, candidates: ['a', 'b', 'c'] });
    expect(plain.body.selection.selected).toBe('b');
    expect(plain.body.rules).not.toHaveProperty('shadow_selection');
    expect(plain.body.rules).not.toHaveProperty('shadow_tool_conflicts_summary');
    expect(plain.body.rules.applied).not.toHaveProperty('shadow_policy');
    expect(plain.body.rules.matched).toBe(1);

    const res = await select({ scope, candidates: ['a', 'b', 'c'], include_shadow: true });
    expect(res.status).toBe(200);
    // The enforced selection is the active policy's, whatever the shadow rules say.
    expect(res.body.selection).toMatchObject({ allowed: ['a', 'b', 'c'], denied: [], selected: 'b' });
    expect(res.body.rules.applied.shadow_policy.tool).toEqual({ allow: ['a'], deny: ['a', 'b', 'c'], prefer: ['a'] });
    // The preview would deny everything: no error (never strict), nothing selected.
    expect(res.body.rules.shadow_selection).toEqual({
      candidates: ['a', 'b', 'c'],
      allowed: [],
      denied: [
        { name: 'a', reason: 'deny_list' },
        { name: 'b', reason: 'deny_list' },
        { name: 'c', reason: 'deny_list' },
      ],
      preferred: [],
      ordered: [],
      selected: null,
      fallback: { applied: true, reason: 'deny_filtered_all', note: expect.any(String), effective_mode: 'deny_only' },
    });
    expect(res.body.rules.shadow_tool_conflicts_summary).toEqual([expect.stringMatching(/^\[allow_intersection\] /)]);
    expect(res.body.rules.tool_conflicts_summary).toEqual([]);
    expect(res.body.rules.matched).toBe(3);
    // The decision is the enforced one: active sources only, the active policy's hash.
    expect(res.body.decision).toMatchObject({ selected_tool: 'b', source_rule_ids: [r.active], policy_sha256: sha({ tool: { prefer: ['b'] } }) });
  });

  it('injects the identity of an agent-bound key into the context it evaluates and hashes, and refuses a contradicting one with 403 identity_mismatch', async () => {
    const scope = 'sel-identity';
    const r = await rules(scope, [
      { client_id: 'for-a', slots: { rule_scope: 'agent', target_agent_id: 'agent-a', then: { tool: { prefer: ['a-tool'] } } } },
      { client_id: 'for-x', slots: { rule_scope: 'team', target_team_id: 'team-x', then: { tool: { prefer: ['x-tool'] } } } },
    ]);
    const res = await select({ scope, context: { intent: 'go' }, candidates: ['other', 'a-tool', 'x-tool'] }, 'agentA');
    expect(res.status).toBe(200);
    expect(res.body.selection.selected).toBe('a-tool');
    expect(res.body.rules.agent_visibility_summary).toMatchObject({ agent: { id: 'agent-a', team_id: null }, lane: { applied: true, reason: 'enforced_agent_only' } });
    expect(res.body.decision.source_rule_ids).toEqual([r['for-a']]);
    const injected = { intent: 'go', agent: { id: 'agent-a' }, agent_id: 'agent-a' };
    const row = await decisionRow(res.body.decision.decision_id);
    expect(row.context).toEqual(injected);
    expect(row.context_sha256).toBe(sha(injected));
    // A team-bound key, with a context that is not an object (replaced by {}).
    const team = await select({ scope, context: 'free text', candidates: ['other', 'a-tool', 'x-tool'] }, 'teamX');
    expect(team.body.selection.selected).toBe('x-tool');
    const teamContext = { agent: { team_id: 'team-x' }, team_id: 'team-x' };
    expect((await decisionRow(team.body.decision.decision_id)).context_sha256).toBe(sha(teamContext));

    const before = await env.counts();
    for (const [key, context, field, provided, expected] of [
      ['agentA', { agent: { id: 'agent-b' } }, 'context.agent.id', 'agent-b', 'agent-a'],
      ['agentA', { agent_id: 'agent-b' }, 'context.agent_id', 'agent-b', 'agent-a'],
      ['teamX', { team_id: 'team-y' }, 'context.team_id', 'team-y', 'team-x'],
    ] as const) {
      const bad = await select({ scope, context, candidates: ['a-tool'] }, key);
      expectContractError(bad, 403, 'identity_mismatch');
      expect(bad.body.details).toEqual({ field, provided, expected });
    }
    expectContractError(await select({ scope, tenant_id: 'contract-b', candidates: ['a'] }), 403, 'identity_mismatch');
    expect(await env.counts()).toEqual(before);
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and records nothing; recall-class quota; needs memory:read', async () => {
    const raw = (body: string) => env.api.post('/v1/memory/tools/select').set(env.as('plain')).send(body);
    const valid = { scope: 'sel-bad', candidates: ['a'] };
    const before = await env.counts();
    const cases: [string, () => ReturnType<typeof select>, number, string][] = [
      ['run_id empty', () => select({ ...valid, run_id: '' }), 400, 'invalid_request'],
      ['run_id a number', () => select({ ...valid, run_id: 7 }), 400, 'invalid_request'],
      ['include_shadow a string', () => select({ ...valid, include_shadow: 'true' }), 400, 'invalid_request'],
      ['strict a number', () => select({ ...valid, strict: 0 }), 400, 'invalid_request'],
      ['rules_limit 0', () => select({ ...valid, rules_limit: 0 }), 400, 'invalid_request'],
      ['rules_limit 201', () => select({ ...valid, rules_limit: 201 }), 400, 'invalid_request'],
      ['rules_limit 2.5', () => select({ ...valid, rules_limit: 2.5 }), 400, 'invalid_request'],
      ['an empty scope', () => select({ ...valid, scope: ' ' }), 400, 'invalid_scope'],
      ['an infinite rules_limit', () => raw('{"candidates":["a"],"rules_limit":1e999}'), 400, 'invalid_request'],
      ['an infinite number in the context', () => raw('{"candidates":["a"],"context":{"n":-1e999}}'), 400, 'invalid_request'],
      ['NaN', () => raw('{"candidates":["a"],"rules_limit":NaN}'), 400, 'invalid_request'],
      ['JSON nested 200 levels deep', () => select({ ...valid, context: deepObject(200) }), 400, 'invalid_request'],
      ['a NUL character in a candidate', () => raw('{"candidates":["a\\u0000b"]}'), 400, 'invalid_request'],
      ['malformed JSON', () => raw('{"candidates":['), 400, 'invalid_request'],
      ['a body that is an array', () => env.api.post('/v1/memory/tools/select').set(env.as('plain')).send([valid]), 400, 'invalid_request'],
      ['a 6 MiB body', () => select({ ...valid, context: { big: 'x'.repeat(6 * 1024 * 1024) } }), 413, 'payload_too_large'],
    ];
    await expectEachRefused(cases);
    expectContractError(await env.api.post('/v1/memory/tools/select').set('Content-Type', 'application/json').send(valid), 401, 'unauthorized');
    expectContractError(await select(valid, 'writeOnly'), 403, 'forbidden');
    expect(await env.counts()).toEqual(before);
    const quota = (await env.api.get(`/v1/admin/control/tenants/${TENANT}/quota`).set(env.t.auth).expect(200)).body.values as { recall_burst: number; write_burst: number };
    expect(quota.recall_burst).not.toBe(quota.write_burst);
    const ok = await select(valid, 'readOnly');
    expect(ok.status).toBe(200);
    expect(ok.headers['x-ratelimit-limit']).toBe(String(quota.recall_burst));
  });
});
