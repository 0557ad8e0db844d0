import { canonicalJson, sha256Hex } from '../../src/platform/event-store/canonical-json';
import { evaluateRules } from '../../src/data-plane/memory/policy/evaluate';
import {
  applyToolPolicy,
  contextSha256,
  decisionFields,
  normalizeCandidates,
  policySha256,
  selectTools,
  sourceRuleIds,
  summarizeToolConflicts,
} from '../../src/data-plane/memory/policy/select';
import type { LoadedRule, ToolExplain } from '../../src/data-plane/memory/policy/types';

const BOOKING = '111c92ba-d609-575a-9393-38894dcc91cf';
const COMMIT = 'b2d7e82d-0a75-4eb1-85fa-3b2216a773cf';
const A = 'aaaaaaaa-0000-5000-8000-000000000000';
const B = 'bbbbbbbb-0000-5000-8000-000000000000';

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

const bookingRule = rule(BOOKING, {
  summary: 'Bookings must be answered as JSON',
  if_json: { intent: 'booking' },
  then_json: { output: { format: 'json' }, tool: { prefer: ['flight_search'] } },
  positive_count: 3,
  negative_count: 1,
});
const refundRule = rule('5c0d2f0e-7a41-5d7b-9a34-0c1e2d3f4a5b', { if_json: { intent: 'refund' }, then_json: { tool: { deny: ['web_browse'] } } });

const evaluation = (rules: readonly LoadedRule[], context: unknown = {}, includeShadow = false) => evaluateRules({ rules, context, includeShadow }).response;

