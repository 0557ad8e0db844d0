import { jsonKey } from './pattern';
import { normalizeCandidates } from './select';
import type { EvaluateResponse, Outcome, PolicySource } from './types';

/**
 * Feedback on rules (contract §6.2 tools/feedback, §2.15 feedback): which rules an outcome is
 * credited to, how the feedback links to a tools/select decision, and the commit diffs and counter
 * deltas. Pure: the service re-evaluates the rules, looks the candidate decisions up, then asks
 * here what to do. The order of the route is:
 *   1. normalise (normalizeFeedback), 2. re-evaluate (evaluate.ts with the request's context),
 *   3. attributableRules; when empty, answer nothingAttributable (BEFORE any decision_id check),
 *   4. linkDecision over what the repository found, 5. commit toolFeedbackDiff, 6. counters.
 */

export type FeedbackTarget = 'tool' | 'all';
export type DecisionLinkMode = 'provided' | 'inferred' | 'created_from_feedback';

/** §6.2 step 1: candidates as in §6.1, the selected tool trimmed. */
export function normalizeFeedback(input: { readonly candidates: readonly string[]; readonly selected_tool: string }): { readonly candidates: readonly string[]; readonly selected_tool: string } {
  return { candidates: normalizeCandidates(input.candidates), selected_tool: input.selected_tool.trim() };
}

const touchesTool = (s: Pick<PolicySource, 'touched_paths'>): boolean => s.touched_paths.some((p) => p === 'tool' || p.startsWith('tool.'));

/**
 * §6.2 step 2: the rules an outcome is credited to, from a re-evaluation (client-supplied sources
 * are never trusted): the active sources, plus the shadow sources with include_shadow, restricted
 * unless `target` is `all` to rules whose patch touches `tool`; distinct, in merge order (active
 * first).
 */
export function attributableRules(evaluation: Pick<EvaluateResponse, 'applied'>, opts: { readonly includeShadow: boolean; readonly target: FeedbackTarget }): string[] {
  const sources = [...evaluation.applied.sources.filter((s) => s.state === 'active'), ...(opts.includeShadow ? (evaluation.applied.shadow_sources ?? []) : [])];
  const credited = sources.filter((s) => opts.target === 'all' || touchesTool(s)).map((s) => s.rule_node_id.trim());
  return [...new Set(credited.filter((id) => id !== ''))];
}

export const NOTHING_ATTRIBUTABLE_NOTE = 'no matched rule is attributable to this feedback (target=tool needs a rule whose patch touches tool.*); nothing was recorded';

/** §6.2 step 3: the short answer, without any decision_* member; nothing is stored. */
export function nothingAttributable(where: { readonly tenant_id: string; readonly scope: string }): {
  readonly ok: true;
  readonly tenant_id: string;
  readonly scope: string;
  readonly updated_rules: 0;
  readonly rule_node_ids: readonly string[];
  readonly commit_id: null;
  readonly commit_hash: null;
  readonly note: string;
} {
  return { ok: true, tenant_id: where.tenant_id, scope: where.scope, updated_rules: 0, rule_node_ids: [], commit_id: null, commit_hash: null, note: NOTHING_ATTRIBUTABLE_NOTE };
}

/**
 * §6.2 steps 2-3 as one decision: either the short answer (nothing credited; no decision lookup is
 * made, so an unknown decision_id is NOT reported), or the credited rules and the decision lookups
 * to make next, in order.
 */
export function planAttribution(
  evaluation: Pick<EvaluateResponse, 'applied'>,
  req: { readonly tenant_id: string; readonly scope: string; readonly includeShadow: boolean; readonly target: FeedbackTarget; readonly decision_id: string | null; readonly run_id: string | null },
): { readonly kind: 'nothing_attributable'; readonly response: ReturnType<typeof nothingAttributable> } | { readonly kind: 'attribute'; readonly rule_node_ids: readonly string[]; readonly lookups: ReturnType<typeof decisionLookups> } {
  const ruleIds = attributableRules(evaluation, req);
  if (ruleIds.length === 0) return { kind: 'nothing_attributable', response: nothingAttributable(req) };
  return { kind: 'attribute', rule_node_ids: ruleIds, lookups: decisionLookups(req) };
}

// ---------------------------------------------------------------------------------------------
// Decision linking (§6.2 steps 4-5)

