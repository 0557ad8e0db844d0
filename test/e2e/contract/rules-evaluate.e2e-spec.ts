import { sql } from 'kysely';
import { type ContractEnv, deepObject, type KeyName, TENANT, startContractEnv, expectContractError, expectEachRefused } from '../../support/contract';
import { UUID } from '../../support/spec-hash';

/**
 * POST /v1/memory/rules/evaluate, from the contract (§2.11, §5.1-§5.6, §1.4 policy identity): every
 * request field with its default and limit, every response member with the RuleMatch shape, the
 * §2.11 example's structure, which rules are fetched (states, limit), the scope and lane filters,
 * conditions and exceptions, rank (priority and weight from the node's slots, evidence from
 * feedback), merging with conflicts, the tool policy, shadow output only when asked, and bad
 * input refused with nothing written.
 */

interface RuleSpec {
  readonly client_id: string;
  readonly summary?: string;
  readonly slots?: Record<string, unknown>;
  readonly lane?: 'shared' | 'private';
  readonly owner_agent_id?: string;
  readonly owner_team_id?: string;
}

describe('contract: POST /v1/memory/rules/evaluate', () => {
  let env: ContractEnv;
  beforeAll(async () => {
    env = await startContractEnv();
  });
  afterAll(async () => {
    await env?.stop();
  });

  const post = (path: string, body: unknown, key: KeyName = 'plain') => env.api.post(`/v1/memory/${path}`).set(env.as(key)).send(body as object);
  const evaluate = (body: unknown, key: KeyName = 'plain') => post('rules/evaluate', body, key);
  /** Rule nodes (shared unless told), not embedded; their ids by client id. */
  const writeRules = async (scope: string, rules: readonly RuleSpec[], key: KeyName = 'plain'): Promise<Record<string, string>> => {
    const res = await post(
      'write',
      {
        scope,
        input_text: `rules ${rules.map((r) => r.client_id).join(' ')}`,
        auto_embed: false,
        nodes: rules.map((r) => ({
          client_id: r.client_id,
          type: 'rule',
          memory_lane: r.lane ?? 'shared',
          ...(r.owner_agent_id !== undefined ? { owner_agent_id: r.owner_agent_id } : {}),
          ...(r.owner_team_id !== undefined ? { owner_team_id: r.owner_team_id } : {}),
          ...(r.summary !== undefined ? { text_summary: r.summary } : {}),
          slots: r.slots ?? {},
        })),
      },
      key,
    );
    expect(res.status).toBe(200);
    return Object.fromEntries((res.body.nodes as { id: string; client_id: string }[]).map((n) => [n.client_id, n.id]));
  };
  const setState = async (scope: string, id: string, state: string): Promise<{ commit_id: string; commit_hash: string }> => {
    const res = await post('rules/state', { scope, rule_node_id: id, state, input_text: `${state} ${id}` });
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: expect.objectContaining({ commit_id: expect.stringMatching(UUID) }) });
    return res.body;
  };
  const feedback = async (scope: string, id: string, outcome: 'positive' | 'negative' | 'neutral', n = 1): Promise<void> => {
    for (let i = 0; i < n; i++) expect((await post('feedback', { scope, rule_node_id: id, outcome, input_text: `${outcome} ${i}` })).status).toBe(200);
  };
  const ids = (matches: readonly { rule_node_id: string }[]) => matches.map((m) => m.rule_node_id);

  it("answers the §2.11 example with its exact structure: rank {score 201, evidence 2} from 3 positive and 1 negative feedback, one rule filtered by condition", async () => {
    const scope = 'ev-example';
    const r = await writeRules(scope, [
      { client_id: 'rule:json-bookings', summary: 'Bookings must be answered as JSON', slots: { if: { intent: 'booking' }, then: { output: { format: 'json' }, tool: { prefer: ['flight_search'] } } } },
      { client_id: 'rule:refunds', summary: 'Refunds go to a human', slots: { if: { intent: 'refund' }, then: { output: { format: 'text' } } } },
    ]);
    const booking = r['rule:json-bookings']!;
    const promoted = await setState(scope, booking, 'active');
    await setState(scope, r['rule:refunds']!, 'active');
    await feedback(scope, booking, 'positive', 3);
    await feedback(scope, booking, 'negative');

    const res = await evaluate({ scope, context: { intent: 'booking', provider: 'openai', agent: { id: 'agent-planner' } }, include_shadow: false });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const rank = { score: 201, evidence_score: 2, priority: 0, weight: 1, specificity: 1 };
    expect(res.body).toEqual({
      scope,
      tenant_id: TENANT,
      considered: 2,
      matched: 1,
      skipped_invalid_then: 0,
      invalid_then_sample: [],
      active: [
        {
          rule_node_id: booking,
          state: 'active',
          rule_scope: 'global',
          target_agent_id: null,
          target_team_id: null,
          summary: 'Bookings must be answered as JSON',
          if_json: { intent: 'booking' },
          then_json: { output: { format: 'json' }, tool: { prefer: ['flight_search'] } },
          exceptions_json: [],
          stats: { positive: 3, negative: 1 },
          rank,
          match_detail: { condition_paths: ['intent'], condition_path_count: 1 },
          commit_id: promoted.commit_id,
        },
      ],
      shadow: [],
      agent_visibility_summary: {
        agent: { id: 'agent-planner', team_id: null },
        rule_scope: { scanned: 2, filtered_by_scope: 0, filtered_by_lane: 0, filtered_by_condition: 1, skipped_invalid_then: 0, matched_active: 1, matched_shadow: 0 },
        lane: { applied: true, reason: 'enforced_agent_only', legacy_unowned_private_visible: 0, legacy_unowned_private_detected: 0 },
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
    });
  });

  it('defaults include_shadow to TRUE here; false hides the shadow output although the shadow rule is still fetched and counted', async () => {
    const scope = 'ev-shadow';
    const r = await writeRules(scope, [
      { client_id: 'a', slots: { then: { output: { format: 'json' } } } },
      { client_id: 's', summary: 'would deny rm', slots: { if: { intent: 'ops' }, then: { tool: { deny: ['rm'] } } } },
    ]);
    const active = await setState(scope, r.a!, 'active');
    const shadow = await setState(scope, r.s!, 'shadow');
    const byDefault = await evaluate({ scope, context: { intent: 'ops' } });
    expect(byDefault.status).toBe(200);
    expect(byDefault.body).toMatchObject({ considered: 2, matched: 2, active: [{ rule_node_id: r.a, state: 'active', commit_id: active.commit_id }] });
    expect(byDefault.body.shadow).toEqual([
      expect.objectContaining({ rule_node_id: r.s, state: 'shadow', summary: 'would deny rm', then_json: { tool: { deny: ['rm'] } }, commit_id: shadow.commit_id, rank: { score: 1, evidence_score: 0, priority: 0, weight: 1, specificity: 1 } }),
    ]);
    expect(byDefault.body.agent_visibility_summary.rule_scope).toMatchObject({ scanned: 2, matched_active: 1, matched_shadow: 1 });
    // A shadow rule is never merged into the enforced policy; its own policy is reported beside it.
    expect(byDefault.body.applied.policy).toEqual({ output: { format: 'json' }, tool: {} });
    expect(byDefault.body.applied).toMatchObject({
      shadow_policy: { tool: { deny: ['rm'] } },
      shadow_sources: [{ rule_node_id: r.s, state: 'shadow', commit_id: shadow.commit_id, touched_paths: ['tool.deny'], rank: { score: 1 } }],
      shadow_conflicts: [],
      shadow_conflict_explain: [],
      shadow_tool_explain: { contributions: [expect.objectContaining({ rule_node_id: r.s, deny_n: 1 })], winners: { prefer_by_tool: {}, deny_by_tool: { rm: r.s } } },
    });
    expect(byDefault.body.applied.sources.map((s: { touched_paths: string[] }) => s.touched_paths)).toEqual([['output.format']]);

    const hidden = await evaluate({ scope, context: { intent: 'ops' }, include_shadow: false });
    expect(hidden.body).toMatchObject({ considered: 2, matched: 1, shadow: [] });
    expect(hidden.body.agent_visibility_summary.rule_scope).toMatchObject({ scanned: 2, matched_active: 1, matched_shadow: 0 });
    expect(Object.keys(hidden.body.applied).sort()).toEqual(['conflict_explain', 'conflicts', 'policy', 'sources', 'tool_explain']);
    expect(Object.keys(byDefault.body).sort()).toEqual(Object.keys(hidden.body).sort());
    expect(Object.keys(hidden.body).sort()).toEqual(['active', 'agent_visibility_summary', 'applied', 'considered', 'invalid_then_sample', 'matched', 'scope', 'shadow', 'skipped_invalid_then', 'tenant_id']);
  });

  it('never evaluates draft or disabled rules (they are not even considered)', async () => {
    const scope = 'ev-states';
    const r = await writeRules(scope, [{ client_id: 'draft' }, { client_id: 'x' }]);
    const none = await evaluate({ scope });
    expect(none.body).toMatchObject({ considered: 0, matched: 0, active: [], shadow: [] });
    await setState(scope, r.x!, 'active');
    expect((await evaluate({ scope })).body).toMatchObject({ considered: 1, matched: 1, active: [{ rule_node_id: r.x }] });
    await setState(scope, r.x!, 'disabled');
    expect((await evaluate({ scope })).body).toMatchObject({ considered: 0, matched: 0, active: [], shadow: [] });
    await setState(scope, r.x!, 'shadow');
    expect((await evaluate({ scope })).body).toMatchObject({ considered: 1, matched: 1, shadow: [{ rule_node_id: r.x }] });
  });

  it('scans at most `limit` live rules, newest first: default 50, 1..200', async () => {
    const scope = 'ev-limit';
    const specs = Array.from({ length: 51 }, (_, i) => ({ client_id: `r${i}` }));
    const r = await writeRules(scope, specs);
    for (let i = 0; i < 51; i++) {
      // Distinct updated_at for the oldest and the newest (a millisecond clock).
      if (i === 1 || i === 50) await new Promise((res) => setTimeout(res, 5));
      await setState(scope, r[`r${i}`]!, 'active');
    }
    const byDefault = await evaluate({ scope });
    expect(byDefault.body).toMatchObject({ considered: 50, matched: 50 });
    // The oldest promotion is the one left out.
    expect(ids(byDefault.body.active)).not.toContain(r.r0);
    expect((await evaluate({ scope, limit: 200 })).body).toMatchObject({ considered: 51, matched: 51 });
    const one = await evaluate({ scope, limit: 1 });
    expect(one.body).toMatchObject({ considered: 1, matched: 1 });
    expect(ids(one.body.active)).toEqual([r.r50]);
    expect((await evaluate({ scope, limit: 50 })).body.considered).toBe(50);
  });

  it('takes any JSON as context (a non-object counts as {}), matches conditions with paths and operators, and vetoes by exceptions', async () => {
    const scope = 'ev-context';
    const r = await writeRules(scope, [
      { client_id: 'always', slots: { then: { output: { format: 'text' } } } },
      { client_id: 'cond', slots: { if: { $and: [{ 'user.tier': { $in: ['gold', 'platinum'] } }, { n: { $gte: 3 } }, { $or: [{ channel: 'web' }, { channel: 'app' }] }] }, exceptions: [{ vip: true }] } },
      // With a combinator, every other key of the pattern is ignored.
      { client_id: 'combinator', slots: { if: { $or: [{ channel: 'app' }], never: 'present' } } },
    ]);
    for (const id of Object.values(r)) await setState(scope, id, 'active');
    for (const context of [undefined, null, 'a string', 42, [1, 2], true, {}]) {
      const res = await evaluate({ scope, ...(context === undefined ? {} : { context }) });
      expect({ context, status: res.status, active: ids(res.body.active), filtered: res.body.agent_visibility_summary?.rule_scope.filtered_by_condition }).toEqual({ context, status: 200, active: [r.always], filtered: 2 });
    }
    const hit = await evaluate({ scope, context: { user: { tier: 'gold' }, n: 5, channel: 'app' } });
    expect(ids(hit.body.active).sort()).toEqual([r.always, r.cond, r.combinator].sort());
    const cond = hit.body.active.find((m: { rule_node_id: string }) => m.rule_node_id === r.cond);
    expect(cond).toMatchObject({
      if_json: { $and: [{ 'user.tier': { $in: ['gold', 'platinum'] } }, { n: { $gte: 3 } }, { $or: [{ channel: 'web' }, { channel: 'app' }] }] },
      exceptions_json: [{ vip: true }],
      then_json: {},
      match_detail: { condition_paths: ['channel', 'n', 'user.tier'], condition_path_count: 3 },
      rank: { score: 3, specificity: 3 },
    });
    // An empty patch touches "$".
    expect(hit.body.applied.sources.find((s: { rule_node_id: string }) => s.rule_node_id === r.cond).touched_paths).toEqual(['$']);
    for (const context of [
      { user: { tier: 'silver' }, n: 5, channel: 'app' },
      { user: { tier: 'gold' }, n: 2, channel: 'app' },
      { user: { tier: 'gold' }, n: '5', channel: 'app' },
      { user: { tier: 'gold' }, n: 5, channel: 'voice' },
      { user: { tier: 'gold' }, n: 5, channel: 'app', vip: true },
    ]) {
      const miss = await evaluate({ scope, context });
      expect({ context, active: ids(miss.body.active).filter((id) => id !== r.combinator) }).toEqual({ context, active: [r.always] });
    }
  });

  it('filters agent and team rules by the context agent or team id (§5.5 step 2), with identity filled from an agent- or team-bound key', async () => {
    const scope = 'ev-scope';
    const r = await writeRules(scope, [
      { client_id: 'agent', slots: { rule_scope: 'agent', target_agent_id: 'agent-a' } },
      { client_id: 'team', slots: { rule_scope: 'TEAM', target_team_id: 'team-x' } },
      { client_id: 'global', slots: {} },
      { client_id: 'odd', slots: { rule_scope: 'planet', target_agent_id: 'agent-z' } },
    ]);
    for (const id of Object.values(r)) await setState(scope, id, 'active');
    const cases: [string, KeyName, unknown, string[], number, { id: string | null; team_id: string | null }][] = [
      ['no identity', 'plain', undefined, ['global', 'odd'], 2, { id: null, team_id: null }],
      ['context.agent.id', 'plain', { agent: { id: 'agent-a' } }, ['agent', 'global', 'odd'], 1, { id: 'agent-a', team_id: null }],
      ['context.agent_id', 'plain', { agent_id: 'agent-a' }, ['agent', 'global', 'odd'], 1, { id: 'agent-a', team_id: null }],
      ['another agent', 'plain', { agent: { id: 'agent-b' } }, ['global', 'odd'], 2, { id: 'agent-b', team_id: null }],
      ['context.agent.team_id', 'plain', { agent: { team_id: 'team-x' } }, ['global', 'odd', 'team'], 1, { id: null, team_id: 'team-x' }],
      ['context.team_id', 'plain', { team_id: 'team-x' }, ['global', 'odd', 'team'], 1, { id: null, team_id: 'team-x' }],
      ['agent-bound key', 'agentA', undefined, ['agent', 'global', 'odd'], 1, { id: 'agent-a', team_id: null }],
      ['team-bound key', 'teamX', 'not an object', ['global', 'odd', 'team'], 1, { id: null, team_id: 'team-x' }],
    ];
    const name = Object.fromEntries(Object.entries(r).map(([k, v]) => [v, k]));
    for (const [label, key, context, expected, filtered, agent] of cases) {
      const res = await evaluate({ scope, ...(context === undefined ? {} : { context }) }, key);
      expect({ label, status: res.status, active: ids(res.body.active).map((id) => name[id]).sort(), filtered: res.body.agent_visibility_summary?.rule_scope.filtered_by_scope, agent: res.body.agent_visibility_summary?.agent }).toEqual({
        label,
        status: 200,
        active: expected,
        filtered,
        agent,
      });
    }
    const both = await evaluate({ scope, context: { agent: { id: 'agent-a' }, team_id: 'team-x' } });
    expect(both.body.active.map((m: { rule_node_id: string; rule_scope: string; target_agent_id: string | null; target_team_id: string | null }) => [name[m.rule_node_id], m.rule_scope, m.target_agent_id, m.target_team_id]).sort()).toEqual([
      ['agent', 'agent', 'agent-a', null],
      ['global', 'global', null, null],
      ['odd', 'global', 'agent-z', null],
      ['team', 'team', null, 'team-x'],
    ]);
  });

  it('enforces the lane filter only with an agent or team id in the context; without one, private rules of every owner are visible (parity)', async () => {
    const scope = 'ev-lane';
    const r = await writeRules(scope, [
      { client_id: 'shared' },
      { client_id: 'mine-a', lane: 'private', owner_agent_id: 'agent-a' },
      { client_id: 'mine-b', lane: 'private', owner_agent_id: 'agent-b' },
      { client_id: 'team-x', lane: 'private', owner_team_id: 'team-x' },
    ]);
    for (const id of Object.values(r)) await setState(scope, id, 'active');
    const name = Object.fromEntries(Object.entries(r).map(([k, v]) => [v, k]));
    const cases: [unknown, KeyName, string[], number, boolean, string][] = [
      [undefined, 'plain', ['mine-a', 'mine-b', 'shared', 'team-x'], 0, false, 'missing_agent_context'],
      [{ agent: { id: 'agent-a' } }, 'plain', ['mine-a', 'shared'], 2, true, 'enforced_agent_only'],
      [{ team_id: 'team-x' }, 'plain', ['shared', 'team-x'], 2, true, 'enforced_team_only'],
      [{ agent: { id: 'agent-b', team_id: 'team-x' } }, 'plain', ['mine-b', 'shared', 'team-x'], 1, true, 'enforced_agent_team'],
      [undefined, 'agentB', ['mine-b', 'shared'], 2, true, 'enforced_agent_only'],
      [{ agent: { id: 'agent-c' } }, 'plain', ['shared'], 3, true, 'enforced_agent_only'],
    ];
    for (const [context, key, expected, filtered, applied, reason] of cases) {
      const res = await evaluate({ scope, ...(context === undefined ? {} : { context }) }, key);
      expect({ context, key, active: ids(res.body.active).map((id) => name[id]).sort(), filtered: res.body.agent_visibility_summary.rule_scope.filtered_by_lane, lane: res.body.agent_visibility_summary.lane }).toEqual({
        context,
        key,
        active: expected,
        filtered,
        lane: { applied, reason, legacy_unowned_private_visible: 0, legacy_unowned_private_detected: 0 },
      });
    }
  });

  it('skips a live rule whose stored `then` fails the patch schema, counting it even for shadow rules when shadow output is off (storage-level: unreachable through the API)', async () => {
    // Promotion validates `then` (invalid_rule_then_json) and a rule's definition never changes
    // after it is written, so the API cannot produce an invalid stored `then`. §5.4 names the case
    // (a `then` whose shape changed after promotion); it is simulated here in the database.
    const scope = 'ev-invalid-then';
    const r = await writeRules(scope, [{ client_id: 'ok', slots: { then: { output: { format: 'json' } } } }, { client_id: 'bad-active' }, { client_id: 'bad-shadow' }]);
    await setState(scope, r.ok!, 'active');
    const badActive = await setState(scope, r['bad-active']!, 'active');
    const badShadow = await setState(scope, r['bad-shadow']!, 'shadow');
    await sql`UPDATE memory_rule_defs SET then_json = '{"tool":{"allow":"everything"},"colour":"blue"}'::jsonb WHERE rule_node_id IN (${r['bad-active']!}::uuid, ${r['bad-shadow']!}::uuid)`.execute(env.t.tdb.database.db);
    const res = await evaluate({ scope, include_shadow: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ considered: 3, matched: 1, skipped_invalid_then: 2, active: [{ rule_node_id: r.ok }], shadow: [] });
    expect(res.body.invalid_then_sample).toHaveLength(2);
    expect(res.body.invalid_then_sample).toEqual(
      expect.arrayContaining([
        { rule_node_id: r['bad-active'], state: 'active', commit_id: badActive.commit_id },
        { rule_node_id: r['bad-shadow'], state: 'shadow', commit_id: badShadow.commit_id },
      ]),
    );
    expect(res.body.agent_visibility_summary.rule_scope).toMatchObject({ scanned: 3, skipped_invalid_then: 2, matched_active: 1, matched_shadow: 0 });
    expect(res.body.applied.policy).toEqual({ output: { format: 'json' }, tool: {} });
  });

  it('ranks by priority and weight read from the node slots (rule_meta first, clamped) and by feedback evidence, reordering `active`', async () => {
    const scope = 'ev-rank';
    const r = await writeRules(scope, [
      { client_id: 'plain' },
      { client_id: 'p2', slots: { rule_meta: { priority: 2 } } },
      { client_id: 'meta-wins', slots: { rule_meta: { priority: 1 }, priority: 50 } },
      { client_id: 'clamped', slots: { priority: 500, rule_meta: { weight: 5 } } },
      { client_id: 'neg', slots: { priority: -3 } },
      { client_id: 'heavy', slots: { weight: 2 } },
      { client_id: 'light', slots: { rule_meta: { weight: 0.5 } } },
      { client_id: 'zero', slots: { weight: -1 } },
    ]);
    for (const id of Object.values(r)) await setState(scope, id, 'active');
    const name = Object.fromEntries(Object.entries(r).map(([k, v]) => [v, k]));
    const before = await evaluate({ scope });
    const plainBefore = before.body.active.find((m: { rule_node_id: string }) => m.rule_node_id === r.plain);
    expect(plainBefore.rank).toEqual({ score: 0, evidence_score: 0, priority: 0, weight: 1, specificity: 0 });
    await feedback(scope, r.heavy!, 'positive');
    await feedback(scope, r.light!, 'positive', 2);
    await feedback(scope, r.zero!, 'positive', 3);
    await feedback(scope, r.plain!, 'negative');
    const res = await evaluate({ scope });
    const ranks = Object.fromEntries(res.body.active.map((m: { rule_node_id: string; rank: unknown }) => [name[m.rule_node_id], m.rank]));
    expect(ranks).toEqual({
      clamped: { score: 100_000, evidence_score: 0, priority: 100, weight: 2, specificity: 0 },
      p2: { score: 2000, evidence_score: 0, priority: 2, weight: 1, specificity: 0 },
      'meta-wins': { score: 1000, evidence_score: 0, priority: 1, weight: 1, specificity: 0 },
      heavy: { score: 200, evidence_score: 1, priority: 0, weight: 2, specificity: 0 },
      light: { score: 100, evidence_score: 2, priority: 0, weight: 0.5, specificity: 0 },
      zero: { score: 0, evidence_score: 3, priority: 0, weight: 0, specificity: 0 },
      plain: { score: -100, evidence_score: -1, priority: 0, weight: 1, specificity: 0 },
      neg: { score: -3000, evidence_score: 0, priority: -3, weight: 1, specificity: 0 },
    });
    expect(ids(res.body.active).map((id) => name[id])).toEqual(['clamped', 'p2', 'meta-wins', 'heavy', 'light', 'zero', 'plain', 'neg']);
    expect(res.body.active.find((m: { rule_node_id: string }) => m.rule_node_id === r.zero).stats).toEqual({ positive: 3, negative: 0 });
    // Sources are in merge order: ascending score.
    expect(res.body.applied.sources.map((s: { rule_node_id: string }) => name[s.rule_node_id])).toEqual(['neg', 'plain', 'zero', 'light', 'heavy', 'meta-wins', 'p2', 'clamped']);
    // Equal scores: rule id ascending.
    const tie = await writeRules('ev-rank-tie', [{ client_id: 't1' }, { client_id: 't2' }, { client_id: 't3' }]);
    for (const id of Object.values(tie)) await setState('ev-rank-tie', id, 'active');
    expect(ids((await evaluate({ scope: 'ev-rank-tie' })).body.active)).toEqual(Object.values(tie).sort());
  });

  it('merges the active patches in ascending rank: objects recursively, arrays unioned, a differing scalar is a conflict the higher rank wins', async () => {
    const scope = 'ev-merge';
    const r = await writeRules(scope, [
      { client_id: 'high', slots: { priority: 1, if: { intent: 'm' }, then: { output: { format: 'json', strict: true }, extensions: { tags: ['a', 'b'], cfg: { x: 1 }, same: 'v' } } } },
      { client_id: 'low', slots: { if: { intent: 'm' }, then: { output: { format: 'text' }, extensions: { tags: ['b', 'c'], cfg: { y: 2 }, same: 'v' } } } },
    ]);
    const high = await setState(scope, r.high!, 'active');
    const low = await setState(scope, r.low!, 'active');
    const res = await evaluate({ scope, context: { intent: 'm' } });
    expect(res.body.applied).toEqual({
      policy: { output: { format: 'json', strict: true }, extensions: { tags: ['b', 'c', 'a'], cfg: { y: 2, x: 1 }, same: 'v' }, tool: {} },
      sources: [
        { rule_node_id: r.low, state: 'active', commit_id: low.commit_id, touched_paths: ['extensions.cfg.y', 'extensions.same', 'extensions.tags', 'output.format'], rank: { score: 1, evidence_score: 0, priority: 0, weight: 1, specificity: 1 } },
        { rule_node_id: r.high, state: 'active', commit_id: high.commit_id, touched_paths: ['extensions.cfg.x', 'extensions.same', 'extensions.tags', 'output.format', 'output.strict'], rank: { score: 1001, evidence_score: 0, priority: 1, weight: 1, specificity: 1 } },
      ],
      conflicts: [{ path: 'output.format', winner_rule_node_id: r.high }],
      conflict_explain: [{ path: 'output.format', winner: { rule_node_id: r.high, score: 1001, priority: 1, weight: 1, evidence_score: 0, specificity: 1 }, losers: [{ rule_node_id: r.low, score: 1 }], reason: expect.any(String) }],
      tool_explain: { notes: [expect.any(String)], contributions: [], winners: { prefer_by_tool: {}, deny_by_tool: {} }, conflicts: [] },
      shadow_policy: { tool: {} },
      shadow_sources: [],
      shadow_conflicts: [],
      shadow_conflict_explain: [],
      shadow_tool_explain: { notes: [expect.any(String)], contributions: [], winners: { prefer_by_tool: {}, deny_by_tool: {} }, conflicts: [] },
    });
  });

  it('computes the tool policy: allow = intersection (sorted by ICU root collation), deny = union, prefer by descending rank; explained', async () => {
    const scope = 'ev-tools';
    const r = await writeRules(scope, [
      { client_id: 't1', slots: { priority: 2, if: { intent: 't' }, then: { tool: { allow: ['x', 'y', 'z', 'tool_a', 'Tool_B'], deny: ['tool2'], prefer: ['y', 'x'] } } } },
      { client_id: 't2', slots: { priority: 1, if: { intent: 't' }, then: { tool: { allow: ['y', 'z', 'x', 'tool_a', 'Tool_B', 'tool-c'], deny: ['tool_a', 'Tool_B'], prefer: ['z', 'y'] } } } },
      { client_id: 't3', slots: { if: { intent: 't' }, then: { tool: { deny: ['tool-c', 'toolb'], prefer: ['x'] } } } },
    ]);
    for (const id of Object.values(r)) await setState(scope, id, 'active');
    const res = await evaluate({ scope, context: { intent: 't' } });
    expect(res.body.applied.policy).toEqual({ tool: { allow: ['tool_a', 'Tool_B', 'x', 'y', 'z'], deny: ['tool_a', 'Tool_B', 'tool-c', 'tool2', 'toolb'], prefer: ['y', 'x', 'z'] } });
    const te = res.body.applied.tool_explain;
    expect(te.contributions).toEqual([
      { rule_node_id: r.t1, score: 2001, evidence_score: 0, priority: 2, weight: 1, specificity: 1, allow_n: 5, deny_n: 1, prefer_n: 2, first_prefer: 'y' },
      { rule_node_id: r.t2, score: 1001, evidence_score: 0, priority: 1, weight: 1, specificity: 1, allow_n: 6, deny_n: 2, prefer_n: 2, first_prefer: 'z' },
      { rule_node_id: r.t3, score: 1, evidence_score: 0, priority: 0, weight: 1, specificity: 1, allow_n: 0, deny_n: 2, prefer_n: 1, first_prefer: 'x' },
    ]);
    expect(te.winners).toEqual({ prefer_by_tool: { y: r.t1, x: r.t1, z: r.t2 }, deny_by_tool: { tool2: r.t1, tool_a: r.t2, Tool_B: r.t2, 'tool-c': r.t3, toolb: r.t3 } });
    expect(te.conflicts.map((c: { code: string }) => c.code)).toEqual(['allow_intersection', 'prefer_competing_top_choice']);
    expect(te.conflicts[1]).toMatchObject({ code: 'prefer_competing_top_choice', message: expect.any(String), winner_rule_node_id: r.t1 });
    expect(te.notes.length).toBeGreaterThan(0);
    // Merging alone would have unioned the allow lists: the override replaced policy.tool, and
    // the scalar-conflict list does not report tool lists.
    expect(res.body.applied.conflicts).toEqual([]);

    // An empty intersection gives allow: [] and is reported; a single allow list is still an "intersection".
    const e = await writeRules('ev-tools-empty', [
      { client_id: 'e1', slots: { then: { tool: { allow: ['a'] } } } },
      { client_id: 'e2', slots: { then: { tool: { allow: ['b'] } } } },
    ]);
    await setState('ev-tools-empty', e.e1!, 'active');
    const single = await evaluate({ scope: 'ev-tools-empty' });
    expect(single.body.applied.policy).toEqual({ tool: { allow: ['a'] } });
    expect(single.body.applied.tool_explain.conflicts.map((c: { code: string }) => c.code)).toEqual(['allow_intersection']);
    await setState('ev-tools-empty', e.e2!, 'active');
    const empty = await evaluate({ scope: 'ev-tools-empty' });
    expect(empty.body.applied.policy).toEqual({ tool: { allow: [] } });
    expect(empty.body.applied.tool_explain.conflicts.map((c: { code: string }) => c.code)).toEqual(['allow_intersection', 'allow_intersection_empty']);
  });

  it('checks and fills the context identity from an agent-bound key (§1.4 policy): a contradicting agent or team is 403 identity_mismatch', async () => {
    const scope = 'ev-identity';
    const before = await env.counts();
    const cases: [KeyName, Record<string, unknown>, string, string, string][] = [
      ['agentA', { context: { agent: { id: 'agent-b' } } }, 'context.agent.id', 'agent-b', 'agent-a'],
      ['agentA', { context: { agent_id: ' agent-b ' } }, 'context.agent_id', 'agent-b', 'agent-a'],
      ['teamX', { context: { team_id: 'team-y' } }, 'context.team_id', 'team-y', 'team-x'],
      ['teamX', { context: { agent: { team_id: 'team-y' } } }, 'context.agent.team_id', 'team-y', 'team-x'],
    ];
    for (const [key, body, field, provided, expected] of cases) {
      const res = await evaluate({ scope, ...body }, key);
      expectContractError(res, 403, 'identity_mismatch');
      expect(res.body.details).toEqual({ field, provided, expected });
    }
    expectContractError(await evaluate({ scope, tenant_id: 'contract-b' }), 403, 'identity_mismatch');
    expectContractError(await env.api.post('/v1/memory/rules/evaluate').set(env.as('plain')).set('x-tenant-id', 'contract-b').send({ scope }), 403, 'identity_mismatch');
    // The same identity, spelled out, is accepted; a blank one is filled.
    const same = await evaluate({ scope, context: { agent: { id: ' agent-a ' }, agent_id: 'agent-a' } }, 'agentA');
    expect(same.status).toBe(200);
    expect(same.body.agent_visibility_summary.agent).toEqual({ id: 'agent-a', team_id: null });
    const blank = await evaluate({ scope, context: { agent: { id: '  ' } } }, 'agentA');
    expect(blank.body.agent_visibility_summary).toMatchObject({ agent: { id: 'agent-a' }, lane: { applied: true, reason: 'enforced_agent_only' } });
    expect(await env.counts()).toEqual(before);
  });

  it('refuses each client mistake with a 4xx in the contract shape, never a 5xx, and writes nothing; recall-class quota; needs memory:read', async () => {
    const raw = (body: string) => env.api.post('/v1/memory/rules/evaluate').set(env.as('plain')).send(body);
    const before = await env.counts();
    const cases: [string, () => ReturnType<typeof evaluate>, number, string][] = [
      ['include_shadow not a boolean', () => evaluate({ include_shadow: 'yes' }), 400, 'invalid_request'],
      ['include_shadow null', () => evaluate({ include_shadow: null }), 400, 'invalid_request'],
      ['limit 0', () => evaluate({ limit: 0 }), 400, 'invalid_request'],
      ['limit 201', () => evaluate({ limit: 201 }), 400, 'invalid_request'],
      ['limit not an integer', () => evaluate({ limit: 1.5 }), 400, 'invalid_request'],
      ['limit as a string', () => evaluate({ limit: '5' }), 400, 'invalid_request'],
      ['scope not a string', () => evaluate({ scope: 7 }), 400, 'invalid_request'],
      ['an empty scope', () => evaluate({ scope: '   ' }), 400, 'invalid_scope'],
      ['an infinite limit', () => raw('{"limit":1e999}'), 400, 'invalid_request'],
      ['an infinite number in the context', () => raw('{"context":{"n":1e999}}'), 400, 'invalid_request'],
      ['NaN', () => raw('{"limit":NaN}'), 400, 'invalid_request'],
      ['JSON nested 200 levels deep', () => evaluate({ context: deepObject(200) }), 400, 'invalid_request'],
      ['a NUL character', () => raw('{"context":{"k":"a\\u0000b"}}'), 400, 'invalid_request'],
      ['malformed JSON', () => raw('{"context":'), 400, 'invalid_request'],
      ['a body that is an array', () => env.api.post('/v1/memory/rules/evaluate').set(env.as('plain')).send([1]), 400, 'invalid_request'],
      ['a 6 MiB body', () => evaluate({ context: { big: 'x'.repeat(6 * 1024 * 1024) } }), 413, 'payload_too_large'],
    ];
    await expectEachRefused(cases);
    expectContractError(await env.api.post('/v1/memory/rules/evaluate').set('Content-Type', 'application/json').send({}), 401, 'unauthorized');
    expectContractError(await evaluate({}, 'writeOnly'), 403, 'forbidden');
    expect(await env.counts()).toEqual(before);
    // Recall class: the tenant's recall burst, not the write burst.
    const quota = (await env.api.get(`/v1/admin/control/tenants/${TENANT}/quota`).set(env.t.auth).expect(200)).body.values as { recall_burst: number; write_burst: number };
    expect(quota.recall_burst).not.toBe(quota.write_burst);
    const ok = await evaluate({}, 'readOnly');
    expect(ok.status).toBe(200);
    expect(ok.headers['x-ratelimit-limit']).toBe(String(quota.recall_burst));
    // Read-only: an evaluation stores nothing.
    expect(await env.counts()).toEqual(before);
  });
});
