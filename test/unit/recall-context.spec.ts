import { spreadActivation } from '../../src/data-plane/memory/recall/activation';
import {
  assembleContext,
  charBudget,
  compactLines,
  ruleNodeIds,
  type ContextInput,
  type ContextLine,
  type ContextOptions,
} from '../../src/data-plane/memory/recall/context';
import { type GraphNode, type NodeType, type RankedNode, type RuleDefinition } from '../../src/data-plane/memory/recall/types';

const COMMIT = '08c269c4-ec60-405c-b59f-d88f6e8a773a';
const MARIA = '46b4c798-6f5d-5574-9514-85a8d784fdd8';
const DIET = '7919ed2e-9ac2-5804-8b13-1b720871bed6';

function node(id: string, type: NodeType, over: Partial<GraphNode> = {}): GraphNode {
  return {
    id,
    client_id: null,
    type,
    tier: 'hot',
    title: null,
    text_summary: null,
    slots: {},
    raw_ref: null,
    evidence_ref: null,
    embedding_status: 'ready',
    embedding_model: 'client',
    memory_lane: 'shared',
    producer_agent_id: null,
    owner_agent_id: null,
    owner_team_id: null,
    salience: 0.5,
    importance: 0.5,
    confidence: 0.5,
    created_at: '2026-02-20T09:14:03.512Z',
    updated_at: '2026-02-20T09:14:03.512Z',
    last_activated: null,
    commit_id: COMMIT,
    ...over,
  };
}

function definition(ruleId: string, over: Partial<RuleDefinition> = {}): RuleDefinition {
  return {
    rule_node_id: ruleId,
    state: 'active',
    rule_scope: 'global',
    target_agent_id: null,
    target_team_id: null,
    if_json: {},
    then_json: {},
    exceptions_json: [],
    positive_count: 0,
    negative_count: 0,
    commit_id: 'def-commit',
    ...over,
  };
}

/** rankedAll in the given order (scores strictly descending), everything loaded and shown. */
function input(nodes: readonly GraphNode[], over: Partial<ContextInput> = {}): ContextInput {
  const rankedAll: RankedNode[] = nodes.map((n, i) => ({ id: n.id, activation: 1, score: 1 - i / 1000 }));
  return {
    rankedAll,
    nodes: new Map(nodes.map((n) => [n.id, n])),
    outputNodeIds: new Set(nodes.map((n) => n.id)),
    ruleDefinitions: new Map(),
    ...over,
  };
}

const plain: ContextOptions = { slotsVisible: false };

function events(count: number, prefix = 'ev'): GraphNode[] {
  return Array.from({ length: count }, (_, i) => node(`${prefix}${i + 1}`, 'event', { text_summary: `event ${i + 1}` }));
}

