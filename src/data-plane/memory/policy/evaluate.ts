import { touchedPaths, validatePatch } from './patch';
import { conditionMatches, conditionPaths, DEFAULT_LIMITS, isJsonObject, jsonKey, ownGet, sameJson, type JsonObject, type MatchLimits } from './pattern';
import type {
  AgentVisibilitySummary,
  AppliedPolicy,
  ConflictExplain,
  EffectivePolicy,
  EvaluateResponse,
  Evaluation,
  InvalidThenSample,
  LaneReason,
  LiveState,
  LoadedRule,
  PolicyConflict,
  PolicyPatch,
  PolicySource,
  Rank,
  RuleMatch,
  ToolConflict,
  ToolContribution,
  ToolExplain,
  ToolPatch,
} from './types';

/**
 * Rule evaluation (contract §5.5 steps 2-5 and §5.6): the fetched rules (at most `limit`, newest
 * `updated_at` first, as the repository reads them) against a context, giving exactly the §5.6
 * response (the caller adds `tenant_id` and `scope`). Pure and total: a rule's condition is
 * bounded (pattern.ts), a patch is validated before use, and nothing here throws on any JSON.
 */

export interface EvaluateInput {
  readonly rules: readonly LoadedRule[];
  /** The context after identity injection (context.ts); anything but a JSON object counts as `{}`. */
  readonly context: unknown;
  /** Report shadow matches (`shadow`, `applied.shadow_*`). Shadow rules are evaluated and counted either way. */
  readonly includeShadow: boolean;
  /** Per rule (pattern.ts DEFAULT_LIMITS). */
  readonly limits?: MatchLimits;
  /** For the whole evaluation (DEFAULT_EVALUATION_LIMITS). */
  readonly totalLimits?: MatchLimits;
}

/**
 * The whole evaluation's bound: up to 200 rules each with its own budget would allow seconds of
 * event-loop time per request (a worst-case rule costs about 10 ms); with these totals one
 * evaluation stays around 0.1 s. Once spent, the remaining conditions are non-matches, reported
 * like any exhausted rule (unconditional rules cost nothing and still match).
 */
export const DEFAULT_EVALUATION_LIMITS: MatchLimits = { steps: 500_000, regexWork: 2_000_000 };

// ---------------------------------------------------------------------------------------------
// Identity in the context (§5.5 step 2)

const usable = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

/**
 * The context's agent (`context.agent.id`, else `context.agent_id`) and team (`context.agent.team_id`,
 * else `context.team_id`): the first non-blank string, trimmed, as the open core read them.
 */
export function contextIdentity(context: unknown): { readonly agentId: string | null; readonly teamId: string | null } {
  if (!isJsonObject(context)) return { agentId: null, teamId: null };
  const agent = isJsonObject(context.agent) ? context.agent : {};
  return {
    agentId: usable(ownGet(agent, 'id')) ?? usable(ownGet(context, 'agent_id')),
    teamId: usable(ownGet(agent, 'team_id')) ?? usable(ownGet(context, 'team_id')),
  };
}

const nonBlank = (v: string | null): v is string => v !== null && v !== '';

function passesScope(r: LoadedRule, agentId: string | null, teamId: string | null): boolean {
  switch (r.rule_scope) {
    case 'global':
      return true;
    case 'agent':
      return nonBlank(r.target_agent_id) && agentId !== null && agentId === r.target_agent_id;
    case 'team':
      return nonBlank(r.target_team_id) && teamId !== null && teamId === r.target_team_id;
  }
}

function laneReason(agentId: string | null, teamId: string | null): LaneReason {
  if (agentId !== null && teamId !== null) return 'enforced_agent_team';
  if (agentId !== null) return 'enforced_agent_only';
  if (teamId !== null) return 'enforced_team_only';
  return 'missing_agent_context';
}

/** §5.5 step 3 when enforced: shared, or private and owned by the context's agent or team; an ownerless private rule is hidden. */
function laneVisibility(r: LoadedRule, agentId: string | null, teamId: string | null): 'visible' | 'hidden' | 'hidden_unowned' {
  if (r.memory_lane === 'shared') return 'visible';
  if (nonBlank(r.owner_agent_id) && r.owner_agent_id === agentId) return 'visible';
  if (nonBlank(r.owner_team_id) && r.owner_team_id === teamId) return 'visible';
  return nonBlank(r.owner_agent_id) || nonBlank(r.owner_team_id) ? 'hidden' : 'hidden_unowned';
}

// ---------------------------------------------------------------------------------------------
// Rank (§5.6)