describe('tools/select (contract §6.1)', () => {
  describe('given the §2.12 example', () => {
    const context = { intent: 'booking' };
    const evaluated = evaluation([refundRule, bookingRule], context);
    const out = selectTools({ candidates: ['web_browse', 'flight_search', 'flight_search'], evaluation: evaluated, strict: true, includeShadow: false });

    it('then candidates, selection and the rules block are exactly the example', () => {
      const example = JSON.parse(`{ "candidates": ["web_browse", "flight_search"],
  "selection": { "candidates": ["web_browse", "flight_search"], "allowed": ["web_browse", "flight_search"], "denied": [],
                 "preferred": ["flight_search"], "ordered": ["flight_search", "web_browse"], "selected": "flight_search",
                 "fallback": { "applied": false, "reason": "none", "note": "nothing was filtered out", "effective_mode": "deny_only" } },
  "rules": { "considered": 2, "matched": 1, "skipped_invalid_then": 0, "invalid_then_sample": [],
             "agent_visibility_summary": { "agent": { "id": null, "team_id": null },
               "rule_scope": { "scanned": 2, "filtered_by_scope": 0, "filtered_by_lane": 0, "filtered_by_condition": 1, "skipped_invalid_then": 0, "matched_active": 1, "matched_shadow": 0 },
               "lane": { "applied": false, "reason": "missing_agent_context", "legacy_unowned_private_visible": 0, "legacy_unowned_private_detected": 0 } },
             "applied": { "policy": { "output": { "format": "json" }, "tool": { "prefer": ["flight_search"] } },
                          "sources": [ { "rule_node_id": "111c92ba-d609-575a-9393-38894dcc91cf", "state": "active", "commit_id": "b2d7e82d-0a75-4eb1-85fa-3b2216a773cf",
                                         "touched_paths": ["output.format", "tool.prefer"], "rank": { "score": 201, "evidence_score": 2, "priority": 0, "weight": 1, "specificity": 1 } } ],
                          "conflicts": [], "conflict_explain": [],
                          "tool_explain": { "notes": ["no rule restricts tool.allow"],
                            "contributions": [ { "rule_node_id": "111c92ba-d609-575a-9393-38894dcc91cf", "score": 201, "evidence_score": 2, "priority": 0, "weight": 1, "specificity": 1, "allow_n": 0, "deny_n": 0, "prefer_n": 1, "first_prefer": "flight_search" } ],
                            "winners": { "prefer_by_tool": { "flight_search": "111c92ba-d609-575a-9393-38894dcc91cf" }, "deny_by_tool": {} }, "conflicts": [] } },
             "tool_conflicts_summary": [] } }`) as unknown;
      expect(out.ok).toBe(true);
      if (!out.ok) return;
      expect(JSON.stringify({ candidates: out.candidates, selection: out.selection, rules: out.rules })).toBe(JSON.stringify(example));
    });

    it('then the decision records policy_sha256 46159f…6796 and the active source rule ids', () => {
      expect(decisionFields(context, evaluated)).toEqual({
        context_sha256: sha256Hex('{"intent":"booking"}'),
        policy_sha256: '46159fa95ec92d179aea52ac217835086186f7fdfd1a9ea417e6c20860c36796',
        source_rule_ids: [BOOKING],
      });
      expect(policySha256({ output: { format: 'json' }, tool: { prefer: ['flight_search'] } })).toBe('46159fa95ec92d179aea52ac217835086186f7fdfd1a9ea417e6c20860c36796');
    });
  });

  describe('candidates', () => {
    it('are trimmed, emptied ones dropped, duplicates removed keeping the first', () => {
      expect(normalizeCandidates([' a ', 'b', '', '  ', 'a', 'c', 'b'])).toEqual(['a', 'b', 'c']);
    });
  });

  describe('filtering', () => {
    it('denies deny-list candidates and, with a non-empty allow list, those outside it', () => {
      const out = applyToolPolicy(['a', 'b', 'c', 'd'], { allow: ['a', 'b', 'c'], deny: ['b'], prefer: ['c', 'x'] }, true);
      expect(out).toEqual({
        ok: true,
        selection: {
          candidates: ['a', 'b', 'c', 'd'],
          allowed: ['a', 'c'],
          denied: [
            { name: 'b', reason: 'deny_list' },
            { name: 'd', reason: 'not_in_allow_list' },
          ],
          preferred: ['c'],
          ordered: ['c', 'a'],
          selected: 'c',
          fallback: { applied: false, reason: 'none', note: expect.any(String), effective_mode: 'allow_and_deny' },
        },
      });
    });

    it('treats an EMPTY allow list (an empty intersection) as no allow list: nothing is filtered by it (original, §10 #4)', () => {
      const out = applyToolPolicy(['a', 'b'], { allow: [] }, true);
      expect(out.ok && out.selection).toMatchObject({ allowed: ['a', 'b'], denied: [], selected: 'a', fallback: { effective_mode: 'deny_only' } });
    });

    it('given strict and nothing left, then no_tools_allowed with counts and no selection', () => {
      expect(applyToolPolicy(['a', 'a', 'b'], { allow: ['x', 'y'], deny: ['a'] }, true)).toEqual({
        ok: false,
        error: { code: 'no_tools_allowed', message: expect.any(String), details: { candidates: 2, allow: 2, deny: 1 } },
      });
      expect(applyToolPolicy(['a'], { deny: ['a'] }, true)).toMatchObject({ ok: false, error: { details: { candidates: 1, allow: 0, deny: 1 } } });
    });

    it('given non-strict and the allow list filtering everything, then it falls back to deny only', () => {
      const out = applyToolPolicy(['a', 'b', 'c'], { allow: ['x'], deny: ['a'], prefer: ['c'] }, false);
      expect(out.ok && out.selection).toEqual({
        candidates: ['a', 'b', 'c'],
        allowed: ['b', 'c'],
        denied: [{ name: 'a', reason: 'deny_list' }],
        preferred: ['c'],
        ordered: ['c', 'b'],
        selected: 'c',
        fallback: { applied: true, reason: 'allowlist_filtered_all', note: expect.any(String), effective_mode: 'deny_only' },
      });
    });

    it('given non-strict and the deny list filtering everything, then nothing is selected', () => {
      const out = applyToolPolicy(['a', 'b'], { allow: ['x'], deny: ['a', 'b'] }, false);
      expect(out.ok && out.selection).toMatchObject({ allowed: [], ordered: [], selected: null, fallback: { applied: true, reason: 'deny_filtered_all', effective_mode: 'deny_only' } });
    });
  });

  describe('the evaluated policy through selectTools', () => {
    const allowA = rule(A, { then_json: { tool: { allow: ['tool_a', 'tool2'] } } });
    const allowB = rule(B, { then_json: { tool: { allow: ['tool2', 'tool_a'], prefer: ['tool2'] } } });

    it('given two allow lists, then the intersection (localeCompare order) filters and prefer orders', () => {
      const out = selectTools({ candidates: ['web', 'tool2', 'tool_a'], evaluation: evaluation([allowA, allowB]), strict: true, includeShadow: false });
      expect(out.ok && out.selection.ordered).toEqual(['tool2', 'tool_a']);
      expect(out.ok && out.rules.applied.policy.tool.allow).toEqual(['tool_a', 'tool2']);
      expect(out.ok && out.rules.tool_conflicts_summary).toEqual([expect.stringMatching(/^\[allow_intersection\] /)]);
    });

    it('given strict and an active deny of every candidate, then the error value, before any decision', () => {
      const out = selectTools({ candidates: ['web'], evaluation: evaluation([rule(A, { then_json: { tool: { deny: ['web'] } } })]), strict: true, includeShadow: false });
      expect(out).toEqual({ ok: false, error: { code: 'no_tools_allowed', message: expect.any(String), details: { candidates: 1, allow: 0, deny: 1 } } });
    });

    it('given include_shadow, then a non-binding shadow preview (strict off, never fails) and its summary', () => {
      const shadowDeny = rule(B, { state: 'shadow', then_json: { tool: { allow: ['nothing'], deny: ['web', 'maps'] } } });
      const out = selectTools({ candidates: ['web', 'maps'], evaluation: evaluation([shadowDeny], {}, true), strict: true, includeShadow: true });
      expect(out.ok).toBe(true);
      if (!out.ok) return;
      expect(out.selection.selected).toBe('web');
      expect(out.rules.shadow_selection).toMatchObject({ selected: null, fallback: { reason: 'deny_filtered_all' } });
      expect(out.rules.shadow_tool_conflicts_summary).toHaveLength(1);
      expect(Object.keys(out.rules).slice(-3)).toEqual(['tool_conflicts_summary', 'shadow_selection', 'shadow_tool_conflicts_summary']);
    });

    it('given no include_shadow, then no shadow members', () => {
      const out = selectTools({ candidates: ['web'], evaluation: evaluation([]), strict: true, includeShadow: false });
      expect(out.ok && 'shadow_selection' in out.rules).toBe(false);
    });
  });

  describe('tool_conflicts_summary', () => {
    const explain = (n: number, message: string, winner: string | null): ToolExplain => ({
      notes: [],
      contributions: [],
      winners: { prefer_by_tool: {}, deny_by_tool: {} },
      conflicts: Array.from({ length: n }, () => ({ code: 'prefer_competing_top_choice' as const, message, winner_rule_node_id: winner })),
    });

    it('is "[code] message" plus " (winner=<id>)", at most 5', () => {
      expect(summarizeToolConflicts(explain(7, 'differ', A))).toEqual(Array.from({ length: 5 }, () => `[prefer_competing_top_choice] differ (winner=${A})`));
      expect(summarizeToolConflicts(explain(1, 'no winner', null))).toEqual(['[prefer_competing_top_choice] no winner']);
      expect(summarizeToolConflicts(undefined)).toEqual([]);
    });

    it('cuts each line to 200 characters: 197 and "..."', () => {
      const [line] = summarizeToolConflicts(explain(1, 'x'.repeat(300), A));
      expect(line).toHaveLength(200);
      expect(line!.endsWith('x...')).toBe(true);
      const [exact] = summarizeToolConflicts(explain(1, 'y'.repeat(200 - '[prefer_competing_top_choice] '.length), null));
      expect(exact).toHaveLength(200);
      expect(exact!.endsWith('y')).toBe(true);
    });
  });

  describe('decision fields', () => {
    it('context_sha256 hashes the canonical context, null for an absent one', () => {
      expect(contextSha256(undefined)).toBe(sha256Hex('null'));
      expect(contextSha256({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe(sha256Hex(canonicalJson({ a: [1, { c: 3, d: 2 }], b: 1 })));
    });

    it('source_rule_ids are the distinct ids of the active sources, in merge order', () => {
      expect(sourceRuleIds([{ rule_node_id: B }, { rule_node_id: A }, { rule_node_id: B }])).toEqual([B, A]);
      const evaluated = evaluation([rule(B, { positive_count: 1, then_json: { output: { format: 'json' } } }), rule(A), rule(BOOKING, { state: 'shadow' })], {}, true);
      expect(decisionFields({}, evaluated).source_rule_ids).toEqual([A, B]);
    });
  });
});
