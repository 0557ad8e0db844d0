import { injectPolicyIdentity } from '../../src/data-plane/memory/policy/context';
import {
  compareToolNames,
  computeToolPolicy,
  contextIdentity,
  evaluateRules,
  forRecall,
  forSelect,
  rankOf,
  type EvaluateInput,
} from '../../src/data-plane/memory/policy/evaluate';
import type { LoadedRule, Rank } from '../../src/data-plane/memory/policy/types';

const BOOKING = '111c92ba-d609-575a-9393-38894dcc91cf';
const REFUND = '5c0d2f0e-7a41-5d7b-9a34-0c1e2d3f4a5b';
const COMMIT = 'b2d7e82d-0a75-4eb1-85fa-3b2216a773cf';

/** A rule as the repository loads it: active, global, shared, unconditional, empty patch unless overridden. */
function rule(id: string, over: Partial<LoadedRule> = {}): LoadedRule {
  return {
    rule_node_id: id,
    state: 'active',
    rule_scope: 'global',
    target_agent_id: null,
    target_team_id: null,
    if_json: {},
    then_json: {},
    exceptions_json: [],
    positive_count: 0,
    negative_count: 0,
    commit_id: COMMIT,
    updated_at: '2026-02-23T08:00:00.000Z',
    summary: null,
    node_slots: {},
    memory_lane: 'shared',
    owner_agent_id: null,
    owner_team_id: null,
    ...over,
  };
}

/** The two rules of the §2.11 / §2.12 examples. */
const bookingRule = rule(BOOKING, {
  summary: 'Bookings must be answered as JSON',
  if_json: { intent: 'booking' },
  then_json: { output: { format: 'json' }, tool: { prefer: ['flight_search'] } },
  positive_count: 3,
  negative_count: 1,
});
const refundRule = rule(REFUND, { summary: 'Refunds go to a human', if_json: { intent: 'refund' }, then_json: { tool: { deny: ['web_browse'] } } });

const evaluate = (rules: readonly LoadedRule[], context: unknown, over: Partial<EvaluateInput> = {}) => evaluateRules({ rules, context, includeShadow: false, ...over }).response;

/** Ids that sort in a known order: a < b < c < d. */
const A = 'aaaaaaaa-0000-5000-8000-000000000000';
const B = 'bbbbbbbb-0000-5000-8000-000000000000';
const C = 'cccccccc-0000-5000-8000-000000000000';
const D = 'dddddddd-0000-5000-8000-000000000000';

