import { ruleSeedOf, type RuleSeed } from '../domain/write-plan';
import { validatePatch } from './patch';
import { isJsonObject } from './pattern';
import type { MemoryLane, RuleState } from './types';

/**
 * `/rules/state` (contract §5.3): the checks a promotion to `shadow` or `active` must pass, the
 * definition to create when the node has none yet, the commit diff, and whether the node's
 * `last_activated` is set. The service checks the node exists (`rule_not_found_in_scope`), then
 * calls planRuleStateChange, commits, upserts the definition and touches the node.
 */

export type RuleStateErrorCode = 'invalid_private_rule_owner' | 'invalid_rule_if_json' | 'invalid_rule_exceptions_json' | 'invalid_rule_then_json' | 'invalid_rule_scope_target';

export interface RuleStateError {
  readonly code: RuleStateErrorCode;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface RuleNodeFacts {
  readonly slots: Readonly<Record<string, unknown>>;
  readonly memory_lane: MemoryLane;
  readonly owner_agent_id: string | null;
  readonly owner_team_id: string | null;
}

/** The definition's fields that promotion validates (RuleSeed of the write path). */
export type RuleDefinitionFacts = RuleSeed;

export type RuleStatePlan =
  | {
      readonly ok: true;
      /** The definition to create from the node's slots when none exists; null when one exists (only its state and commit change). */
      readonly create: RuleDefinitionFacts | null;
      readonly diff: { readonly rule_state_change: readonly { readonly rule_node_id: string; readonly state: RuleState }[] };
      /** Promotions to shadow or active set the node's last_activated to now. */
      readonly touchLastActivated: boolean;
    }
  | { readonly ok: false; readonly error: RuleStateError };

const blank = (v: string | null): boolean => v === null || v.trim() === '';

/** Whether a state is evaluated (§5.2), i.e. whether entering it is a promotion that is validated. */
export const isLiveState = (s: RuleState): s is 'shadow' | 'active' => s === 'shadow' || s === 'active';

/**
 * §5.3 step 2, in the order listed; the values come from the definition when it exists, otherwise
 * from the node's slots (as the definition would be created from them). Null when valid.
 */
export function validatePromotion(ruleNodeId: string, node: RuleNodeFacts, def: RuleDefinitionFacts): RuleStateError | null {
  if (node.memory_lane === 'private' && blank(node.owner_agent_id) && blank(node.owner_team_id)) {
    return { code: 'invalid_private_rule_owner', message: 'a private rule needs owner_agent_id or owner_team_id', details: { rule_node_id: ruleNodeId, memory_lane: node.memory_lane } };
  }
  if (!isJsonObject(def.if_json)) return { code: 'invalid_rule_if_json', message: 'the rule condition (if) must be a JSON object' };
  if (!Array.isArray(def.exceptions_json)) return { code: 'invalid_rule_exceptions_json', message: 'the rule exceptions must be an array' };
  const then = validatePatch(def.then_json);
  if (!then.ok) return { code: 'invalid_rule_then_json', message: 'the rule policy (then) does not match the policy patch schema', details: { message: then.message } };
  if (def.rule_scope === 'agent' && blank(def.target_agent_id)) return { code: 'invalid_rule_scope_target', message: 'an agent-scoped rule needs target_agent_id' };
  if (def.rule_scope === 'team' && blank(def.target_team_id)) return { code: 'invalid_rule_scope_target', message: 'a team-scoped rule needs target_team_id' };
  return null;
}

/** §5.3 steps 2-5 for a rule node that exists in the scope; `definition` is its stored definition, if any. */
export function planRuleStateChange(input: { readonly rule_node_id: string; readonly state: RuleState; readonly node: RuleNodeFacts; readonly definition: RuleDefinitionFacts | null }): RuleStatePlan {
  const create = input.definition === null ? ruleSeedOf(input.node.slots) : null;
  if (isLiveState(input.state)) {
    const error = validatePromotion(input.rule_node_id, input.node, input.definition ?? ruleSeedOf(input.node.slots));
    if (error !== null) return { ok: false, error };
  }
  return { ok: true, create, diff: ruleStateChangeDiff(input.rule_node_id, input.state), touchLastActivated: isLiveState(input.state) };
}

/** §5.3 step 3: the `rule_state_change` commit's diff. */
export function ruleStateChangeDiff(ruleNodeId: string, state: RuleState): { readonly rule_state_change: readonly { readonly rule_node_id: string; readonly state: RuleState }[] } {
  return { rule_state_change: [{ rule_node_id: ruleNodeId, state }] };
}
