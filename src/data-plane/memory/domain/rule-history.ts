import type { CommitKind } from './commit';
import type { RuleScope, RuleState } from './model';
import { ruleSeedOf } from './write-plan';

/**
 * The rule definitions of a scope as they stood after a given commit, folded from the scope's
 * commit chain (pure). The chain is the history: write commits create rule definitions (draft,
 * from the node's slots), rule_state_change commits move states, tool_feedback and rule_feedback
 * commits count outcomes. A definition's `updated_at` and `commit_id` are those of its creating
 * or last state-changing commit (feedback changes only the counts), exactly as the live path
 * stores them, so a re-evaluation fetches the same rules in the same order.
 */
export interface ChainCommit {
  readonly seq: number;
  readonly commit_id: string;
  readonly kind: CommitKind;
  readonly format: number;
  readonly diff: unknown;
  readonly created_at: string;
}

export interface RuleNodeFacts {
  readonly slots: Readonly<Record<string, unknown>>;
}

export interface FoldedRule {
  readonly rule_node_id: string;
  readonly state: RuleState;
  readonly if_json: unknown;
  readonly then_json: unknown;
  readonly exceptions_json: unknown;
  readonly rule_scope: RuleScope;
  readonly target_agent_id: string | null;
  readonly target_team_id: string | null;
  readonly positive_count: number;
  readonly negative_count: number;
  readonly commit_id: string;
  readonly updated_at: string;
}

const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const STATES: readonly RuleState[] = ['draft', 'shadow', 'active', 'disabled'];

/** Fold the commits (in seq order) up to and including `uptoSeq`; `nodes` are the scope's rule nodes by id. */
export function rulesAsOf(commits: readonly ChainCommit[], nodes: ReadonlyMap<string, RuleNodeFacts>, uptoSeq: number): Map<string, FoldedRule> {
  const rules = new Map<string, FoldedRule>();
  const create = (id: string, state: RuleState, c: ChainCommit): FoldedRule | null => {
    const node = nodes.get(id);
    if (!node) return null;
    return { rule_node_id: id, state, ...ruleSeedOf(node.slots), positive_count: 0, negative_count: 0, commit_id: c.commit_id, updated_at: c.created_at };
  };
  const count = (id: string, outcome: unknown) => {
    const r = rules.get(id);
    if (!r || (outcome !== 'positive' && outcome !== 'negative')) return;
    rules.set(id, outcome === 'positive' ? { ...r, positive_count: r.positive_count + 1 } : { ...r, negative_count: r.negative_count + 1 });
  };
  for (const c of commits) {
    if (c.seq > uptoSeq) break;
    if (c.format !== 2) continue;
    const diff = obj(c.diff);
    switch (c.kind) {
      case 'write':
        for (const n of arr(diff.nodes)) {
          const id = String(obj(n).id ?? '').toLowerCase();
          if (obj(n).type === 'rule' && !rules.has(id)) {
            const r = create(id, 'draft', c);
            if (r) rules.set(id, r);
          }
        }
        break;
      case 'rule_state_change':
        for (const e of arr(diff.rule_state_change)) {
          const id = String(obj(e).rule_node_id ?? '').toLowerCase();
          const state = obj(e).state as RuleState;
          if (!STATES.includes(state)) continue;
          const prev = rules.get(id);
          const next = prev ? { ...prev, state, commit_id: c.commit_id, updated_at: c.created_at } : create(id, state, c);
          if (next) rules.set(id, next);
        }
        break;
      case 'tool_feedback':
        for (const e of arr(diff.tool_feedback)) for (const id of arr(obj(e).rule_node_ids)) count(String(id).toLowerCase(), obj(e).outcome);
        break;
      case 'rule_feedback':
        for (const e of arr(diff.feedback)) count(String(obj(e).rule_node_id ?? '').toLowerCase(), obj(e).outcome);
        break;
      case 'archive_rehydrate':
      case 'nodes_activate':
        break;
    }
  }
  return rules;
}