/** What linking needs to know of a stored decision. */
export interface DecisionSnapshot {
  readonly decision_id: string;
  readonly run_id: string | null;
  readonly selected_tool: string | null;
  readonly candidates: unknown;
  readonly policy_sha256: string;
}

export interface FeedbackRequest {
  readonly decision_id: string | null;
  readonly run_id: string | null;
  /** Normalised (normalizeFeedback). */
  readonly selected_tool: string;
  readonly candidates: readonly string[];
  /** The public tenant and scope, for the not-found details. */
  readonly tenant_id: string;
  readonly scope: string;
}

/**
 * What the repository found, looked up in this order: by id when the request names a decision;
 * otherwise by run (only with a run_id: newest tools_select decision with the same run_id,
 * selected_tool, candidates and context hash), then the 24-hour window (same tool, candidates and
 * context hash, no run_id on at least one side). Leave a lookup out (undefined) when not made.
 */
export interface DecisionCandidates {
  readonly byId?: DecisionSnapshot | null;
  readonly byRun?: DecisionSnapshot | null;
  readonly recent?: DecisionSnapshot | null;
}

export type DecisionLinkError =
  | { readonly code: 'decision_not_found_in_scope'; readonly message: string; readonly details: { readonly decision_id: string; readonly scope: string; readonly tenant_id: string } }
  | {
      readonly code: 'decision_selected_tool_mismatch';
      readonly message: string;
      readonly details: { readonly decision_id: string; readonly decision_selected_tool: string | null; readonly request_selected_tool: string };
    }
  | { readonly code: 'decision_candidates_mismatch'; readonly message: string; readonly details: { readonly decision_id: string } }
  | { readonly code: 'decision_run_id_mismatch'; readonly message: string; readonly details: { readonly decision_id: string; readonly decision_run_id: string; readonly request_run_id: string } };

export type DecisionLink =
  | {
      readonly ok: true;
      readonly mode: 'provided' | 'inferred';
      readonly decision: DecisionSnapshot;
      /** Store the request's run_id on the decision (it had none). */
      readonly adopt_run_id: string | null;
    }
  | {
      readonly ok: true;
      readonly mode: 'created_from_feedback';
      /** Nothing found: insert a decision (newDecisionFromFeedback) and link it to the feedback commit. */
      readonly decision: null;
      readonly adopt_run_id: null;
    }
  | { readonly ok: false; readonly error: DecisionLinkError };

/** The lookups linkDecision needs, in order; the service stops at the first that finds a decision. */
export function decisionLookups(req: Pick<FeedbackRequest, 'decision_id' | 'run_id'>): readonly ('byId' | 'byRun' | 'recent')[] {
  if (req.decision_id !== null) return ['byId'];
  return req.run_id !== null ? ['byRun', 'recent'] : ['recent'];
}

/** §6.2 step 5, in the contract's order: selected tool (a stored null never matches), candidates (order-sensitive), run ids. */
export function checkDecisionCompatible(decision: DecisionSnapshot, req: FeedbackRequest): DecisionLinkError | null {
  if (decision.selected_tool === null || decision.selected_tool !== req.selected_tool) {
    return {
      code: 'decision_selected_tool_mismatch',
      message: 'the decision selected another tool than this feedback names',
      details: { decision_id: decision.decision_id, decision_selected_tool: decision.selected_tool, request_selected_tool: req.selected_tool },
    };
  }
  const stored = Array.isArray(decision.candidates) ? decision.candidates : [];
  if (jsonKey(stored) !== jsonKey(req.candidates)) {
    return { code: 'decision_candidates_mismatch', message: 'the decision was made over other candidates than this feedback names', details: { decision_id: decision.decision_id } };
  }
  if (req.run_id !== null && decision.run_id !== null && req.run_id !== decision.run_id) {
    return {
      code: 'decision_run_id_mismatch',
      message: 'the decision belongs to another run than this feedback',
      details: { decision_id: decision.decision_id, decision_run_id: decision.run_id, request_run_id: req.run_id },
    };
  }
  return null;
}

/**
 * §6.2 step 4: `provided` when the request names a decision that exists in the scope (else
 * decision_not_found_in_scope), `inferred` when a lookup found one, `created_from_feedback`
 * otherwise; then the compatibility checks, in every mode where a stored decision is linked.
 */