describe('context assembly: the §2.3 / §2.4 example', () => {
  const maria = node(MARIA, 'entity', { title: 'Maria', text_summary: 'Frequent flyer, Lisbon office' });
  const diet = node(DIET, 'event', { text_summary: 'Maria is vegetarian and prefers window seats' });
  const edges = [{ id: 'e', type: 'related_to' as const, src_id: DIET, dst_id: MARIA, weight: 0.9, confidence: 0.85, commit_id: COMMIT }];

  it('given the recall example ranking (event above entity), when assembled, then entities come before events in text, items and citations', () => {
    const nodes = new Map([diet, maria].map((n) => [n.id, n]));
    const { rankedAll } = spreadActivation({ seeds: [{ node: diet, similarity: 0.83, rule_state: null }, { node: maria, similarity: -0.05, rule_state: null }], nodes, edges, hops: 1 });
    const context = assembleContext({ rankedAll, nodes, outputNodeIds: nodes, ruleDefinitions: new Map() }, plain);
    expect(context.text).toBe(
      '# Entities\n- Maria: Frequent flyer, Lisbon office (node:46b4c798-6f5d-5574-9514-85a8d784fdd8)\n\n# Supporting Events / Evidence\n- Maria is vegetarian and prefers window seats (node:7919ed2e-9ac2-5804-8b13-1b720871bed6)',
    );
    expect(context.text).toHaveLength(216);
    expect(context.items).toEqual([
      { kind: 'entity', node_id: MARIA, title: 'Maria', summary: 'Frequent flyer, Lisbon office', commit_id: COMMIT },
      { kind: 'event', node_id: DIET, summary: 'Maria is vegetarian and prefers window seats', raw_ref: null, evidence_ref: null, commit_id: COMMIT },
    ]);
    expect(context.items.map((item) => Object.keys(item))).toEqual([
      ['kind', 'node_id', 'title', 'summary', 'commit_id'],
      ['kind', 'node_id', 'summary', 'raw_ref', 'evidence_ref', 'commit_id'],
    ]);
    expect(context.citations).toEqual([
      { node_id: MARIA, commit_id: COMMIT, raw_ref: null, evidence_ref: null },
      { node_id: DIET, commit_id: COMMIT, raw_ref: null, evidence_ref: null },
    ]);
    expect(context.compaction).toEqual({
      profile: 'balanced',
      token_budget: null,
      char_budget: null,
      applied: false,
      before_chars: 216,
      after_chars: 216,
      before_est_tokens: 54,
      after_est_tokens: 54,
      dropped_lines: 0,
      dropped_by_section: { topics: 0, entities: 0, events: 0, rules: 0 },
    });
  });

  it('given the recall_text example ranking (entity above event), when assembled, then the text is the same', () => {
    const context = assembleContext(input([maria, diet]), plain);
    expect(context.text).toBe(
      '# Entities\n- Maria: Frequent flyer, Lisbon office (node:46b4c798-6f5d-5574-9514-85a8d784fdd8)\n\n# Supporting Events / Evidence\n- Maria is vegetarian and prefers window seats (node:7919ed2e-9ac2-5804-8b13-1b720871bed6)',
    );
  });
});

