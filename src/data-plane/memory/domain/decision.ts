import { shaOf } from './ids';

/**
 * A recorded tools/select decision's own hash: every fact it was made from and made of, as first
 * recorded. A later adoption of a feedback's run id, or the link to the feedback commit, are not
 * part of it (the spec lets both change after the fact; the feedback commit names the decision).
 */
export interface DecisionFacts {
  readonly tenant_id: string;
  readonly project_key: string;
  readonly scope: string;
  readonly decision_id: string;
  readonly kind: 'tools_select' | 'created_from_feedback';
  readonly selected_tool: string | null;
  readonly candidates: readonly string[];
  readonly context_sha256: string;
  readonly policy_sha256: string;
  readonly source_rule_ids: readonly string[];
  /** The evaluation's inputs (include_shadow, rules_limit, strict or target) and the run id as decided. */
  readonly evaluation: Readonly<Record<string, unknown>>;
  readonly rules_head_commit_id: string | null;
  readonly rules_head_seq: number;
  readonly key_id: string;
  readonly created_at: string;
}

export function decisionHash(d: DecisionFacts): string {
  return shaOf({
    format: 1,
    tenant_id: d.tenant_id,
    project_key: d.project_key,
    scope: d.scope,
    decision_id: d.decision_id,
    kind: d.kind,
    selected_tool: d.selected_tool,
    candidates: d.candidates,
    context_sha256: d.context_sha256,
    policy_sha256: d.policy_sha256,
    source_rule_ids: d.source_rule_ids,
    evaluation: d.evaluation,
    rules_head_commit_id: d.rules_head_commit_id,
    rules_head_seq: d.rules_head_seq,
    key_id: d.key_id,
    created_at: d.created_at,
  });
}
