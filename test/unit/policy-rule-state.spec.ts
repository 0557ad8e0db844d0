import { TOOL_LIST_MAX, touchedPaths, validatePatch } from '../../src/data-plane/memory/policy/patch';
import { planRuleStateChange, ruleStateChangeDiff, validatePromotion, type RuleDefinitionFacts, type RuleNodeFacts } from '../../src/data-plane/memory/policy/rule-state';
import type { RuleState } from '../../src/data-plane/memory/policy/types';

const RULE = '111c92ba-d609-575a-9393-38894dcc91cf';

const node = (over: Partial<RuleNodeFacts> = {}): RuleNodeFacts => ({ slots: {}, memory_lane: 'shared', owner_agent_id: null, owner_team_id: null, ...over });
const def = (over: Partial<RuleDefinitionFacts> = {}): RuleDefinitionFacts => ({
  if_json: { intent: 'booking' },
  then_json: { output: { format: 'json' } },
  exceptions_json: [],
  rule_scope: 'global',
  target_agent_id: null,
  target_team_id: null,
  ...over,
});

const plan = (state: RuleState, n: RuleNodeFacts, d: RuleDefinitionFacts | null) => planRuleStateChange({ rule_node_id: RULE, state, node: n, definition: d });

describe('rules/state (contract §5.3)', () => {
  it('given a valid definition promoted to active, then the commit diff and last_activated, nothing to create', () => {
    expect(plan('active', node(), def())).toEqual({ ok: true, create: null, diff: { rule_state_change: [{ rule_node_id: RULE, state: 'active' }] }, touchLastActivated: true });
    expect(plan('shadow', node(), def())).toMatchObject({ ok: true, touchLastActivated: true });
  });

  it('given draft or disabled, then nothing is validated and last_activated is untouched', () => {
    const broken = def({ if_json: 'nope', then_json: { bogus: 1 } });
    expect(plan('draft', node({ memory_lane: 'private' }), broken)).toEqual({ ok: true, create: null, diff: ruleStateChangeDiff(RULE, 'draft'), touchLastActivated: false });
    expect(plan('disabled', node(), broken)).toMatchObject({ ok: true, touchLastActivated: false });
  });

  describe('validation on promotion, in the order listed', () => {
    const check = (n: RuleNodeFacts, d: RuleDefinitionFacts) => validatePromotion(RULE, n, d)?.code ?? null;

    it('a private node without an owner: invalid_private_rule_owner (first)', () => {
      expect(validatePromotion(RULE, node({ memory_lane: 'private' }), def({ if_json: 1 }))).toEqual({
        code: 'invalid_private_rule_owner',
        message: expect.any(String),
        details: { rule_node_id: RULE, memory_lane: 'private' },
      });
      expect(check(node({ memory_lane: 'private', owner_team_id: 'team-travel' }), def())).toBeNull();
    });

    it('if not a JSON object: invalid_rule_if_json (before exceptions)', () => {
      expect(check(node(), def({ if_json: [], exceptions_json: null }))).toBe('invalid_rule_if_json');
      expect(check(node(), def({ if_json: null }))).toBe('invalid_rule_if_json');
    });

    it('exceptions not an array: invalid_rule_exceptions_json (before then)', () => {
      expect(check(node(), def({ exceptions_json: {}, then_json: { bogus: true } }))).toBe('invalid_rule_exceptions_json');
    });

    it('then failing the strict patch schema: invalid_rule_then_json with the validator message in details.message', () => {
      const err = validatePromotion(RULE, node(), def({ then_json: { output: { format: 'yaml' }, tool: { allow: [''] }, extra: 1 }, rule_scope: 'agent' }));
      expect(err).toEqual({ code: 'invalid_rule_then_json', message: expect.any(String), details: { message: expect.any(String) } });
      const message = String(err?.details?.message);
      expect(message).toContain('extra: unrecognized key');
      expect(message).toContain('output.format');
      expect(message).toContain('tool.allow.0: expected a non-empty string');
    });

    it('agent or team scope without a target: invalid_rule_scope_target (last)', () => {
      expect(check(node(), def({ rule_scope: 'agent' }))).toBe('invalid_rule_scope_target');
      expect(check(node(), def({ rule_scope: 'team', target_team_id: '  ' }))).toBe('invalid_rule_scope_target');
      expect(check(node(), def({ rule_scope: 'team', target_team_id: 'team-travel' }))).toBeNull();
    });
  });

  describe('values come from the definition when it exists, otherwise from the node slots', () => {
    it('given a definition, then its values are validated, not the slots', () => {
      expect(plan('active', node({ slots: { if: 'broken' } }), def())).toMatchObject({ ok: true, create: null });
    });

    it('given no definition, then the slots are validated and the definition to create is derived from them', () => {
      const slots = { if: { intent: 'booking' }, then: { tool: { prefer: ['flight_search'] } }, rule_scope: 'Agent', target_agent_id: 'agent-planner' };
      expect(plan('active', node({ slots }), null)).toEqual({
        ok: true,
        create: { if_json: slots.if, then_json: slots.then, exceptions_json: [], rule_scope: 'agent', target_agent_id: 'agent-planner', target_team_id: null },
        diff: ruleStateChangeDiff(RULE, 'active'),
        touchLastActivated: true,
      });
      expect(plan('active', node({ slots: { rule_scope: 'team' } }), null)).toMatchObject({ ok: false, error: { code: 'invalid_rule_scope_target' } });
      expect(plan('shadow', node({ slots: { then: { tool: { deny: 'all' } } } }), null)).toMatchObject({ ok: false, error: { code: 'invalid_rule_then_json' } });
    });

    it('given empty slots, then the defaults ({} / {} / []) are valid', () => {
      expect(plan('active', node(), null)).toMatchObject({ ok: true, create: { if_json: {}, then_json: {}, exceptions_json: [], rule_scope: 'global' } });
    });
  });

  describe('the policy patch schema (§5.4), strict at every level', () => {
    it('given a valid patch, then it is returned in the schema\'s key order', () => {
      const out = validatePatch({ extensions: { 'x.y': [1, { z: null }] }, tool: { prefer: ['b'], allow: ['a'] }, output: { strict: false, format: 'markdown' } });
      expect(out.ok).toBe(true);
      expect(out.ok && JSON.stringify(out.patch)).toBe(JSON.stringify({ output: { format: 'markdown', strict: false }, tool: { allow: ['a'], prefer: ['b'] }, extensions: { 'x.y': [1, { z: null }] } }));
      expect(validatePatch({})).toEqual({ ok: true, patch: {} });
    });

    it('given unknown keys at any level, wrong types or over-long lists, then invalid with every issue listed', () => {
      const out = validatePatch({ output: { format: 'json', colour: 'red' }, tool: { allow: Array.from({ length: TOOL_LIST_MAX + 1 }, () => 't'), deny: [1], only: [] }, extensions: [] });
      expect(out.ok).toBe(false);
      expect(!out.ok && out.issues.map((i) => i.path)).toEqual(['output.colour', 'tool.only', 'tool.allow', 'tool.deny.0', 'extensions']);
      expect(!out.ok && out.message).toMatch(/^invalid policy patch: output\.colour: unrecognized key; /);
      for (const bad of [null, [], 'json', { output: null }, { tool: { prefer: 'x' } }, { output: { strict: 'yes' } }]) expect(validatePatch(bad).ok).toBe(false);
    });

    it('touched paths are the sorted leaf paths, "$" for an empty patch', () => {
      expect(touchedPaths({})).toEqual(['$']);
      expect(touchedPaths({ tool: { deny: ['x'] }, output: { format: 'json' } })).toEqual(['output.format', 'tool.deny']);
      expect(touchedPaths({ tool: {}, extensions: { a: { b: 1, c: null } } })).toEqual(['extensions.a.b', 'tool']);
    });
  });
});