describe('context selection (contract §4.1)', () => {
  it('given nothing ranked, when assembled, then text, items and citations are empty', () => {
    const context = assembleContext(input([]), plain);
    expect([context.text, context.items, context.citations]).toEqual(['', [], []]);
  });

  it('given more nodes than each group holds, when selected, then topics 4, entities 6, events 10 and rules 6 are kept, in rank order', () => {
    const topics = [node('draft', 'topic', { slots: { topic_state: 'draft' } }), ...['t1', 't2', 't3'].map((id) => node(id, 'topic')), node('c1', 'concept'), node('c2', 'concept')];
    const entities = Array.from({ length: 7 }, (_, i) => node(`en${i + 1}`, 'entity'));
    const rules = Array.from({ length: 7 }, (_, i) => node(`ru${i + 1}`, 'rule'));
    const never = [node('proc', 'procedure'), node('self', 'self_model')];
    const context = assembleContext(input([...never, ...topics, ...entities, ...events(12), ...rules]), plain);
    expect(context.items.map((item) => item.node_id)).toEqual([
      't1', 't2', 't3', 'c1',
      'en1', 'en2', 'en3', 'en4', 'en5', 'en6',
      'ev1', 'ev2', 'ev3', 'ev4', 'ev5', 'ev6', 'ev7', 'ev8', 'ev9', 'ev10',
      'ru1', 'ru2', 'ru3', 'ru4', 'ru5', 'ru6',
    ]);
    expect(context.citations.map((c) => c.node_id)).toEqual(context.items.map((item) => item.node_id));
  });

  it('given a ranked node that was not loaded, when selected, then it is skipped', () => {
    const context = assembleContext({ ...input([node('a', 'entity')]), rankedAll: [{ id: 'ghost', activation: 1, score: 1 }, { id: 'a', activation: 1, score: 0.5 }] }, plain);
    expect(context.items.map((item) => item.node_id)).toEqual(['a']);
  });

  describe('compression concepts', () => {
    const rollup = node('c1', 'concept', {
      title: 'Week 7',
      text_summary: 'Travel preferences',
      slots: { summary_kind: 'compression_rollup', source_event_count: 12, citations: [{ node_id: 'ev1' }, { node_id: 'ev2' }, { node_id: 'ev3' }, { node_id: 'ev4' }, 'junk'] },
    });

    it('given slots are visible, when a compression concept is selected, then its cited events are removed and 5 of the rest are kept', () => {
      const context = assembleContext(input([rollup, ...events(30)]), { slotsVisible: true });
      expect(context.items.map((item) => item.node_id)).toEqual(['c1', 'ev5', 'ev6', 'ev7', 'ev8', 'ev9']);
      expect(context.text.split('\n').slice(0, 5)).toEqual([
        '# Topics / Concepts',
        '- Week 7: Travel preferences (node:c1, compression, covers=12)',
        '  evidence_node=ev1',
        '  evidence_node=ev2',
        '  evidence_node=ev3',
      ]);
    });

    it('given cited events beyond the 24 gathered, when selecting, then only the first 24 ranked events are considered', () => {
      const many = events(30);
      const concept = node('c1', 'concept', { slots: { summary_kind: 'compression_rollup', citations: many.slice(0, 20).map((e) => ({ node_id: e.id })) } });
      const context = assembleContext(input([concept, ...many]), { slotsVisible: true });
      expect(context.items.map((item) => item.node_id)).toEqual(['c1', 'ev21', 'ev22', 'ev23', 'ev24']);
      expect(context.text).toContain('- c1 (node:c1, compression, covers=0)');
    });

    it('given slots are not visible, when the same concept is selected, then it is a plain concept and 10 events are kept', () => {
      const context = assembleContext(input([rollup, ...events(30)]), plain);
      expect(context.items).toHaveLength(11);
      expect(context.text.split('\n')[1]).toBe('- Week 7: Travel preferences (node:c1)');
    });

    it('given compact mode, when rendered, then evidence pointers are cut to 2 (balanced) or 1 (aggressive)', () => {
      const balanced = assembleContext(input([rollup, ...events(30)]), { slotsVisible: true, contextCharBudget: 100_000 });
      expect(balanced.text.match(/evidence_node=/g)).toHaveLength(2);
      const aggressive = assembleContext(input([rollup, ...events(30)]), { slotsVisible: true, profile: 'aggressive' });
      expect(aggressive.text.match(/evidence_node=/g)).toHaveLength(1);
    });
  });

  it('given compact mode, when selecting events, then a char budget keeps 5 (balanced) and the aggressive profile keeps 2', () => {
    const byBudget = assembleContext(input(events(12)), { slotsVisible: false, contextTokenBudget: 10_000 });
    expect(byBudget.items.map((item) => item.node_id)).toEqual(['ev1', 'ev2', 'ev3', 'ev4', 'ev5']);
    const aggressive = assembleContext(input(events(12)), { slotsVisible: false, profile: 'aggressive' });
    expect(aggressive.items.map((item) => item.node_id)).toEqual(['ev1', 'ev2']);
    expect(aggressive.compaction.char_budget).toBeNull();
  });
});