/** The open core's Number(x) for the JSON scalars a slot may hold; arrays and objects give NaN (the default). */
function numeric(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return NaN;
}

/** `rule_meta.<key>`, else the top-level `<key>` (null and absent fall through), from the node's current slots. */
function slotValue(slots: JsonObject, key: string): unknown {
  const meta = isJsonObject(ownGet(slots, 'rule_meta')) ? (ownGet(slots, 'rule_meta') as JsonObject) : {};
  return ownGet(meta, key) ?? ownGet(slots, key);
}

const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));

/** Integer (truncated), clamped to -100..100, default 0. */
export function priorityOf(slots: JsonObject): number {
  const raw = slotValue(slots, 'priority');
  const n = numeric(raw ?? 0);
  return Number.isFinite(n) ? clamp(Math.trunc(n), -100, 100) + 0 : 0;
}

/** Clamped to 0..2, default 1. */
export function weightOf(slots: JsonObject): number {
  const raw = slotValue(slots, 'weight');
  const n = numeric(raw ?? 1);
  return Number.isFinite(n) ? clamp(n, 0, 2) + 0 : 1;
}

/** `score = priority*1000 + (pos-neg)*100*weight + specificity`, computed left to right as the open core did. */
export function rankOf(rule: Pick<LoadedRule, 'if_json' | 'positive_count' | 'negative_count' | 'node_slots'>): { readonly rank: Rank; readonly conditionPaths: readonly string[] } {
  const paths = conditionPaths(rule.if_json);
  const slots = isJsonObject(rule.node_slots) ? rule.node_slots : {};
  const priority = priorityOf(slots);
  const weight = weightOf(slots);
  const evidence = Number(rule.positive_count) - Number(rule.negative_count) + 0;
  const specificity = paths.length;
  const score = priority * 1000 + evidence * 100 * weight + specificity + 0;
  return { rank: { score, evidence_score: evidence, priority, weight, specificity }, conditionPaths: paths };
}

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
/** Lists: score descending, then rule id ascending. */
const rankDesc = (a: { rule_node_id: string; rank: Rank }, b: { rule_node_id: string; rank: Rank }): number => b.rank.score - a.rank.score || byId(a.rule_node_id, b.rule_node_id);
/** Merging: score ascending (the highest rank is applied last), ties by rule id ascending. */
const rankAsc = (a: { rule_node_id: string; rank: Rank }, b: { rule_node_id: string; rank: Rank }): number => a.rank.score - b.rank.score || byId(a.rule_node_id, b.rule_node_id);

// ---------------------------------------------------------------------------------------------
// Merging (§5.6)

/** Recursion bound for merging `extensions`; deeper objects are replaced whole (a conflict when they differ). */
const MERGE_DEPTH = 64;

function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  // defineProperty, so a key named __proto__ is data, never the prototype.
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Array union: first occurrences by deep equality, the earlier rule's elements first. */
function union(a: readonly unknown[], b: readonly unknown[]): unknown[] {
  const seen = new Set<string>();
  const out: unknown[] = [];
  for (const x of [...a, ...b]) {
    const k = jsonKey(x);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(x);
  }
  return out;
}

function mergeValue(base: unknown, patch: unknown, path: string, winner: string, conflicts: PolicyConflict[], depth: number): unknown {
  if (base === undefined) return patch;
  if (patch === undefined) return base;
  if (Array.isArray(base) && Array.isArray(patch)) return union(base, patch);
  if (isJsonObject(base) && isJsonObject(patch) && depth < MERGE_DEPTH) {
    const out = Object.fromEntries(Object.entries(base));
    for (const [k, v] of Object.entries(patch)) {
      setOwn(out, k, mergeValue(ownGet(out, k), v, path === '' ? k : `${path}.${k}`, winner, conflicts, depth + 1));
    }
    return out;
  }
  // A scalar or a shape mismatch: the later (higher-ranked) value replaces the earlier one.
  if (!sameJson(base, patch)) conflicts.push({ path: path === '' ? '$' : path, winner_rule_node_id: winner });
  return patch;
}

interface Matched {
  readonly rule: LoadedRule;
  readonly state: LiveState;
  readonly rank: Rank;
  readonly conditionPaths: readonly string[];
  readonly patch: PolicyPatch;
  readonly rule_node_id: string;
}

// ---------------------------------------------------------------------------------------------
// Tool policy (§5.6 tool policy override)

