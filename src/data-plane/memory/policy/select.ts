import { canonicalJson, sha256Hex } from '../../../platform/event-store/canonical-json';
import { forSelect, type SelectEvaluation } from './evaluate';
import type { EffectivePolicy, EvaluateResponse, PolicySource, ToolExplain, ToolPatch } from './types';

/**
 * Tool selection (contract §6.1): the active tool policy applied to the caller's candidates, the
 * non-binding shadow preview, the `rules` block and the decision's provenance fields. Pure: the
 * service evaluates the rules first (evaluate.ts), records the decision with these fields, and
 * answers `{tenant_id, scope, candidates, selection, rules, decision}`.
 */

export type DenyReason = 'deny_list' | 'not_in_allow_list';
export type FallbackReason = 'none' | 'allowlist_filtered_all' | 'deny_filtered_all';
export type EffectiveMode = 'allow_and_deny' | 'deny_only';

export interface Selection {
  readonly candidates: readonly string[];
  readonly allowed: readonly string[];
  readonly denied: readonly { readonly name: string; readonly reason: DenyReason }[];
  readonly preferred: readonly string[];
  readonly ordered: readonly string[];
  readonly selected: string | null;
  readonly fallback: { readonly applied: boolean; readonly reason: FallbackReason; readonly note: string; readonly effective_mode: EffectiveMode };
}

/** 400 no_tools_allowed (strict mode, nothing left); the details are counts. */
export interface NoToolsAllowed {
  readonly code: 'no_tools_allowed';
  readonly message: string;
  readonly details: { readonly candidates: number; readonly allow: number; readonly deny: number };
}

export type PolicySelection = { readonly ok: true; readonly selection: Selection } | { readonly ok: false; readonly error: NoToolsAllowed };

/** §6.1 step 1: trimmed, empty strings dropped, duplicates removed keeping the first occurrence. */
export function normalizeCandidates(raw: readonly string[]): string[] {
  return [...new Set(raw.map((c) => String(c).trim()).filter((c) => c !== ''))];
}

function filterCandidates(candidates: readonly string[], deny: ReadonlySet<string>, allow: ReadonlySet<string> | null): { allowed: string[]; denied: { name: string; reason: DenyReason }[] } {
  const allowed: string[] = [];
  const denied: { name: string; reason: DenyReason }[] = [];
  for (const c of candidates) {
    if (deny.has(c)) denied.push({ name: c, reason: 'deny_list' });
    else if (allow !== null && !allow.has(c)) denied.push({ name: c, reason: 'not_in_allow_list' });
    else allowed.push(c);
  }
  return { allowed, denied };
}

/**
 * §6.1 steps 3-6 for one tool policy. An EMPTY allow list (an empty intersection) counts as no
 * allow list at all, so it filters nothing: the open core's observable behaviour, kept for parity
 * (contract §10 #4).
 */
export function applyToolPolicy(candidatesIn: readonly string[], tool: ToolPatch | undefined, strict: boolean): PolicySelection {
  const candidates = normalizeCandidates(candidatesIn);
  const allowList = [...new Set(tool?.allow ?? [])];
  const deny = new Set(tool?.deny ?? []);
  const prefer = [...new Set(tool?.prefer ?? [])];
  const allow = allowList.length > 0 ? new Set(allowList) : null;

  let { allowed, denied } = filterCandidates(candidates, deny, allow);
  let fallback: Selection['fallback'] = {
    applied: false,
    reason: 'none',
    note: denied.length === 0 ? 'nothing was filtered out' : `${denied.length} candidate(s) filtered out; no fallback needed`,
    effective_mode: allow !== null ? 'allow_and_deny' : 'deny_only',
  };
  if (allowed.length === 0 && strict) {
    return {
      ok: false,
      error: {
        code: 'no_tools_allowed',
        message: allow !== null ? 'no candidate remains after the allow and deny lists' : 'no candidate remains after the deny list',
        details: { candidates: candidates.length, allow: allowList.length, deny: deny.size },
      },
    };
  }
  if (allowed.length === 0 && allow !== null) {
    ({ allowed, denied } = filterCandidates(candidates, deny, null));
    fallback = { applied: true, reason: 'allowlist_filtered_all', note: 'the allow list filtered out every candidate; strict is off, so only the deny list applies', effective_mode: 'deny_only' };
  }
  if (allowed.length === 0) {
    fallback = { applied: true, reason: 'deny_filtered_all', note: 'the deny list filtered out every candidate; no tool can be selected', effective_mode: 'deny_only' };
  }
  const allowedSet = new Set(allowed);
  const preferred = prefer.filter((t) => allowedSet.has(t));
  const preferredSet = new Set(preferred);
  const ordered = [...preferred, ...allowed.filter((t) => !preferredSet.has(t))];
  return { ok: true, selection: { candidates, allowed, denied, preferred, ordered, selected: ordered[0] ?? null, fallback } };
}