describe('context items and lines (contract §4.2, §4.3)', () => {
  it('given topics, concepts and entities with and without title or summary, when rendered, then the title falls back to the id and absent keys are omitted', () => {
    const context = assembleContext(input([node('t1', 'topic', { title: 'Diet' }), node('c1', 'concept', { text_summary: 'only a summary' }), node('en1', 'entity')]), plain);
    expect(context.text).toBe('# Topics / Concepts\n- Diet (node:t1)\n- c1: only a summary (node:c1)\n\n# Entities\n- en1 (node:en1)');
    expect(context.items).toEqual([
      { kind: 'topic', node_id: 't1', title: 'Diet', commit_id: COMMIT },
      { kind: 'concept', node_id: 'c1', summary: 'only a summary', commit_id: COMMIT },
      { kind: 'entity', node_id: 'en1', commit_id: COMMIT },
    ]);
  });

  it('given events with and without refs or summary, when rendered, then refs are appended and a missing summary reads "(no summary)"', () => {
    const context = assembleContext(input([node('ev1', 'event', { raw_ref: 's3://raw/1', evidence_ref: 'doc:7' }), node('ev2', 'evidence', { text_summary: 'receipt', evidence_ref: 'doc:8' })]), plain);
    expect(context.text).toBe('# Supporting Events / Evidence\n- (no summary) (node:ev1, raw_ref=s3://raw/1, evidence_ref=doc:7)\n- receipt (node:ev2, evidence_ref=doc:8)');
    expect(context.items[0]).toEqual({ kind: 'event', node_id: 'ev1', raw_ref: 's3://raw/1', evidence_ref: 'doc:7', commit_id: COMMIT });
    expect(context.citations[1]).toEqual({ node_id: 'ev2', commit_id: COMMIT, raw_ref: null, evidence_ref: 'doc:8' });
  });

  it('given a rule in subgraph.nodes with a loaded definition, when rendered, then its fields come from the definition, with if= and then= lines under balanced', () => {
    const rule = node('r1', 'rule', { text_summary: 'Prefer the planner tool', slots: { if: { ignored: true } } });
    const def = definition('r1', { rule_scope: 'agent', target_agent_id: 'agent-planner', if_json: { intent: 'booking' }, then_json: { tool: { prefer: ['planner'] } }, positive_count: 3, negative_count: 1 });
    const context = assembleContext(input([rule], { ruleDefinitions: new Map([['r1', def]]) }), { slotsVisible: true });
    expect(context.items).toEqual([
      {
        kind: 'rule',
        node_id: 'r1',
        state: 'active',
        rule_scope: 'agent',
        target_agent_id: 'agent-planner',
        summary: 'Prefer the planner tool',
        if_json: { intent: 'booking' },
        then_json: { tool: { prefer: ['planner'] } },
        exceptions_json: [],
        stats: { positive: 3, negative: 1 },
        commit_id: COMMIT,
      },
    ]);
    expect(context.text).toBe(
      '# Applicable Rules (Shadow/Active)\n- state=active scope=agent target_agent=agent-planner pos=3 neg=1 summary=Prefer the planner tool (node:r1)\n  if={"intent":"booking"}\n  then={"tool":{"prefer":["planner"]}}',
    );
  });

  it('given team and global rules, when rendered, then only the team rule shows a target', () => {
    const team = node('r1', 'rule');
    const global = node('r2', 'rule');
    const defs = new Map([
      ['r1', definition('r1', { state: 'shadow', rule_scope: 'team', target_team_id: 'ops', target_agent_id: 'ignored' })],
      ['r2', definition('r2', { target_agent_id: 'not-shown' })],
    ]);
    const context = assembleContext(input([team, global], { ruleDefinitions: defs }), { slotsVisible: false, profile: 'aggressive' });
    expect(context.text).toBe('# Applicable Rules (Shadow/Active)\n- state=shadow scope=team target_team=ops pos=0 neg=0 summary=(none) (node:r1)\n- state=active scope=global pos=0 neg=0 summary=(none) (node:r2)');
  });

  it('given a rule outside subgraph.nodes, when rendered, then it falls back to visible slots, without state', () => {
    const rule = node('r1', 'rule', { text_summary: 'No refunds', slots: { if: { a: 1 }, then: { tool: { deny: ['refund'] } }, exceptions: [] } });
    const defs = new Map([['r1', definition('r1')]]);
    const context = assembleContext(input([rule], { outputNodeIds: new Set(), ruleDefinitions: defs }), { slotsVisible: true });
    expect(context.items).toEqual([{ kind: 'rule', node_id: 'r1', summary: 'No refunds', if_json: { a: 1 }, then_json: { tool: { deny: ['refund'] } }, exceptions_json: [], commit_id: COMMIT }]);
    expect(context.text).toBe('# Applicable Rules (Shadow/Active)\n- state=unknown summary=No refunds (node:r1)\n  if={"a":1}\n  then={"tool":{"deny":["refund"]}}');
    const hidden = assembleContext(input([rule], { outputNodeIds: new Set(), ruleDefinitions: defs }), plain);
    expect(hidden.items).toEqual([{ kind: 'rule', node_id: 'r1', summary: 'No refunds', commit_id: COMMIT }]);
    expect(hidden.text).toBe('# Applicable Rules (Shadow/Active)\n- state=unknown summary=No refunds (node:r1)');
  });

  it('given output nodes, when asking which definitions to load, then only the rule ids are returned', () => {
    expect(ruleNodeIds([node('a', 'event'), node('r', 'rule')])).toEqual(['r']);
  });
});

