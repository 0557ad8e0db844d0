import { type ChainProblem, type StoredCommit, verifyChain } from './commit';
import { decisionHash } from './decision';
import type { MemoryLane } from './model';
import { rulesAsOf } from './rule-history';
import { evaluateRules } from '../policy/evaluate';
import { contextSha256, decisionFields, policySha256, selectTools } from '../policy/select';
import type { EffectivePolicy, LoadedRule } from '../policy/types';

/**
 * Is a recorded decision what the rules, as they stood at its commit, decide? Pure: given the
 * stored decision, the scope's chain up to (at least) the decision's head, and the scope's rule
 * nodes, recompute everything that can be recomputed and name every difference.
 */
export interface StoredDecision {
  readonly tenant_id: string;
  readonly project_key: string;
  readonly scope: string;
  readonly decision_id: string;
  readonly kind: 'tools_select' | 'created_from_feedback';
  readonly selected_tool: string | null;
  readonly candidates: string[];
  readonly context: unknown;
  readonly context_sha256: string;
  readonly policy: unknown;
  readonly policy_sha256: string;
  readonly source_rule_ids: string[];
  readonly evaluation: Record<string, unknown>;
  readonly rules_head_commit_id: string | null;
  readonly rules_head_seq: number;
  readonly key_id: string;
  readonly decision_hash: string;
  readonly created_at: string;
}

export interface RuleNodeRow {
  readonly id: string;
  readonly summary: string | null;
  readonly slots: Readonly<Record<string, unknown>>;
  readonly memory_lane: MemoryLane;
  readonly owner_agent_id: string | null;
  readonly owner_team_id: string | null;
}

export interface VerificationCheck {
  readonly name: string;
  readonly pass: boolean;
  readonly detail: string;
  readonly expected?: unknown;
  readonly actual?: unknown;
}

export interface DecisionVerification {
  readonly ok: boolean;
  readonly checks: readonly VerificationCheck[];
  readonly recomputed: { readonly policy: EffectivePolicy; readonly policy_sha256: string; readonly selected_tool: string | null; readonly source_rule_ids: readonly string[] } | null;
}

const bool = (v: unknown, d: boolean): boolean => (typeof v === 'boolean' ? v : d);
const int = (v: unknown, d: number): number => (typeof v === 'number' && Number.isInteger(v) ? v : d);

/** The shadow and active rules of the scope as fetched at the decision: newest change first (ties by id), at most the decision's limit. */
export function liveRulesAsOf(commits: readonly StoredCommit[], nodes: readonly RuleNodeRow[], seq: number, limit: number): LoadedRule[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const folded = rulesAsOf(commits, byId, seq);
  return [...folded.values()]
    .filter((r) => r.state === 'shadow' || r.state === 'active')
    .sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : a.rule_node_id < b.rule_node_id ? -1 : a.rule_node_id > b.rule_node_id ? 1 : 0))
    .slice(0, limit)
    .flatMap((r) => {
      const n = byId.get(r.rule_node_id);
      return n ? [{ ...r, summary: n.summary, node_slots: n.slots, memory_lane: n.memory_lane, owner_agent_id: n.owner_agent_id, owner_team_id: n.owner_team_id }] : [];
    });
}

export function verifyDecision(d: StoredDecision, commits: readonly StoredCommit[], nodes: readonly RuleNodeRow[], scopeKey: string): DecisionVerification {
  const checks: VerificationCheck[] = [];
  const check = (name: string, pass: boolean, detail: string, expected?: unknown, actual?: unknown) =>
    checks.push({ name, pass, detail, ...(pass ? {} : { expected, actual }) });

  const hash = decisionHash({ ...d, evaluation: d.evaluation });
  check('decision_hash_valid', hash === d.decision_hash, 'the decision row hashes to its stored decision_hash (no field edited since it was recorded)', d.decision_hash, hash);
  const pSha = policySha256(d.policy as EffectivePolicy);
  check('stored_policy_matches_hash', pSha === d.policy_sha256, 'the stored policy hashes to the stored policy_sha256', d.policy_sha256, pSha);
  const cSha = contextSha256(d.context);
  check('stored_context_matches_hash', cSha === d.context_sha256, 'the stored context hashes to the stored context_sha256', d.context_sha256, cSha);

  const upTo = commits.filter((c) => c.seq <= d.rules_head_seq);
  const headRow = d.rules_head_seq === 0 ? null : upTo.find((c) => c.seq === d.rules_head_seq);
  const headOk = d.rules_head_seq === 0 ? d.rules_head_commit_id === null : headRow?.commit_id === d.rules_head_commit_id;
  check('rules_head_in_chain', headOk, `the scope's chain holds the decision's head commit at seq ${d.rules_head_seq}`, d.rules_head_commit_id, headRow?.commit_id ?? null);
  const hashOf = new Map(upTo.map((c) => [c.commit_id, c.commit_hash]));
  const problems: ChainProblem[] = verifyChain({ tenantId: d.tenant_id, projectKey: d.project_key, scope: d.scope, scopeKey }, upTo, (id) => hashOf.get(id) ?? null);
  check('chain_intact_to_head', problems.length === 0, `every commit up to the decision's head recomputes (${upTo.length} commits)`, [], problems.slice(0, 5));
  if (!headOk) return { ok: false, checks, recomputed: null };

  const includeShadow = bool(d.evaluation.include_shadow, false);
  const rules = liveRulesAsOf(commits, nodes, d.rules_head_seq, int(d.evaluation.rules_limit, 50));
  const { response } = evaluateRules({ rules, context: d.context, includeShadow });
  const f = decisionFields(d.context, response);
  let selected: string | null = d.selected_tool;
  if (d.kind === 'tools_select') {
    const s = selectTools({ candidates: d.candidates, evaluation: response, strict: bool(d.evaluation.strict, true), includeShadow });
    selected = s.ok ? s.selection.selected : null;
    check('selection_recomputed', s.ok && selected === d.selected_tool, 'the same candidates under the recomputed policy select the same tool', d.selected_tool, s.ok ? selected : 'no_tools_allowed');
  }
  check('policy_recomputed', f.policy_sha256 === d.policy_sha256, "the rules as they stood at the decision's commit, evaluated on the stored context, give the stored policy hash", d.policy_sha256, f.policy_sha256);
  const sources = d.kind === 'tools_select' ? f.source_rule_ids : d.source_rule_ids;
  check('source_rules_recomputed', JSON.stringify(sources) === JSON.stringify(d.source_rule_ids), 'the recomputed active source rules are the stored ones', d.source_rule_ids, sources);
  return { ok: checks.every((c) => c.pass), checks, recomputed: { policy: response.applied.policy, policy_sha256: f.policy_sha256, selected_tool: selected, source_rule_ids: sources } };
}