const SUMMARY_MAX = 5;
const SUMMARY_LINE_MAX = 200;

/** `"[<code>] <message>"` plus `" (winner=<id>)"`, at most 5, each cut to 200 characters (197 + `...`). */
export function summarizeToolConflicts(explain: ToolExplain | undefined): string[] {
  return (explain?.conflicts ?? []).slice(0, SUMMARY_MAX).map((c) => {
    const line = `[${c.code}] ${c.message}${c.winner_rule_node_id ? ` (winner=${c.winner_rule_node_id})` : ''}`;
    return line.length > SUMMARY_LINE_MAX ? `${line.slice(0, SUMMARY_LINE_MAX - 3)}...` : line;
  });
}

export interface SelectRules extends SelectEvaluation {
  readonly tool_conflicts_summary: readonly string[];
  readonly shadow_selection?: Selection;
  readonly shadow_tool_conflicts_summary?: readonly string[];
}

export type SelectOutcome =
  | { readonly ok: true; readonly candidates: readonly string[]; readonly selection: Selection; readonly rules: SelectRules }
  | { readonly ok: false; readonly error: NoToolsAllowed };

export interface SelectInput {
  /** As requested; normalised here. */
  readonly candidates: readonly string[];
  readonly evaluation: EvaluateResponse;
  readonly strict: boolean;
  readonly includeShadow: boolean;
}

/**
 * §6.1 steps 1 and 3-8. On `ok: false` no decision is recorded. The shadow preview runs the same
 * procedure on `shadow_policy` with strict off: it never fails and is never enforced.
 */
export function selectTools(input: SelectInput): SelectOutcome {
  const applied = input.evaluation.applied;
  const active = applyToolPolicy(input.candidates, applied.policy.tool, input.strict);
  if (!active.ok) return active;
  const rules: SelectRules = {
    ...forSelect(input.evaluation),
    tool_conflicts_summary: summarizeToolConflicts(applied.tool_explain),
    ...(input.includeShadow ? shadowPreview(input.candidates, applied.shadow_policy, applied.shadow_tool_explain) : {}),
  };
  return { ok: true, candidates: active.selection.candidates, selection: active.selection, rules };
}

function shadowPreview(candidates: readonly string[], policy: EffectivePolicy | undefined, explain: ToolExplain | undefined): Pick<SelectRules, 'shadow_selection' | 'shadow_tool_conflicts_summary'> {
  const preview = applyToolPolicy(candidates, policy?.tool, false);
  // Strict off never fails; the guard only satisfies the type.
  return { ...(preview.ok ? { shadow_selection: preview.selection } : {}), shadow_tool_conflicts_summary: summarizeToolConflicts(explain) };
}

// ---------------------------------------------------------------------------------------------
// Decision provenance (§6.1 step 9)

/** sha(context) with null for an absent context; computed on the context after identity injection. */
export function contextSha256(context: unknown): string {
  return sha256Hex(canonicalJson(context === undefined ? null : context));
}

/** sha(applied.policy). */
export function policySha256(policy: EffectivePolicy): string {
  return sha256Hex(canonicalJson(policy));
}

/** The distinct rule ids of the given (active) sources, in merge order. */
export function sourceRuleIds(sources: readonly Pick<PolicySource, 'rule_node_id'>[]): string[] {
  return [...new Set(sources.map((s) => s.rule_node_id.trim()).filter((id) => id !== ''))];
}

export interface DecisionFields {
  readonly context_sha256: string;
  readonly policy_sha256: string;
  readonly source_rule_ids: readonly string[];
}

/** What a decision records about the policy it was made under. `applied.sources` are the active ones. */
export function decisionFields(context: unknown, evaluation: Pick<EvaluateResponse, 'applied'>): DecisionFields {
  return {
    context_sha256: contextSha256(context),
    policy_sha256: policySha256(evaluation.applied.policy),
    source_rule_ids: sourceRuleIds(evaluation.applied.sources),
  };
}