/**
 * Tool names sort with ICU root collation, as JavaScript's localeCompare did in the open core
 * (`tool_a` before `tool2`). The locale is pinned to `en` (root collation, no tailoring) so the
 * order, and with it policy_sha256, does not depend on the server's LANG; code units break ties
 * between strings that collate equal, so the order is total.
 */
const TOOL_COLLATOR = new Intl.Collator('en');
export const compareToolNames = (a: string, b: string): number => TOOL_COLLATOR.compare(a, b) || byId(a, b);

/** Distinct non-empty names in first-occurrence order. */
function uniq(xs: readonly string[]): string[] {
  return [...new Set(xs.filter((x) => x !== ''))];
}

export function computeToolPolicy(rules: readonly { readonly rule_node_id: string; readonly rank: Rank; readonly tool?: ToolPatch }[]): { readonly tool: ToolPatch; readonly explain: ToolExplain } {
  const contributions: ToolContribution[] = [];
  const preferWinners = new Map<string, string>();
  const denyWinners = new Map<string, string>();
  const allowLists: { rule_node_id: string; score: number; allow: ReadonlySet<string> }[] = [];
  const deny = new Set<string>();
  const preferOrder: string[] = [];
  for (const r of [...rules].sort(rankDesc)) {
    const allow = uniq(r.tool?.allow ?? []);
    const denied = uniq(r.tool?.deny ?? []);
    const prefer = uniq(r.tool?.prefer ?? []);
    if (allow.length === 0 && denied.length === 0 && prefer.length === 0) continue;
    const { score, evidence_score, priority, weight, specificity } = r.rank;
    contributions.push({ rule_node_id: r.rule_node_id, score, evidence_score, priority, weight, specificity, allow_n: allow.length, deny_n: denied.length, prefer_n: prefer.length, first_prefer: prefer[0] ?? null });
    // An empty allow list restricts nothing (as in the open core): only non-empty lists intersect.
    if (allow.length > 0) allowLists.push({ rule_node_id: r.rule_node_id, score, allow: new Set(allow) });
    for (const t of denied) {
      deny.add(t);
      if (!denyWinners.has(t)) denyWinners.set(t, r.rule_node_id);
    }
    for (const t of prefer) {
      if (!preferWinners.has(t)) preferWinners.set(t, r.rule_node_id);
      preferOrder.push(t);
    }
  }

  const notes: string[] = [];
  const conflicts: ToolConflict[] = [];
  let allow: string[] | undefined;
  if (allowLists.length > 0) {
    const [first, ...rest] = allowLists;
    allow = [...first!.allow].filter((t) => rest.every((l) => l.allow.has(t))).sort(compareToolNames);
    notes.push(`tool.allow is the intersection of the allow lists of ${allowLists.length} matched rule(s)`);
    const details = allowLists.map((l) => ({ rule_node_id: l.rule_node_id, score: l.score, allow_n: l.allow.size }));
    conflicts.push({ code: 'allow_intersection', message: `the effective allow list is the intersection of ${allowLists.length} rule allow list(s) (size=${allow.length})`, details, winner_rule_node_id: null });
    if (allow.length === 0) {
      conflicts.push({ code: 'allow_intersection_empty', message: 'the allow lists have no tool in common: the effective allow list is empty', details, winner_rule_node_id: null });
    }
  } else {
    notes.push('no rule restricts tool.allow');
  }
  if (deny.size > 0) notes.push(`tool.deny is the union of the deny lists (${deny.size} tool(s))`);

  const topChoices = contributions.flatMap((c) => (c.first_prefer === null ? [] : [{ rule_node_id: c.rule_node_id, score: c.score, first_prefer: c.first_prefer }]));
  if (new Set(topChoices.map((c) => c.first_prefer)).size > 1) {
    const winner = topChoices[0]!; // contributions are in rank order
    conflicts.push({
      code: 'prefer_competing_top_choice',
      message: `matched rules prefer different first tools; the highest-ranked rule's choice (${winner.first_prefer}) comes first`,
      details: topChoices,
      winner_rule_node_id: winner.rule_node_id,
    });
  }

  const preferred = uniq(preferOrder);
  const denyList = [...deny].sort(compareToolNames);
  const tool: ToolPatch = {
    ...(allow !== undefined ? { allow } : {}),
    ...(denyList.length > 0 ? { deny: denyList } : {}),
    ...(preferred.length > 0 ? { prefer: preferred } : {}),
  };
  return {
    tool,
    explain: {
      notes,
      contributions,
      winners: { prefer_by_tool: Object.fromEntries(preferWinners), deny_by_tool: Object.fromEntries(denyWinners) },
      conflicts,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// One state's applied policy

const CONFLICT_REASON = 'rules are merged in ascending rank, so the highest-ranked rule is applied last and its value wins (rank: priority, then evidence x weight, then condition specificity)';
export const MAX_CONFLICT_EXPLAIN = 50;
const MAX_LOSERS = 5;

function explainConflicts(conflicts: readonly PolicyConflict[], sources: readonly PolicySource[]): ConflictExplain[] {
  const rankById = new Map(sources.map((s) => [s.rule_node_id, s.rank]));
  return conflicts.slice(0, MAX_CONFLICT_EXPLAIN).flatMap((c) => {
    const w = rankById.get(c.winner_rule_node_id);
    if (w === undefined) return [];
    const losers = sources
      .filter((s) => s.rule_node_id !== c.winner_rule_node_id && s.touched_paths.includes(c.path))
      .sort(rankDesc)
      .slice(0, MAX_LOSERS)
      .map((s) => ({ rule_node_id: s.rule_node_id, score: s.rank.score }));
    return [
      {
        path: c.path,
        winner: { rule_node_id: c.winner_rule_node_id, score: w.score, priority: w.priority, weight: w.weight, evidence_score: w.evidence_score, specificity: w.specificity },
        losers,
        reason: CONFLICT_REASON,
      },
    ];
  });
}

interface StateApplied {
  readonly policy: EffectivePolicy;
  readonly sources: readonly PolicySource[];
  readonly conflicts: readonly PolicyConflict[];
  readonly conflict_explain: readonly ConflictExplain[];
  readonly tool_explain: ToolExplain;
}

function applyState(matched: readonly Matched[]): StateApplied {
  const order = [...matched].sort(rankAsc);
  const conflicts: PolicyConflict[] = [];
  let merged: unknown = {};
  for (const m of order) merged = mergeValue(merged, m.patch, '', m.rule_node_id, conflicts, 0);
  const sources: PolicySource[] = order.map((m) => ({ rule_node_id: m.rule_node_id, state: m.state, commit_id: m.rule.commit_id, touched_paths: touchedPaths(m.patch), rank: m.rank }));
  const { tool, explain } = computeToolPolicy(order.map((m) => ({ rule_node_id: m.rule_node_id, rank: m.rank, ...(m.patch.tool ? { tool: m.patch.tool } : {}) })));
  const policy = Object.fromEntries(Object.entries(isJsonObject(merged) ? merged : {}));
  setOwn(policy, 'tool', tool);
  // Merging validated patches keeps the schema's shape (output scalars replaced, tool replaced
  // above, extensions an object), so the merged object is an EffectivePolicy.
  return { policy: policy as unknown as EffectivePolicy, sources, conflicts, conflict_explain: explainConflicts(conflicts, sources), tool_explain: explain };
}

function ruleMatch(m: Matched): RuleMatch {
  const r = m.rule;
  return {
    rule_node_id: r.rule_node_id,
    state: m.state,
    rule_scope: r.rule_scope,
    target_agent_id: r.target_agent_id,
    target_team_id: r.target_team_id,
    summary: r.summary,
    if_json: r.if_json,
    then_json: m.patch,
    exceptions_json: r.exceptions_json,
    stats: { positive: r.positive_count, negative: r.negative_count },
    rank: m.rank,
    match_detail: { condition_paths: m.conditionPaths, condition_path_count: m.conditionPaths.length },
    commit_id: r.commit_id,
  };
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export const INVALID_THEN_SAMPLE_MAX = 5;

export function evaluateRules(input: EvaluateInput): Evaluation {
  const context = isJsonObject(input.context) ? input.context : {};
  const limits = input.limits ?? DEFAULT_LIMITS;
  const total = input.totalLimits ?? DEFAULT_EVALUATION_LIMITS;
  let stepsLeft = total.steps;
  let regexLeft = total.regexWork;
  const { agentId, teamId } = contextIdentity(context);
  const reason = laneReason(agentId, teamId);
  const enforceLane = reason !== 'missing_agent_context';

  let filteredByScope = 0;
  let filteredByLane = 0;
  let filteredByCondition = 0;
  let legacyUnowned = 0;
  let regexSkipped = 0;
  const exhausted: string[] = [];
  const invalid: InvalidThenSample[] = [];
  let skippedInvalidThen = 0;
  const active: Matched[] = [];
  const shadow: Matched[] = [];

  for (const r of input.rules) {
    if (!passesScope(r, agentId, teamId)) {
      filteredByScope += 1;
      continue;
    }
    if (enforceLane) {
      const lane = laneVisibility(r, agentId, teamId);
      if (lane === 'hidden_unowned') legacyUnowned += 1;
      if (lane !== 'visible') {
        filteredByLane += 1;
        continue;
      }
    }
    const cond = conditionMatches(r.if_json, r.exceptions_json, context, { steps: Math.min(limits.steps, stepsLeft), regexWork: Math.min(limits.regexWork, regexLeft) });
    stepsLeft -= cond.steps;
    regexLeft -= cond.regexWork;
    regexSkipped += cond.regexSkipped;
    if (cond.exhausted) exhausted.push(r.rule_node_id);
    if (!cond.matched) {
      filteredByCondition += 1;
      continue;
    }
    const then = validatePatch(r.then_json);
    if (!then.ok) {
      skippedInvalidThen += 1;
      if (invalid.length < INVALID_THEN_SAMPLE_MAX) invalid.push({ rule_node_id: r.rule_node_id, state: r.state, commit_id: r.commit_id });
      continue;
    }
    if (r.state !== 'active' && r.state !== 'shadow') continue; // never fetched; nothing to report
    if (r.state === 'shadow' && !input.includeShadow) continue;
    const { rank, conditionPaths: paths } = rankOf(r);
    (r.state === 'active' ? active : shadow).push({ rule: r, state: r.state, rank, conditionPaths: paths, patch: then.patch, rule_node_id: r.rule_node_id });
  }

  const activeApplied = applyState(active);
  const applied: AppliedPolicy = {
    policy: activeApplied.policy,
    sources: activeApplied.sources,
    conflicts: activeApplied.conflicts,
    conflict_explain: activeApplied.conflict_explain,
    tool_explain: activeApplied.tool_explain,
    ...(input.includeShadow ? shadowMembers(applyState(shadow)) : {}),
  };
  const summary: AgentVisibilitySummary = {
    agent: { id: agentId, team_id: teamId },
    rule_scope: {
      scanned: input.rules.length,
      filtered_by_scope: filteredByScope,
      filtered_by_lane: filteredByLane,
      filtered_by_condition: filteredByCondition,
      skipped_invalid_then: skippedInvalidThen,
      matched_active: active.length,
      matched_shadow: shadow.length,
    },
    lane: { applied: enforceLane, reason, legacy_unowned_private_visible: 0, legacy_unowned_private_detected: legacyUnowned },
  };
  const response: EvaluateResponse = {
    considered: input.rules.length,
    matched: active.length + shadow.length,
    skipped_invalid_then: skippedInvalidThen,
    invalid_then_sample: invalid,
    active: [...active].sort(rankDesc).map(ruleMatch),
    shadow: [...shadow].sort(rankDesc).map(ruleMatch),
    agent_visibility_summary: summary,
    applied,
  };
  return { response, diagnostics: { budget_exhausted_rule_ids: exhausted, regex_skipped: regexSkipped } };
}

function shadowMembers(s: StateApplied): Pick<AppliedPolicy, 'shadow_policy' | 'shadow_sources' | 'shadow_conflicts' | 'shadow_conflict_explain' | 'shadow_tool_explain'> {
  return { shadow_policy: s.policy, shadow_sources: s.sources, shadow_conflicts: s.conflicts, shadow_conflict_explain: s.conflict_explain, shadow_tool_explain: s.tool_explain };
}

// ---------------------------------------------------------------------------------------------
// Projections

/** The `rules` block of recall (§2.3), to be preceded by `scope`: no active, shadow or visibility summary. */
export function forRecall(r: EvaluateResponse): Pick<EvaluateResponse, 'considered' | 'matched' | 'skipped_invalid_then' | 'invalid_then_sample' | 'applied'> {
  return { considered: r.considered, matched: r.matched, skipped_invalid_then: r.skipped_invalid_then, invalid_then_sample: r.invalid_then_sample, applied: r.applied };
}

export type SelectEvaluation = Pick<EvaluateResponse, 'considered' | 'matched' | 'skipped_invalid_then' | 'invalid_then_sample' | 'agent_visibility_summary' | 'applied'>;

/** The evaluation part of the tools/select `rules` block (§6.1 step 8); select.ts adds the summaries and the shadow preview. */
export function forSelect(r: EvaluateResponse): SelectEvaluation {
  return {
    considered: r.considered,
    matched: r.matched,
    skipped_invalid_then: r.skipped_invalid_then,
    invalid_then_sample: r.invalid_then_sample,
    agent_visibility_summary: r.agent_visibility_summary,
    applied: r.applied,
  };
}
