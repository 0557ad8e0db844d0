import { evaluateRules } from '../../src/data-plane/memory/policy/evaluate';
import {
  attributableRules,
  counterDelta,
  decisionLookups,
  linkDecision,
  newDecisionFromFeedback,
  normalizeFeedback,
  planAttribution,
  ruleCounterDeltas,
  ruleFeedbackDiff,
  toolFeedbackDiff,
  type DecisionSnapshot,
  type FeedbackRequest,
} from '../../src/data-plane/memory/policy/feedback';
import type { LoadedRule } from '../../src/data-plane/memory/policy/types';

const BOOKING = '111c92ba-d609-575a-9393-38894dcc91cf';
const DECISION = '2a74eb1e-aacb-4f39-a5a3-c2cbc120add3';
const POLICY_SHA = '46159fa95ec92d179aea52ac217835086186f7fdfd1a9ea417e6c20860c36796';
const COMMIT = 'b2d7e82d-0a75-4eb1-85fa-3b2216a773cf';
const A = 'aaaaaaaa-0000-5000-8000-000000000000';
const B = 'bbbbbbbb-0000-5000-8000-000000000000';
const S = 'ffffffff-0000-5000-8000-000000000000';

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

const bookingRule = rule(BOOKING, { if_json: { intent: 'booking' }, then_json: { output: { format: 'json' }, tool: { prefer: ['flight_search'] } }, positive_count: 3, negative_count: 1 });
const outputOnly = rule(A, { then_json: { output: { strict: true } } });
const emptyTool = rule(B, { then_json: { tool: {} } });
const shadowTool = rule(S, { state: 'shadow', then_json: { tool: { deny: ['web_browse'] } } });

const evaluated = (includeShadow: boolean) => evaluateRules({ rules: [bookingRule, outputOnly, emptyTool, shadowTool], context: { intent: 'booking' }, includeShadow }).response;

const request = (over: Partial<FeedbackRequest> = {}): FeedbackRequest => ({
  decision_id: null,
  run_id: 'run-7781',
  selected_tool: 'flight_search',
  candidates: ['web_browse', 'flight_search'],
  tenant_id: 'default',
  scope: 'travel-desk',
  ...over,
});

const decision = (over: Partial<DecisionSnapshot> = {}): DecisionSnapshot => ({
  decision_id: DECISION,
  run_id: 'run-7781',
  selected_tool: 'flight_search',
  candidates: ['web_browse', 'flight_search'],
  policy_sha256: POLICY_SHA,
  ...over,
});

