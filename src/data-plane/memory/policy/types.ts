/**
 * The plain data the Memory -> Policy engine works on (contract §2.11-2.15, §5, §6). Everything
 * here is JSON-shaped: inputs are what the repositories read, outputs are what the routes answer.
 * The engine is pure: no I/O, no clock, no randomness; the service does the reads and writes
 * around it and maps the error values to its AppError codes (same names as the contract's).
 */

export type RuleState = 'draft' | 'shadow' | 'active' | 'disabled';
export type RuleScope = 'global' | 'team' | 'agent';
export type MemoryLane = 'private' | 'shared';
/** The two states evaluation sees (§5.2: drafts and disabled rules are never fetched). */
export type LiveState = 'shadow' | 'active';
export type Outcome = 'positive' | 'negative' | 'neutral';

/** A rule definition joined with what its node contributes, as evaluation reads it (§5.1, §5.5 step 1). */
export interface LoadedRule {
  /** Lowercase uuid. */
  readonly rule_node_id: string;
  readonly state: RuleState;
  readonly rule_scope: RuleScope;
  readonly target_agent_id: string | null;
  readonly target_team_id: string | null;
  readonly if_json: unknown;
  readonly then_json: unknown;
  readonly exceptions_json: unknown;
  readonly positive_count: number;
  readonly negative_count: number;
  /** The definition's commit. */
  readonly commit_id: string;
  /** ISO timestamp. */
  readonly updated_at: string;
  // From the rule NODE:
  /** The node's text_summary. */
  readonly summary: string | null;
  /** The node's current slots: priority and weight are read from here at evaluation time (§5.1). */
  readonly node_slots: Readonly<Record<string, unknown>>;
  readonly memory_lane: MemoryLane;
  readonly owner_agent_id: string | null;
  readonly owner_team_id: string | null;
}

// ---------------------------------------------------------------------------------------------
// Policy patch (§5.4)

export type OutputFormat = 'json' | 'text' | 'markdown';

export interface OutputPatch {
  readonly format?: OutputFormat;
  readonly strict?: boolean;
}

export interface ToolPatch {
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
  readonly prefer?: readonly string[];
}

/** A `then` that passed the strict schema. */
export interface PolicyPatch {
  readonly output?: OutputPatch;
  readonly tool?: ToolPatch;
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/** The merged policy of one state: a patch whose `tool` is always present (§5.6 tool policy override). */
export interface EffectivePolicy {
  readonly output?: OutputPatch;
  readonly tool: ToolPatch;
  readonly extensions?: Readonly<Record<string, unknown>>;
}

// ---------------------------------------------------------------------------------------------
// Evaluation (§5.6)

export interface Rank {
  readonly score: number;
  readonly evidence_score: number;
  readonly priority: number;
  readonly weight: number;
  readonly specificity: number;
}

export interface RuleMatch {
  readonly rule_node_id: string;
  readonly state: LiveState;
  readonly rule_scope: RuleScope;
  readonly target_agent_id: string | null;
  readonly target_team_id: string | null;
  readonly summary: string | null;
  readonly if_json: unknown;
  /** The validated patch. */
  readonly then_json: PolicyPatch;
  readonly exceptions_json: unknown;
  readonly stats: { readonly positive: number; readonly negative: number };
  readonly rank: Rank;
  readonly match_detail: { readonly condition_paths: readonly string[]; readonly condition_path_count: number };
  readonly commit_id: string;
}

export interface InvalidThenSample {
  readonly rule_node_id: string;
  readonly state: RuleState;
  readonly commit_id: string;
}

export interface PolicySource {
  readonly rule_node_id: string;
  readonly state: LiveState;
  readonly commit_id: string;
  readonly touched_paths: readonly string[];
  readonly rank: Rank;
}

export interface PolicyConflict {
  readonly path: string;
  readonly winner_rule_node_id: string;
}

export interface ConflictExplain {
  readonly path: string;
  readonly winner: {
    readonly rule_node_id: string;
    readonly score: number;
    readonly priority: number;
    readonly weight: number;
    readonly evidence_score: number;
    readonly specificity: number;
  };
  readonly losers: readonly { readonly rule_node_id: string; readonly score: number }[];
  readonly reason: string;
}

export interface ToolContribution {
  readonly rule_node_id: string;
  readonly score: number;
  readonly evidence_score: number;
  readonly priority: number;
  readonly weight: number;
  readonly specificity: number;
  readonly allow_n: number;
  readonly deny_n: number;
  readonly prefer_n: number;
  readonly first_prefer: string | null;
}

export type ToolConflictCode = 'allow_intersection' | 'allow_intersection_empty' | 'prefer_competing_top_choice';

export interface ToolConflict {
  readonly code: ToolConflictCode;
  readonly message: string;
  readonly details?: unknown;
  readonly winner_rule_node_id?: string | null;
}

export interface ToolExplain {
  readonly notes: readonly string[];
  readonly contributions: readonly ToolContribution[];
  readonly winners: {
    readonly prefer_by_tool: Readonly<Record<string, string>>;
    readonly deny_by_tool: Readonly<Record<string, string>>;
  };
  readonly conflicts: readonly ToolConflict[];
}

export interface AppliedPolicy {
  readonly policy: EffectivePolicy;
  readonly sources: readonly PolicySource[];
  readonly conflicts: readonly PolicyConflict[];
  readonly conflict_explain: readonly ConflictExplain[];
  readonly tool_explain: ToolExplain;
  // Only when shadow output is requested:
  readonly shadow_policy?: EffectivePolicy;
  readonly shadow_sources?: readonly PolicySource[];
  readonly shadow_conflicts?: readonly PolicyConflict[];
  readonly shadow_conflict_explain?: readonly ConflictExplain[];
  readonly shadow_tool_explain?: ToolExplain;
}

export type LaneReason = 'enforced_agent_team' | 'enforced_agent_only' | 'enforced_team_only' | 'missing_agent_context';

export interface AgentVisibilitySummary {
  readonly agent: { readonly id: string | null; readonly team_id: string | null };
  readonly rule_scope: {
    readonly scanned: number;
    readonly filtered_by_scope: number;
    readonly filtered_by_lane: number;
    readonly filtered_by_condition: number;
    readonly skipped_invalid_then: number;
    readonly matched_active: number;
    readonly matched_shadow: number;
  };
  readonly lane: {
    readonly applied: boolean;
    readonly reason: LaneReason;
    readonly legacy_unowned_private_visible: number;
    readonly legacy_unowned_private_detected: number;
  };
}

/** The §5.6 response without `tenant_id` and `scope` (the caller adds them). */
export interface EvaluateResponse {
  readonly considered: number;
  readonly matched: number;
  readonly skipped_invalid_then: number;
  readonly invalid_then_sample: readonly InvalidThenSample[];
  readonly active: readonly RuleMatch[];
  readonly shadow: readonly RuleMatch[];
  readonly agent_visibility_summary: AgentVisibilitySummary;
  readonly applied: AppliedPolicy;
}

/**
 * What evaluation observed about its own bounds, for metrics and logs (never part of a response):
 * rules whose condition ran out of budget (treated as not matching) and `$regex` operators that
 * were not run because of the length caps or an unsupported construct (treated as false).
 */
export interface EvaluationDiagnostics {
  readonly budget_exhausted_rule_ids: readonly string[];
  readonly regex_skipped: number;
}

export interface Evaluation {
  readonly response: EvaluateResponse;
  readonly diagnostics: EvaluationDiagnostics;
}