describe('rules/evaluate (contract §5.5, §5.6)', () => {
  it('given the §2.11 request, then the response is exactly the example (tenant_id and scope added by the caller)', () => {
    const example = JSON.parse(`{ "scope": "travel-desk", "tenant_id": "default", "considered": 2, "matched": 1, "skipped_invalid_then": 0, "invalid_then_sample": [],
  "active": [ { "rule_node_id": "111c92ba-d609-575a-9393-38894dcc91cf", "state": "active", "rule_scope": "global",
                "target_agent_id": null, "target_team_id": null, "summary": "Bookings must be answered as JSON",
                "if_json": { "intent": "booking" }, "then_json": { "output": { "format": "json" }, "tool": { "prefer": ["flight_search"] } },
                "exceptions_json": [], "stats": { "positive": 3, "negative": 1 },
                "rank": { "score": 201, "evidence_score": 2, "priority": 0, "weight": 1, "specificity": 1 },
                "match_detail": { "condition_paths": ["intent"], "condition_path_count": 1 },
                "commit_id": "b2d7e82d-0a75-4eb1-85fa-3b2216a773cf" } ],
  "shadow": [],
  "agent_visibility_summary": { "agent": { "id": "agent-planner", "team_id": null },
    "rule_scope": { "scanned": 2, "filtered_by_scope": 0, "filtered_by_lane": 0, "filtered_by_condition": 1, "skipped_invalid_then": 0, "matched_active": 1, "matched_shadow": 0 },
    "lane": { "applied": true, "reason": "enforced_agent_only", "legacy_unowned_private_visible": 0, "legacy_unowned_private_detected": 0 } },
  "applied": { "policy": { "output": { "format": "json" }, "tool": { "prefer": ["flight_search"] } },
    "sources": [ { "rule_node_id": "111c92ba-d609-575a-9393-38894dcc91cf", "state": "active", "commit_id": "b2d7e82d-0a75-4eb1-85fa-3b2216a773cf",
                   "touched_paths": ["output.format", "tool.prefer"], "rank": { "score": 201, "evidence_score": 2, "priority": 0, "weight": 1, "specificity": 1 } } ],
    "conflicts": [], "conflict_explain": [],
    "tool_explain": { "notes": ["no rule restricts tool.allow"],
      "contributions": [ { "rule_node_id": "111c92ba-d609-575a-9393-38894dcc91cf", "score": 201, "evidence_score": 2, "priority": 0, "weight": 1, "specificity": 1, "allow_n": 0, "deny_n": 0, "prefer_n": 1, "first_prefer": "flight_search" } ],
      "winners": { "prefer_by_tool": { "flight_search": "111c92ba-d609-575a-9393-38894dcc91cf" }, "deny_by_tool": {} }, "conflicts": [] } } }`) as Record<string, unknown>;
    delete example.scope;
    delete example.tenant_id;

    const response = evaluate([refundRule, bookingRule], { intent: 'booking', provider: 'openai', agent: { id: 'agent-planner' } });

    // Member order too: the serialised response is the example's text.
    expect(JSON.stringify(response)).toBe(JSON.stringify(example));
  });

  describe('scope filter (step 2)', () => {
    const agentRule = rule(A, { rule_scope: 'agent', target_agent_id: 'agent-planner' });
    const teamRule = rule(B, { rule_scope: 'team', target_team_id: 'team-travel' });
    const targetless = rule(C, { rule_scope: 'agent', target_agent_id: null });

    it('given an agent-scoped rule, then it passes only for that agent (context.agent.id, else context.agent_id)', () => {
      expect(evaluate([agentRule], { agent: { id: 'agent-planner' } }).matched).toBe(1);
      expect(evaluate([agentRule], { agent_id: 'agent-planner' }).matched).toBe(1);
      expect(evaluate([agentRule], { agent: { id: 'other' }, agent_id: 'agent-planner' }).matched).toBe(0);
      expect(evaluate([agentRule], {}).agent_visibility_summary.rule_scope.filtered_by_scope).toBe(1);
    });

    it('given a team-scoped rule, then it passes only for that team (context.agent.team_id, else context.team_id)', () => {
      expect(evaluate([teamRule], { agent: { team_id: 'team-travel' } }).matched).toBe(1);
      expect(evaluate([teamRule], { team_id: 'team-travel' }).matched).toBe(1);
      expect(evaluate([teamRule], { team_id: 'team-other' }).matched).toBe(0);
    });

    it('given a scoped rule without a target, then it never passes (two absent ids do not match)', () => {
      expect(evaluate([targetless], {}).agent_visibility_summary.rule_scope.filtered_by_scope).toBe(1);
    });
  });

  describe('lane filter (step 3)', () => {
    const privateOfPlanner = rule(A, { memory_lane: 'private', owner_agent_id: 'agent-planner' });
    const privateOfOther = rule(B, { memory_lane: 'private', owner_agent_id: 'agent-other' });
    const privateOfTeam = rule(C, { memory_lane: 'private', owner_team_id: 'team-travel' });
    const unowned = rule(D, { memory_lane: 'private' });
    const all = [privateOfPlanner, privateOfOther, privateOfTeam, unowned];

    it('given an agent in the context, then only shared rules and the agent\'s own private rules are visible', () => {
      const r = evaluate(all, { agent: { id: 'agent-planner' } });
      expect(r.active.map((x) => x.rule_node_id)).toEqual([A]);
      expect(r.agent_visibility_summary.rule_scope.filtered_by_lane).toBe(3);
      expect(r.agent_visibility_summary.lane).toEqual({ applied: true, reason: 'enforced_agent_only', legacy_unowned_private_visible: 0, legacy_unowned_private_detected: 1 });
    });

    it('given an agent and a team, then team-owned private rules are visible too', () => {
      const r = evaluate(all, { agent: { id: 'agent-planner', team_id: 'team-travel' } });
      expect(r.active.map((x) => x.rule_node_id)).toEqual([A, C]);
      expect(r.agent_visibility_summary.lane.reason).toBe('enforced_agent_team');
      expect(evaluate(all, { team_id: 'team-travel' }).agent_visibility_summary.lane.reason).toBe('enforced_team_only');
    });

    it('given no agent and no team, then the lane is not enforced and private rules of every owner are visible (original, §10 #5)', () => {
      const r = evaluate(all, { intent: 'x' });
      expect(r.matched).toBe(4);
      expect(r.agent_visibility_summary.lane).toEqual({ applied: false, reason: 'missing_agent_context', legacy_unowned_private_visible: 0, legacy_unowned_private_detected: 0 });
    });
  });

  describe('condition and patch (steps 4-5)', () => {
    it('given a null or empty if, then the rule always matches; an exception vetoes it', () => {
      const r = evaluate([rule(A, { if_json: null }), rule(B), rule(C, { exceptions_json: [{ intent: 'booking' }] })], { intent: 'booking' });
      expect(r.active.map((x) => x.rule_node_id)).toEqual([A, B]);
      expect(r.agent_visibility_summary.rule_scope.filtered_by_condition).toBe(1);
    });

    it('given a context that is not an object, then it is matched as {}', () => {
      const r = evaluate([rule(A, { if_json: { x: { $exists: false } } }), rule(B, { if_json: ['a'] })], ['a']);
      expect(r.active.map((x) => x.rule_node_id)).toEqual([A]);
    });

    it('given matched rules with an invalid then, then they are skipped, counted and sampled (at most 5), shadow ones included when shadow output is off', () => {
      const bad = Array.from({ length: 6 }, (_, i) => rule(`0000000${i}-0000-5000-8000-000000000000`, { then_json: { tool: { allow: [''] } }, state: i === 0 ? 'shadow' : 'active' }));
      const r = evaluate([...bad, rule(A)], {});
      expect(r.skipped_invalid_then).toBe(6);
      expect(r.invalid_then_sample).toHaveLength(5);
      expect(r.invalid_then_sample[0]).toEqual({ rule_node_id: '00000000-0000-5000-8000-000000000000', state: 'shadow', commit_id: COMMIT });
      expect(r.agent_visibility_summary.rule_scope.skipped_invalid_then).toBe(6);
      expect(r.matched).toBe(1);
    });

    it('given a rule whose condition runs out of budget, then it is filtered by condition and reported', () => {
      const big = Array.from({ length: 20_000 }, (_, i) => i);
      const out = evaluateRules({ rules: [rule(A, { if_json: { xs: [-1] } })], context: { xs: big }, includeShadow: false });
      expect(out.response.agent_visibility_summary.rule_scope.filtered_by_condition).toBe(1);
      expect(out.diagnostics.budget_exhausted_rule_ids).toEqual([A]);
    });

    it('given the evaluation-wide budget is spent, then later conditions are non-matches while unconditional rules still match', () => {
      const rules = [rule(A, { if_json: { n: 1 } }), rule(B, { if_json: { n: 1 } }), rule(C)];
      const out = evaluateRules({ rules, context: { n: 1 }, includeShadow: false, totalLimits: { steps: 4, regexWork: 0 } });
      expect(out.response.active.map((x) => x.rule_node_id)).toEqual([A, C]);
      expect(out.diagnostics.budget_exhausted_rule_ids).toEqual([B]);
    });
  });

  describe('rank (§5.6)', () => {
    const rank = (over: Partial<LoadedRule>): Rank => rankOf(rule(A, over)).rank;

    it('score = priority*1000 + (pos-neg)*100*weight + specificity', () => {
      expect(rank({ node_slots: { rule_meta: { priority: 2, weight: 0.5 } }, positive_count: 5, negative_count: 1, if_json: { a: 1, b: { c: 2 } } })).toEqual({
        score: 2202,
        evidence_score: 4,
        priority: 2,
        weight: 0.5,
        specificity: 2,
      });
    });

    it('priority: rule_meta.priority else top-level priority, truncated, clamped to -100..100, default 0', () => {
      expect(rank({ node_slots: { priority: 7 } }).priority).toBe(7);
      expect(rank({ node_slots: { rule_meta: { priority: 3 }, priority: 7 } }).priority).toBe(3);
      expect(rank({ node_slots: { rule_meta: { priority: null }, priority: 7 } }).priority).toBe(7);
      expect(rank({ node_slots: { priority: 500 } }).priority).toBe(100);
      expect(rank({ node_slots: { priority: -3.7 } }).priority).toBe(-3);
      expect(rank({ node_slots: { priority: '12' } }).priority).toBe(12);
      expect(rank({ node_slots: { priority: 'high' } }).priority).toBe(0);
      expect(Object.is(rank({ node_slots: { priority: -0.4 } }).priority, 0)).toBe(true);
    });

    it('weight: rule_meta.weight else top-level weight, clamped to 0..2, default 1', () => {
      expect(rank({ node_slots: { weight: 5 } }).weight).toBe(2);
      expect(rank({ node_slots: { rule_meta: { weight: -1 } } }).weight).toBe(0);
      expect(rank({ node_slots: { weight: [] } }).weight).toBe(1);
      expect(rank({}).weight).toBe(1);
    });

    it('given matches, then active is sorted by score descending, then rule id ascending', () => {
      const r = evaluate([rule(C, { positive_count: 1 }), rule(B), rule(A), rule(D, { node_slots: { priority: 1 } })], {});
      expect(r.active.map((x) => [x.rule_node_id, x.rank.score])).toEqual([
        [D, 1000],
        [C, 100],
        [A, 0],
        [B, 0],
      ]);
    });
  });

  describe('merging (§5.6)', () => {
    const low = rule(A, { then_json: { output: { format: 'text', strict: true }, extensions: { ui: { theme: 'dark', tags: ['a', 'b'] } } } });
    const mid = rule(B, { positive_count: 1, then_json: { output: { format: 'markdown' }, extensions: { ui: { tags: ['b', 'c'] } } } });
    const high = rule(C, { node_slots: { priority: 1 }, then_json: { output: { format: 'json' }, extensions: { ui: 'flat' } } });

    it('given conflicting scalars, then rules merge in ascending score and the highest rank wins, each differing replacement a conflict', () => {
      const r = evaluate([high, low, mid], {});
      expect(r.applied.sources.map((s) => s.rule_node_id)).toEqual([A, B, C]);
      expect(r.applied.policy).toEqual({ output: { format: 'json', strict: true }, extensions: { ui: 'flat' }, tool: {} });
      expect(r.applied.conflicts).toEqual([
        { path: 'output.format', winner_rule_node_id: B },
        { path: 'output.format', winner_rule_node_id: C },
        { path: 'extensions.ui', winner_rule_node_id: C },
      ]);
    });

    it('given objects and arrays, then objects merge recursively and arrays are unioned (first occurrences, earlier rules first)', () => {
      const r = evaluate([low, mid], {});
      expect(r.applied.policy).toEqual({ output: { format: 'markdown', strict: true }, extensions: { ui: { theme: 'dark', tags: ['a', 'b', 'c'] } }, tool: {} });
    });

    it('given equal values, then no conflict', () => {
      const r = evaluate([rule(A, { then_json: { output: { format: 'json' } } }), rule(B, { then_json: { output: { format: 'json' } } })], {});
      expect(r.applied.conflicts).toEqual([]);
    });

    it('conflict_explain names the winner\'s rank and up to 5 other sources touching that exact path, by score', () => {
      const r = evaluate([high, low, mid], {});
      expect(r.applied.conflict_explain[1]).toEqual({
        path: 'output.format',
        winner: { rule_node_id: C, score: 1000, priority: 1, weight: 1, evidence_score: 0, specificity: 0 },
        losers: [
          { rule_node_id: B, score: 100 },
          { rule_node_id: A, score: 0 },
        ],
        reason: expect.any(String),
      });
      expect(r.applied.conflict_explain[2]!.losers).toEqual([]); // the others touched extensions.ui.*, not extensions.ui
    });

    it('touched_paths are the sorted leaf paths of the patch, "$" for an empty one', () => {
      const r = evaluate([low, rule(D, { positive_count: 9 })], {});
      expect(r.applied.sources.map((s) => s.touched_paths)).toEqual([['extensions.ui.tags', 'extensions.ui.theme', 'output.format', 'output.strict'], ['$']]);
    });
  });

  describe('tool policy override (§5.6)', () => {
    it('allow is the intersection of the allow lists, sorted as localeCompare sorts (tool_a before tool2)', () => {
      const r = evaluate([rule(A, { then_json: { tool: { allow: ['tool2', 'tool_a', 'Tool-b', 'x'] } } }), rule(B, { positive_count: 1, then_json: { tool: { allow: ['tool2', 'Tool-b', 'tool_a'] } } })], {});
      expect(r.applied.policy.tool).toEqual({ allow: ['tool_a', 'Tool-b', 'tool2'] });
      expect(r.applied.tool_explain.conflicts).toEqual([
        {
          code: 'allow_intersection',
          message: expect.any(String),
          details: [
            { rule_node_id: B, score: 100, allow_n: 3 },
            { rule_node_id: A, score: 0, allow_n: 4 },
          ],
          winner_rule_node_id: null,
        },
      ]);
      expect(['tool2', 'tool_a'].sort(compareToolNames)).toEqual(['tool_a', 'tool2']);
    });

    it('given disjoint allow lists, then allow is [] and both allow conflicts are reported', () => {
      const r = evaluate([rule(A, { then_json: { tool: { allow: ['a'] } } }), rule(B, { then_json: { tool: { allow: ['b'] } } })], {});
      expect(r.applied.policy.tool).toEqual({ allow: [] });
      expect(r.applied.tool_explain.conflicts.map((c) => c.code)).toEqual(['allow_intersection', 'allow_intersection_empty']);
    });

    it('given no allow list, then allow is absent and tool is {} when nothing else applies', () => {
      expect(evaluate([rule(A)], {}).applied.policy).toEqual({ tool: {} });
      expect(evaluate([], {}).applied).toEqual({
        policy: { tool: {} },
        sources: [],
        conflicts: [],
        conflict_explain: [],
        tool_explain: { notes: ['no rule restricts tool.allow'], contributions: [], winners: { prefer_by_tool: {}, deny_by_tool: {} }, conflicts: [] },
      });
    });

    it('deny is the union, sorted; prefer the concatenation in descending score, de-duplicated; winners by rank', () => {
      const r = evaluate(
        [
          rule(A, { then_json: { tool: { deny: ['z_tool', 'shell'], prefer: ['web', 'maps'] } } }),
          rule(B, { positive_count: 2, then_json: { tool: { deny: ['shell'], prefer: ['flights', 'web'] } } }),
        ],
        {},
      );
      expect(r.applied.policy.tool).toEqual({ deny: ['shell', 'z_tool'], prefer: ['flights', 'web', 'maps'] });
      expect(r.applied.tool_explain.winners).toEqual({ prefer_by_tool: { flights: B, web: B, maps: A }, deny_by_tool: { shell: B, z_tool: A } });
      expect(r.applied.tool_explain.conflicts).toEqual([{ code: 'prefer_competing_top_choice', message: expect.any(String), details: expect.any(Array), winner_rule_node_id: B }]);
      expect(r.applied.tool_explain.contributions.map((c) => [c.rule_node_id, c.deny_n, c.prefer_n, c.first_prefer])).toEqual([
        [B, 1, 2, 'flights'],
        [A, 2, 2, 'web'],
      ]);
    });

    it('computeToolPolicy ignores an empty allow list and rules without a tool part', () => {
      const rank = (score: number): Rank => ({ score, evidence_score: 0, priority: 0, weight: 1, specificity: 0 });
      const out = computeToolPolicy([
        { rule_node_id: A, rank: rank(1), tool: { allow: [] } },
        { rule_node_id: B, rank: rank(2) },
      ]);
      expect(out.tool).toEqual({});
      expect(out.explain.contributions).toEqual([]);
    });
  });

  describe('shadow output', () => {
    const shadowRule = rule(B, { state: 'shadow', then_json: { tool: { deny: ['web_browse'] } } });

    it('given include_shadow, then shadow matches are listed and the shadow_* members are added', () => {
      const r = evaluate([bookingRule, shadowRule], { intent: 'booking' }, { includeShadow: true });
      expect(r.matched).toBe(2);
      expect(r.shadow.map((x) => x.rule_node_id)).toEqual([B]);
      expect(r.agent_visibility_summary.rule_scope.matched_shadow).toBe(1);
      expect(r.applied.policy.tool).toEqual({ prefer: ['flight_search'] });
      expect(r.applied.shadow_policy).toEqual({ tool: { deny: ['web_browse'] } });
      expect(Object.keys(r.applied)).toEqual(['policy', 'sources', 'conflicts', 'conflict_explain', 'tool_explain', 'shadow_policy', 'shadow_sources', 'shadow_conflicts', 'shadow_conflict_explain', 'shadow_tool_explain']);
    });

    it('given no include_shadow, then shadow rules are evaluated but neither listed nor merged', () => {
      const r = evaluate([bookingRule, shadowRule], { intent: 'booking' });
      expect(r.matched).toBe(1);
      expect(r.shadow).toEqual([]);
      expect(r.agent_visibility_summary.rule_scope.matched_shadow).toBe(0);
      expect(r.applied.shadow_policy).toBeUndefined();
    });
  });

  describe('projections', () => {
    const r = evaluate([bookingRule], { intent: 'booking' });

    it('forRecall drops active, shadow and the visibility summary (§2.3)', () => {
      expect(Object.keys(forRecall(r))).toEqual(['considered', 'matched', 'skipped_invalid_then', 'invalid_then_sample', 'applied']);
    });

    it('forSelect keeps the visibility summary (§6.1 step 8)', () => {
      expect(Object.keys(forSelect(r))).toEqual(['considered', 'matched', 'skipped_invalid_then', 'invalid_then_sample', 'agent_visibility_summary', 'applied']);
    });
  });

  describe('identity injection on the context (§1.4, policy routes)', () => {
    it('given no principal, then the context is returned as sent, absent included', () => {
      expect(injectPolicyIdentity(undefined, null)).toEqual({ ok: true, context: undefined });
      expect(injectPolicyIdentity('text', null)).toEqual({ ok: true, context: 'text' });
    });

    it('given a principal, then a non-object context becomes {} and the missing ids are filled', () => {
      expect(injectPolicyIdentity('text', { agentId: 'agent-planner', teamId: 'team-travel' })).toEqual({
        ok: true,
        context: { agent: { id: 'agent-planner', team_id: 'team-travel' }, agent_id: 'agent-planner', team_id: 'team-travel' },
      });
      expect(injectPolicyIdentity([1], { agentId: null, teamId: null })).toEqual({ ok: true, context: {} });
    });

    it('given matching ids (compared trimmed), then they are kept as sent and only the missing ones filled', () => {
      const out = injectPolicyIdentity({ intent: 'booking', agent: { id: ' agent-planner ' } }, { agentId: 'agent-planner', teamId: null });
      expect(out).toEqual({ ok: true, context: { intent: 'booking', agent: { id: ' agent-planner ' }, agent_id: 'agent-planner' } });
    });

    it('given a contradicting agent or team, then a mismatch names the field that was read', () => {
      const p = { agentId: 'agent-planner', teamId: 'team-travel' };
      expect(injectPolicyIdentity({ agent: { id: 'intruder' } }, p)).toEqual({ ok: false, mismatch: { field: 'context.agent.id', provided: 'intruder', expected: 'agent-planner' } });
      expect(injectPolicyIdentity({ agent_id: 'intruder' }, p)).toEqual({ ok: false, mismatch: { field: 'context.agent_id', provided: 'intruder', expected: 'agent-planner' } });
      expect(injectPolicyIdentity({ team_id: 'other' }, p)).toEqual({ ok: false, mismatch: { field: 'context.team_id', provided: 'other', expected: 'team-travel' } });
      expect(injectPolicyIdentity({ agent: { team_id: 'other' } }, p)).toEqual({ ok: false, mismatch: { field: 'context.agent.team_id', provided: 'other', expected: 'team-travel' } });
    });

    it('given the key\'s agent in agent.id but another in agent_id, then a mismatch on agent_id (no second identity a rule could read; hosted)', () => {
      const p = { agentId: 'agent-planner', teamId: 'team-travel' };
      expect(injectPolicyIdentity({ agent: { id: 'agent-planner' }, agent_id: 'admin-bot' }, p)).toEqual({ ok: false, mismatch: { field: 'context.agent_id', provided: 'admin-bot', expected: 'agent-planner' } });
      expect(injectPolicyIdentity({ agent: { team_id: 'team-travel' }, team_id: 'root' }, p)).toEqual({ ok: false, mismatch: { field: 'context.team_id', provided: 'root', expected: 'team-travel' } });
    });

    it('given a blank or non-string id, then it is filled, so evaluation enforces the lane for the principal', () => {
      const out = injectPolicyIdentity({ agent: { id: 42 }, agent_id: '  ' }, { agentId: 'agent-planner', teamId: null });
      expect(out.ok && contextIdentity(out.context)).toEqual({ agentId: 'agent-planner', teamId: null });
      const hidden = rule(A, { memory_lane: 'private', owner_agent_id: 'agent-other' });
      expect(out.ok && evaluate([hidden], out.context).matched).toBe(0);
    });

    it('given a non-object context.agent, then it is left alone and the top-level ids carry the identity', () => {
      expect(injectPolicyIdentity({ agent: 'planner' }, { agentId: 'agent-planner', teamId: null })).toEqual({ ok: true, context: { agent: 'planner', agent_id: 'agent-planner' } });
    });

    it('given a principal without agent or team, then nothing is checked or filled', () => {
      expect(injectPolicyIdentity({ agent: { id: 'anyone' } }, { agentId: null, teamId: null })).toEqual({ ok: true, context: { agent: { id: 'anyone' } } });
    });
  });
});