describe('tools/feedback and feedback (contract §6.2, §2.15)', () => {
  describe('normalisation (step 1)', () => {
    it('candidates as in tools/select, the selected tool trimmed', () => {
      expect(normalizeFeedback({ candidates: [' web_browse', 'flight_search', 'web_browse '], selected_tool: ' flight_search ' })).toEqual({
        candidates: ['web_browse', 'flight_search'],
        selected_tool: 'flight_search',
      });
    });
  });

  describe('attribution (step 2)', () => {
    it('given target tool, then the active sources whose patch touches tool or tool.* (merge order)', () => {
      expect(attributableRules(evaluated(false), { includeShadow: false, target: 'tool' })).toEqual([B, BOOKING]);
    });

    it('given target all, then every active source', () => {
      expect(attributableRules(evaluated(false), { includeShadow: false, target: 'all' })).toEqual([A, B, BOOKING]);
    });

    it('given include_shadow, then the shadow sources follow the active ones', () => {
      expect(attributableRules(evaluated(true), { includeShadow: true, target: 'tool' })).toEqual([B, BOOKING, S]);
      expect(attributableRules(evaluated(true), { includeShadow: false, target: 'tool' })).toEqual([B, BOOKING]);
    });

    it('given a rule listed twice, then it is credited once', () => {
      const e = evaluated(false);
      const doubled = { applied: { ...e.applied, sources: [...e.applied.sources, ...e.applied.sources] } };
      expect(attributableRules(doubled, { includeShadow: false, target: 'all' })).toEqual([A, B, BOOKING]);
    });
  });

  describe('nothing attributable (step 3) short-circuits before the decision id', () => {
    it('given no credited rule and an unknown decision id, then the short answer, without decision_* members and without lookups', () => {
      const e = evaluateRules({ rules: [outputOnly], context: {}, includeShadow: false }).response;
      const plan = planAttribution(e, { tenant_id: 'default', scope: 'travel-desk', includeShadow: false, target: 'tool', decision_id: '00000000-0000-4000-8000-000000000000', run_id: null });
      expect(plan).toEqual({
        kind: 'nothing_attributable',
        response: { ok: true, tenant_id: 'default', scope: 'travel-desk', updated_rules: 0, rule_node_ids: [], commit_id: null, commit_hash: null, note: expect.any(String) },
      });
      expect(Object.keys(plan.kind === 'nothing_attributable' ? plan.response : {}).some((k) => k.startsWith('decision'))).toBe(false);
    });

    it('given credited rules, then the lookups to make: by id, else by run then the 24 h window, else the window', () => {
      const e = evaluated(false);
      const base = { tenant_id: 'default', scope: 'travel-desk', includeShadow: false, target: 'tool' as const };
      expect(planAttribution(e, { ...base, decision_id: DECISION, run_id: 'r' })).toEqual({ kind: 'attribute', rule_node_ids: [B, BOOKING], lookups: ['byId'] });
      expect(decisionLookups({ decision_id: null, run_id: 'r' })).toEqual(['byRun', 'recent']);
      expect(decisionLookups({ decision_id: null, run_id: null })).toEqual(['recent']);
    });
  });

  describe('decision linking (steps 4-5)', () => {
    it('given a decision id that exists, then provided (the §2.13 example)', () => {
      expect(linkDecision(request({ decision_id: DECISION }), { byId: decision() })).toEqual({ ok: true, mode: 'provided', decision: decision(), adopt_run_id: null });
    });

    it('given a decision id that does not exist in the scope, then decision_not_found_in_scope', () => {
      expect(linkDecision(request({ decision_id: DECISION }), { byId: null })).toEqual({
        ok: false,
        error: { code: 'decision_not_found_in_scope', message: expect.any(String), details: { decision_id: DECISION, scope: 'travel-desk', tenant_id: 'default' } },
      });
    });

    it('given no id, then the decision of the run is inferred, else the one of the 24 h window', () => {
      expect(linkDecision(request(), { byRun: decision(), recent: decision({ decision_id: 'other' }) })).toMatchObject({ ok: true, mode: 'inferred', decision: { decision_id: DECISION } });
      expect(linkDecision(request(), { byRun: null, recent: decision({ decision_id: 'other', run_id: null }) })).toEqual({
        ok: true,
        mode: 'inferred',
        decision: decision({ decision_id: 'other', run_id: null }),
        adopt_run_id: 'run-7781',
      });
      expect(linkDecision(request({ run_id: null }), { byRun: decision(), recent: decision({ decision_id: 'w' }) })).toMatchObject({ mode: 'inferred', decision: { decision_id: 'w' } });
    });

    it('given nothing found, then created_from_feedback, and the decision to insert', () => {
      expect(linkDecision(request(), { byRun: null, recent: null })).toEqual({ ok: true, mode: 'created_from_feedback', decision: null, adopt_run_id: null });
      expect(linkDecision(request(), {})).toMatchObject({ mode: 'created_from_feedback' });
      expect(newDecisionFromFeedback({ run_id: 'run-1', selected_tool: 't', candidates: ['t'], context_sha256: 'c', policy_sha256: POLICY_SHA, rule_node_ids: [BOOKING] })).toEqual({
        run_id: 'run-1',
        selected_tool: 't',
        candidates: ['t'],
        context_sha256: 'c',
        policy_sha256: POLICY_SHA,
        source_rule_ids: [BOOKING],
        metadata: { source: 'feedback_derived' },
      });
    });

    it('given another selected tool (or a stored null), then decision_selected_tool_mismatch', () => {
      const mismatch = { code: 'decision_selected_tool_mismatch', message: expect.any(String) };
      expect(linkDecision(request({ decision_id: DECISION }), { byId: decision({ selected_tool: 'web_browse' }) })).toEqual({
        ok: false,
        error: { ...mismatch, details: { decision_id: DECISION, decision_selected_tool: 'web_browse', request_selected_tool: 'flight_search' } },
      });
      expect(linkDecision(request({ decision_id: DECISION }), { byId: decision({ selected_tool: null }) })).toEqual({
        ok: false,
        error: { ...mismatch, details: { decision_id: DECISION, decision_selected_tool: null, request_selected_tool: 'flight_search' } },
      });
      expect(linkDecision(request({ decision_id: DECISION, selected_tool: '' }), { byId: decision({ selected_tool: null }) })).toMatchObject({ ok: false, error: { code: 'decision_selected_tool_mismatch' } });
    });

    it('given other candidates, in another order included, then decision_candidates_mismatch', () => {
      const expected = { ok: false, error: { code: 'decision_candidates_mismatch', message: expect.any(String), details: { decision_id: DECISION } } };
      expect(linkDecision(request({ decision_id: DECISION }), { byId: decision({ candidates: ['flight_search', 'web_browse'] }) })).toEqual(expected);
      expect(linkDecision(request({ decision_id: DECISION }), { byId: decision({ candidates: 'web_browse,flight_search' }) })).toEqual(expected);
    });

    it('given two different non-null run ids, then decision_run_id_mismatch; a missing one on either side is compatible', () => {
      expect(linkDecision(request({ decision_id: DECISION, run_id: 'run-2' }), { byId: decision() })).toEqual({
        ok: false,
        error: { code: 'decision_run_id_mismatch', message: expect.any(String), details: { decision_id: DECISION, decision_run_id: 'run-7781', request_run_id: 'run-2' } },
      });
      expect(linkDecision(request({ decision_id: DECISION, run_id: null }), { byId: decision() })).toMatchObject({ ok: true, adopt_run_id: null });
      expect(linkDecision(request({ decision_id: DECISION }), { byId: decision({ run_id: null }) })).toMatchObject({ ok: true, adopt_run_id: 'run-7781' });
    });

    it('checks in the contract order: the selected tool before the candidates before the run id', () => {
      const all = decision({ selected_tool: 'x', candidates: [], run_id: 'other' });
      expect(linkDecision(request({ decision_id: DECISION }), { byId: all })).toMatchObject({ error: { code: 'decision_selected_tool_mismatch' } });
      expect(linkDecision(request({ decision_id: DECISION }), { byId: { ...all, selected_tool: 'flight_search' } })).toMatchObject({ error: { code: 'decision_candidates_mismatch' } });
    });
  });

  describe('commit diffs and counters (steps 6-7, §2.15)', () => {
    it('the tool_feedback diff has one entry with the link and the credited rules', () => {
      expect(
        toolFeedbackDiff({
          decision_id: DECISION,
          decision_link_mode: 'provided',
          run_id: 'run-7781',
          outcome: 'positive',
          selected_tool: 'flight_search',
          candidates: ['web_browse', 'flight_search'],
          rule_node_ids: [BOOKING],
          target: 'tool',
        }),
      ).toEqual({
        tool_feedback: [
          { decision_id: DECISION, decision_link_mode: 'provided', run_id: 'run-7781', outcome: 'positive', selected_tool: 'flight_search', candidates: ['web_browse', 'flight_search'], rule_node_ids: [BOOKING], target: 'tool' },
        ],
      });
    });

    it('the /feedback diff is {feedback:[{id, rule_node_id, outcome, run_id|null}]}', () => {
      expect(ruleFeedbackDiff({ id: 'f1', rule_node_id: BOOKING, outcome: 'negative', run_id: 'run-7790' })).toEqual({ feedback: [{ id: 'f1', rule_node_id: BOOKING, outcome: 'negative', run_id: 'run-7790' }] });
      expect(ruleFeedbackDiff({ id: 'f2', rule_node_id: BOOKING, outcome: 'neutral' })).toEqual({ feedback: [{ id: 'f2', rule_node_id: BOOKING, outcome: 'neutral', run_id: null }] });
    });

    it('positive and negative outcomes add one to their counter; neutral changes neither', () => {
      expect(counterDelta('positive')).toEqual({ positive: 1, negative: 0 });
      expect(counterDelta('negative')).toEqual({ positive: 0, negative: 1 });
      expect(counterDelta('neutral')).toEqual({ positive: 0, negative: 0 });
      expect(ruleCounterDeltas([A, B], 'negative')).toEqual([
        { rule_node_id: A, positive: 0, negative: 1 },
        { rule_node_id: B, positive: 0, negative: 1 },
      ]);
    });
  });
});