describe('context compaction (contract §4.3)', () => {
  const topic = node('top', 'topic', { title: 'Diet' }); // "- Diet (node:top)"
  const entity = node('ent', 'entity', { title: 'Maria', text_summary: 'Flyer' }); // "- Maria: Flyer (node:ent)"
  const longEvents = [1, 2, 3].map((i) => node(`ev${i}`, 'event', { text_summary: `Booked window seat number ${i} on the early Lisbon flight` })); // 67-char lines
  const head = '# Topics / Concepts\n- Diet (node:top)\n\n# Entities\n- Maria: Flyer (node:ent)';

  it('given a char budget, when the text is too long, then event lines go first, the earlier one first, until it fits', () => {
    const context = assembleContext(input([topic, entity, ...longEvents]), { slotsVisible: false, contextCharBudget: 200 });
    expect(context.text).toBe(`${head}\n\n# Supporting Events / Evidence\n- Booked window seat number 3 on the early Lisbon flight (node:ev3)`);
    expect(context.compaction).toMatchObject({ applied: true, char_budget: 200, before_chars: 311, after_chars: 175, dropped_lines: 2, dropped_by_section: { topics: 0, entities: 0, events: 2, rules: 0 } });
    expect(context.items).toHaveLength(5); // items and citations are never compacted
    expect(context.citations).toHaveLength(5);
  });

  it('given a tighter budget, when every event line is dropped, then the events section loses its heading', () => {
    const context = assembleContext(input([topic, entity, ...longEvents]), { slotsVisible: false, contextCharBudget: 160 });
    expect(context.text).toBe(head);
    expect(context.compaction).toMatchObject({ dropped_lines: 3, dropped_by_section: { events: 3 }, after_chars: 75, after_est_tokens: 19 });
  });

  it('given budgets below 160 characters, when resolved, then the minimum 160 applies; a token budget alone means 4 chars per token', () => {
    expect(charBudget(10, null)).toBe(160);
    expect(charBudget(null, 10)).toBe(160);
    expect(charBudget(null, 50)).toBe(200);
    expect(charBudget(300, 10)).toBe(300);
    expect(charBudget(undefined, undefined)).toBeNull();
    const context = assembleContext(input([topic, entity, ...longEvents]), { slotsVisible: false, contextTokenBudget: 50, contextCharBudget: null });
    expect(context.compaction).toMatchObject({ token_budget: 50, char_budget: 200, after_chars: 175 });
    expect(assembleContext(input([topic]), { slotsVisible: false, contextCharBudget: 1 }).compaction.char_budget).toBe(160);
  });

  it('given lines of every kind that never fit, when compacting under balanced, then they drop by priority down to the last single line', () => {
    const long = 'x'.repeat(200);
    const lines: ContextLine[] = [
      { section: 'topics', kind: 'topic', text: `- topic ${long}` },
      { section: 'topics', kind: 'compression_evidence', text: `  evidence_node=${long}` },
      { section: 'entities', kind: 'entity', text: `- entity ${long}` },
      { section: 'events', kind: 'event', text: `- event ${long}` },
      { section: 'rules', kind: 'rule', text: `- state=active ${long}` },
      { section: 'rules', kind: 'rule_json', text: `  if=${long}` },
    ];
    const balanced = compactLines(lines, 160, 'balanced');
    expect(balanced.dropped.map((line) => line.kind)).toEqual(['event', 'compression_evidence', 'rule_json', 'entity', 'rule']);
    expect(balanced.kept.map((line) => line.kind)).toEqual(['topic']);
    expect(balanced.text).toBe(`# Topics / Concepts\n- topic ${long}`);
    // aggressive: evidence pointers and rule JSON tie at 90; the topics section comes first
    expect(compactLines(lines, 160, 'aggressive').dropped.map((line) => line.kind)).toEqual(['event', 'compression_evidence', 'rule_json', 'entity', 'rule']);
  });

  it('given no budget, when compacting, then nothing is dropped even under aggressive', () => {
    const context = assembleContext(input([topic, entity, ...longEvents]), { slotsVisible: false, profile: 'aggressive' });
    expect(context.compaction).toMatchObject({ profile: 'aggressive', applied: false, dropped_lines: 0, char_budget: null });
    expect(context.items.map((item) => item.node_id)).toEqual(['top', 'ent', 'ev1', 'ev2']);
  });
});