export function linkDecision(req: FeedbackRequest, found: DecisionCandidates): DecisionLink {
  let decision: DecisionSnapshot | null;
  let mode: 'provided' | 'inferred';
  if (req.decision_id !== null) {
    decision = found.byId ?? null;
    if (decision === null) {
      return {
        ok: false,
        error: { code: 'decision_not_found_in_scope', message: 'decision_id was not found in this scope', details: { decision_id: req.decision_id, scope: req.scope, tenant_id: req.tenant_id } },
      };
    }
    mode = 'provided';
  } else {
    decision = (req.run_id !== null ? found.byRun : null) ?? found.recent ?? null;
    if (decision === null) return { ok: true, mode: 'created_from_feedback', decision: null, adopt_run_id: null };
    mode = 'inferred';
  }
  const error = checkDecisionCompatible(decision, req);
  if (error !== null) return { ok: false, error };
  return { ok: true, mode, decision, adopt_run_id: req.run_id !== null && decision.run_id === null ? req.run_id : null };
}

/** The decision a feedback creates when none was found: marked as derived, with the current policy hash and the credited rules. */
export function newDecisionFromFeedback(input: {
  readonly run_id: string | null;
  readonly selected_tool: string;
  readonly candidates: readonly string[];
  readonly context_sha256: string;
  readonly policy_sha256: string;
  readonly rule_node_ids: readonly string[];
}): {
  readonly run_id: string | null;
  readonly selected_tool: string;
  readonly candidates: readonly string[];
  readonly context_sha256: string;
  readonly policy_sha256: string;
  readonly source_rule_ids: readonly string[];
  readonly metadata: { readonly source: 'feedback_derived' };
} {
  return {
    run_id: input.run_id,
    selected_tool: input.selected_tool,
    candidates: input.candidates,
    context_sha256: input.context_sha256,
    policy_sha256: input.policy_sha256,
    source_rule_ids: input.rule_node_ids,
    metadata: { source: 'feedback_derived' },
  };
}

// ---------------------------------------------------------------------------------------------
// Commit diffs and counters

export interface ToolFeedbackEntry {
  readonly decision_id: string;
  readonly decision_link_mode: DecisionLinkMode;
  readonly run_id: string | null;
  readonly outcome: Outcome;
  readonly selected_tool: string;
  readonly candidates: readonly string[];
  readonly rule_node_ids: readonly string[];
  readonly target: FeedbackTarget;
}

/** §6.2 step 6: the `tool_feedback` commit's diff, one entry. */
export function toolFeedbackDiff(e: ToolFeedbackEntry): { readonly tool_feedback: readonly ToolFeedbackEntry[] } {
  return {
    tool_feedback: [
      {
        decision_id: e.decision_id,
        decision_link_mode: e.decision_link_mode,
        run_id: e.run_id,
        outcome: e.outcome,
        selected_tool: e.selected_tool,
        candidates: e.candidates,
        rule_node_ids: e.rule_node_ids,
        target: e.target,
      },
    ],
  };
}

/** §2.15 step 2: the `rule_feedback` commit's diff. */
export function ruleFeedbackDiff(e: { readonly id: string; readonly rule_node_id: string; readonly outcome: Outcome; readonly run_id?: string | null }): {
  readonly feedback: readonly { readonly id: string; readonly rule_node_id: string; readonly outcome: Outcome; readonly run_id: string | null }[];
} {
  return { feedback: [{ id: e.id, rule_node_id: e.rule_node_id, outcome: e.outcome, run_id: e.run_id ?? null }] };
}

export interface CounterDelta {
  readonly positive: 0 | 1;
  readonly negative: 0 | 1;
}

/** +1 positive or +1 negative; a neutral outcome changes neither (§6.2 step 7, §2.15 step 4). */
export function counterDelta(outcome: Outcome): CounterDelta {
  return { positive: outcome === 'positive' ? 1 : 0, negative: outcome === 'negative' ? 1 : 0 };
}

/** One delta per credited rule (one feedback row each). */
export function ruleCounterDeltas(ruleIds: readonly string[], outcome: Outcome): readonly ({ readonly rule_node_id: string } & CounterDelta)[] {
  const d = counterDelta(outcome);
  return ruleIds.map((rule_node_id) => ({ rule_node_id, ...d }));
}
