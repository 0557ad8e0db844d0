import { spreadActivation } from '../../src/data-plane/memory/recall/activation';
import { createHash } from 'node:crypto';
import {
  debugEmbeddings,
  debugEmbeddingsRequestError,
  edgeDto,
  isDebugEmbeddingsPrivileged,
  memberCount,
  nodeDto,
  rankedDtos,
  seedDto,
  slotsPreview,
} from '../../src/data-plane/memory/recall/dto';
import { float32Shortest, normalizeGraphEdge, normalizeGraphNode } from '../../src/data-plane/memory/recall/float32';
import {
  dropDanglingEdges,
  edgeBudgets,
  frontier,
  mergeHop,
  nodeBudget,
  orderEdges,
  selectCandidateNodes,
  unionEdges,
} from '../../src/data-plane/memory/recall/neighbourhood';
import { buildSubgraph, draftBudget } from '../../src/data-plane/memory/recall/output';
import { pickSeeds, seedCandidateCount } from '../../src/data-plane/memory/recall/seeds';
import { type EdgeType, type GraphEdge, type GraphNode, type NodeType, type SeedCandidate } from '../../src/data-plane/memory/recall/types';

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

function edge(id: string, type: EdgeType, src: string, dst: string, weight = 0.5, confidence = 0.5): GraphEdge {
  return { id, type, src_id: src, dst_id: dst, weight, confidence, commit_id: COMMIT };
}

function seed(n: GraphNode, similarity: number, rule_state: SeedCandidate['rule_state'] = null): SeedCandidate {
  return { node: n, similarity, rule_state };
}

function byId(nodes: readonly GraphNode[]): Map<string, GraphNode> {
  return new Map(nodes.map((n) => [n.id, n]));
}

/** The two nodes and the edge of the §2.2 write. */
const maria = node(MARIA, 'entity', { client_id: 'user:maria', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office' });
const diet = node(DIET, 'event', { client_id: 'evt:diet-2026-02-20', text_summary: 'Maria is vegetarian and prefers window seats' });
const dietToMaria = edge('e0f1cfb9-a35b-5f61-9e28-b53e29f62f8a', 'related_to', DIET, MARIA, 0.9, 0.85);

describe('recall stage 1: seeds (contract §3.3)', () => {
  it('given a limit, when sizing the nearest-neighbour query, then K = max(limit, min(1000, 5·limit))', () => {
    expect(seedCandidateCount(1)).toBe(5);
    expect(seedCandidateCount(24)).toBe(120);
    expect(seedCandidateCount(200)).toBe(1000);
    expect(seedCandidateCount(2000)).toBe(2000);
  });

  it('given candidates of every type, when picking seeds, then only event/topic/concept/entity/rule survive, in distance order', () => {
    const candidates = (['evidence', 'event', 'procedure', 'concept', 'self_model', 'entity', 'topic'] as const).map((type, i) => seed(node(`n${i}`, type), 0.9 - i / 10));
    expect(pickSeeds(candidates, 10).map((s) => s.node.type)).toEqual(['event', 'concept', 'entity', 'topic']);
  });

  it('given topics in several states, when picking seeds, then only active ones (a missing state counts as active) are kept', () => {
    const candidates = [
      seed(node('t-missing', 'topic'), 0.9),
      seed(node('t-draft', 'topic', { slots: { topic_state: 'draft' } }), 0.8),
      seed(node('t-active', 'topic', { slots: { topic_state: 'active' } }), 0.7),
      seed(node('t-merged', 'topic', { slots: { topic_state: 'merged' } }), 0.6),
    ];
    expect(pickSeeds(candidates, 10).map((s) => s.node.id)).toEqual(['t-missing', 't-active']);
  });

  it('given rules in each definition state, when picking seeds, then only shadow and active rules are kept', () => {
    const candidates = (['draft', 'shadow', 'active', 'disabled'] as const).map((state) => seed(node(`r-${state}`, 'rule'), 0.5, state));
    expect(pickSeeds([...candidates, seed(node('r-none', 'rule'), 0.4, null)], 10).map((s) => s.node.id)).toEqual(['r-shadow', 'r-active']);
  });

  it('given more eligible candidates than the limit, when picking, then the first `limit` are kept, however dissimilar', () => {
    const candidates = [seed(node('a', 'event'), 0.1), seed(node('b', 'event'), -0.2), seed(node('c', 'event'), -0.3)];
    expect(pickSeeds(candidates, 2).map((s) => [s.node.id, s.similarity])).toEqual([
      ['a', 0.1],
      ['b', -0.2],
    ]);
  });
});

describe('recall stage 2: edge and node budgets (contract §3.4)', () => {
  it('given max_edges, when budgeting, then B_e = min(1000, 5·max_edges) and B_h = max(50, min(500, B_e))', () => {
    expect(edgeBudgets(1)).toEqual({ be: 5, bh: 50 });
    expect(edgeBudgets(10)).toEqual({ be: 50, bh: 50 });
    expect(edgeBudgets(80)).toEqual({ be: 400, bh: 400 });
    expect(edgeBudgets(100)).toEqual({ be: 500, bh: 500 });
    expect(edgeBudgets(300)).toEqual({ be: 1000, bh: 500 });
  });

  it('given max_nodes, when budgeting, then B_n = min(800, 4·max_nodes)', () => {
    expect(nodeBudget(1)).toBe(4);
    expect(nodeBudget(60)).toBe(240);
    expect(nodeBudget(200)).toBe(800);
  });

  it('given edges, when ordered, then weight descends, then confidence descends, then ids ascend', () => {
    const edges = [edge('c', 'part_of', 'x', 'y', 0.5, 0.9), edge('b', 'part_of', 'x', 'y', 0.5, 0.9), edge('a', 'part_of', 'x', 'y', 0.5, 0.1), edge('d', 'part_of', 'x', 'y', 0.9, 0.1)];
    expect(orderEdges(edges).map((e) => e.id)).toEqual(['d', 'b', 'c', 'a']);
  });

  it('given the two directional results of a hop, when merged, then duplicates collapse and the ordered union is cut to B_e', () => {
    const shared = edge('s', 'related_to', 'seed', 'n1', 0.9);
    const fromSrc = [shared, edge('a', 'related_to', 'seed', 'n2', 0.4)];
    const fromDst = [shared, edge('b', 'related_to', 'n3', 'seed', 0.7)];
    expect(unionEdges(fromSrc, fromDst).map((e) => e.id)).toEqual(['s', 'b', 'a']);
    expect(mergeHop(fromSrc, fromDst, 2).map((e) => e.id)).toEqual(['s', 'b']);
  });

  it('given hop-1 edges, when computing the hop-2 frontier, then it is the seeds plus every endpoint, each once', () => {
    const hop1 = [edge('e1', 'part_of', 'seed', 'n1'), edge('e2', 'related_to', 'n2', 'seed'), edge('e3', 'related_to', 'n1', 'seed')];
    expect(frontier(['seed', 'other-seed'], hop1)).toEqual(['seed', 'other-seed', 'n1', 'n2']);
  });

  it('given candidates within B_n, when selecting nodes to load, then the seeds and every endpoint are kept', () => {
    const edges = [edge('e1', 'part_of', 's', 'a'), edge('e2', 'part_of', 'b', 's')];
    expect(selectCandidateNodes(['s'], edges, 4)).toEqual(['s', 'a', 'b']);
  });

  it('given more candidates than B_n, when selecting, then all seeds stay and the strongest non-seeds (sum of weight·confidence, ties by id) fill the rest', () => {
    const edges = [
      edge('e1', 'part_of', 's1', 'weak', 0.2, 0.2), // 0.04
      edge('e2', 'part_of', 's1', 'strong', 0.9, 0.9), // 0.81
      edge('e3', 'related_to', 'summed', 's2', 0.5, 0.5), // 0.25 ...
      edge('e4', 'related_to', 'summed', 'weak', 0.5, 0.5), // ... + 0.25 = 0.5 (weak: 0.04 + 0.25 = 0.29)
      edge('e5', 'related_to', 's2', 'tie-b', 0.5, 0.5), // 0.25
      edge('e6', 'related_to', 's2', 'tie-a', 0.5, 0.5), // 0.25
    ];
    expect(selectCandidateNodes(['s1', 's2'], edges, 5)).toEqual(['s1', 's2', 'strong', 'summed', 'weak']);
    expect(selectCandidateNodes(['s1', 's2'], edges, 6)).toEqual(['s1', 's2', 'strong', 'summed', 'weak', 'tie-a']);
  });

  it('given more seeds than B_n, when selecting, then only the seeds are loaded', () => {
    expect(selectCandidateNodes(['s1', 's2', 's3'], [edge('e', 'part_of', 's1', 'n')], 2)).toEqual(['s1', 's2', 's3']);
  });

  it('given result edges and the loaded ids, when dropping dangling edges, then only edges with both endpoints loaded remain', () => {
    const edges = [edge('ok', 'part_of', 'a', 'b'), edge('gone', 'part_of', 'a', 'hidden')];
    expect(dropDanglingEdges(edges, new Set(['a', 'b'])).map((e) => e.id)).toEqual(['ok']);
  });
});

describe('recall stage 2: spreading activation (contract §3.4)', () => {
  it('given the §2.3 example (hops 1), when spreading, then the event keeps 0.7475 and the entity is raised to 0.17155125', () => {
    const result = spreadActivation({ seeds: [seed(diet, 0.83), seed(maria, -0.05)], nodes: byId([diet, maria]), edges: [dietToMaria], hops: 1 });
    expect(result.rankedAll.map((r) => r.id)).toEqual([DIET, MARIA]);
    const [event, entity] = result.rankedAll;
    expect(event!.activation).toBeCloseTo(0.7475, 12);
    expect(event!.score).toBeCloseTo(0.67325, 12);
    expect(entity!.activation).toBeCloseTo(0.17155125, 12);
    expect(entity!.score).toBeCloseTo(0.270085875, 12);
  });

  it('given the §2.4 example (hops 2), when spreading, then no push beats a seed value and the entity ranks first', () => {
    const result = spreadActivation({ seeds: [seed(maria, 0.003678), seed(diet, -0.01011)], nodes: byId([diet, maria]), edges: [dietToMaria], hops: 2 });
    expect(result.rankedAll.map((r) => r.id)).toEqual([MARIA, DIET]);
    expect(result.rankedAll[0]!.activation).toBeCloseTo(0.1277585, 12);
    expect(result.rankedAll[0]!.score).toBeCloseTo(0.23943095, 12);
    expect(result.rankedAll[1]!.activation).toBeCloseTo(0.1174175, 12);
    expect(result.rankedAll[1]!.score).toBeCloseTo(0.23219225, 12);
  });

  it('given a perfect seed and a related_to neighbour at 0.8/0.9, when spreading, then the seed scores 0.7625 and the neighbour receives 0.189', () => {
    const s = node('s', 'event');
    const n = node('n', 'entity');
    const result = spreadActivation({ seeds: [seed(s, 1)], nodes: byId([s, n]), edges: [edge('e', 'related_to', 's', 'n', 0.8, 0.9)], hops: 1 });
    expect(result.activation.get('s')).toBeCloseTo(0.875, 12);
    expect(result.rankedAll[0]!.score).toBeCloseTo(0.7625, 12);
    expect(result.activation.get('n')).toBeCloseTo(0.189, 12);
  });

  it('given seed values outside [0, 1], when starting, then they are clamped', () => {
    const high = node('high', 'event', { salience: 1 });
    const low = node('low', 'event', { salience: 0 });
    const result = spreadActivation({ seeds: [seed(high, 1.5), seed(low, -1)], nodes: byId([high, low]), edges: [], hops: 1 });
    expect(result.activation.get('high')).toBe(1);
    expect(result.activation.get('low')).toBe(0);
  });

  it('given each edge type, when pushing across it (against its direction too), then derived_from carries 1.0, part_of 0.9 and related_to 0.6', () => {
    const s = node('s', 'event', { salience: 1 });
    const targets = ['d', 'p', 'r'].map((id) => node(id, 'entity'));
    const edges = [edge('e1', 'derived_from', 'd', 's', 1, 1), edge('e2', 'part_of', 's', 'p', 1, 1), edge('e3', 'related_to', 'r', 's', 1, 1)];
    const result = spreadActivation({ seeds: [seed(s, 1)], nodes: byId([s, ...targets]), edges, hops: 1 });
    expect([result.activation.get('d'), result.activation.get('p'), result.activation.get('r')]).toEqual([0.5, 0.45, 0.3]);
  });

  it('given a chain seed → a → b, when spreading with 1 hop, then b is not reached; with 2 hops a pushes on in round 2', () => {
    const s = node('s', 'event', { salience: 1 });
    const a = node('a', 'entity');
    const b = node('b', 'entity');
    const input = { seeds: [seed(s, 1)], nodes: byId([s, a, b]), edges: [edge('e1', 'derived_from', 's', 'a', 1, 1), edge('e2', 'derived_from', 'a', 'b', 1, 1)] };
    expect(spreadActivation({ ...input, hops: 1 }).activation.has('b')).toBe(false);
    const twoHops = spreadActivation({ ...input, hops: 2 });
    expect(twoHops.activation.get('a')).toBe(0.5);
    expect(twoHops.activation.get('b')).toBe(0.25);
  });

  it('given a weak seed raised by a strong one in round 1, when spreading, then it pushes its start-of-round value in round 1 and its raised value only in round 2', () => {
    const strong = node('strong', 'event', { salience: 1 });
    const weak = node('weak', 'event', { salience: 0 });
    const n = node('n', 'entity');
    const edges = [edge('e1', 'derived_from', 'strong', 'weak', 1, 1), edge('e2', 'derived_from', 'weak', 'n', 1, 1)];
    const input = { seeds: [seed(strong, 1), seed(weak, -1)], nodes: byId([strong, weak, n]), edges };
    const oneHop = spreadActivation({ ...input, hops: 1 });
    expect(oneHop.activation.get('weak')).toBe(0.5);
    expect(oneHop.activation.has('n')).toBe(false); // weak started the round at 0: a push of 0 reaches nobody
    expect(spreadActivation({ ...input, hops: 2 }).activation.get('n')).toBe(0.25);
  });

  it('given a draft topic and a node whose embedding is pending, when spreading, then neither is activated nor passes activation on', () => {
    const s = node('s', 'event', { salience: 1 });
    const draft = node('draft', 'topic', { slots: { topic_state: 'draft' } });
    const pending = node('pending', 'entity', { embedding_status: 'pending' });
    const behind = node('behind', 'entity');
    const edges = [
      edge('e1', 'part_of', 's', 'draft', 1, 1),
      edge('e2', 'related_to', 's', 'pending', 1, 1),
      edge('e3', 'derived_from', 'draft', 'behind', 1, 1),
      edge('e4', 'derived_from', 'pending', 'behind', 1, 1),
    ];
    const result = spreadActivation({ seeds: [seed(s, 1)], nodes: byId([s, draft, pending, behind]), edges, hops: 2 });
    expect(result.rankedAll.map((r) => r.id)).toEqual(['s']);
  });

  it('given equal scores, when ranking, then seeds keep seed order and discovered nodes follow in discovery order', () => {
    const s1 = node('z-seed', 'event', { salience: 0, confidence: 0 });
    const s2 = node('a-seed', 'event', { salience: 0, confidence: 0 });
    const late = node('a-late', 'entity', { salience: 1, confidence: 1 });
    const early = node('z-early', 'entity', { salience: 1, confidence: 1 });
    const edges = [edge('e1', 'derived_from', 'z-seed', 'z-early', 1, 1), edge('e2', 'derived_from', 'a-seed', 'a-late', 1, 1)];
    const result = spreadActivation({ seeds: [seed(s1, 0.5), seed(s2, 0.5)], nodes: byId([s1, s2, late, early]), edges, hops: 1 });
    expect(result.rankedAll.map((r) => r.id)).toEqual(['z-early', 'a-late', 'z-seed', 'a-seed']);
    expect(result.rankedAll[0]!.score).toBe(result.rankedAll[1]!.score);
    expect(result.rankedAll[2]!.score).toBe(result.rankedAll[3]!.score);
  });
});

describe('recall stage 2: output subgraph (contract §3.4)', () => {
  const base = (over: Partial<Parameters<typeof buildSubgraph>[0]>): Parameters<typeof buildSubgraph>[0] => ({
    seeds: [],
    rankedAll: [],
    nodes: new Map(),
    edges: [],
    maxNodes: 10,
    maxEdges: 10,
    ...over,
  });

  it('given the §2.3 example, when building the subgraph, then both nodes and the one edge are shown, seeds first', () => {
    const seeds = [seed(diet, 0.83), seed(maria, -0.05)];
    const nodes = byId([diet, maria]);
    const { rankedAll } = spreadActivation({ seeds, nodes, edges: [dietToMaria], hops: 1 });
    const subgraph = buildSubgraph(base({ seeds, rankedAll, nodes, edges: [dietToMaria] }));
    expect(subgraph.nodes.map((n) => nodeDto(n))).toEqual([
      { id: DIET, type: 'event', title: null, text_summary: 'Maria is vegetarian and prefers window seats' },
      { id: MARIA, type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office' },
    ]);
    expect(subgraph.edges.map((e) => edgeDto(e))).toEqual([{ from_id: DIET, to_id: MARIA, type: 'related_to', weight: 0.9 }]);
    expect(seeds.map(seedDto)).toEqual([
      { id: DIET, type: 'event', title: null, text_summary: 'Maria is vegetarian and prefers window seats', tier: 'hot', salience: 0.5, confidence: 0.5, similarity: 0.83 },
      { id: MARIA, type: 'entity', title: 'Maria', text_summary: 'Frequent flyer, Lisbon office', tier: 'hot', salience: 0.5, confidence: 0.5, similarity: -0.05 },
    ]);
    expect(rankedDtos(rankedAll, 140).map((r) => r.id)).toEqual([DIET, MARIA]);
  });

  it('given seeds after higher-scored neighbours, when building, then seeds come first, unloaded or unready nodes are skipped and max_nodes caps the list', () => {
    const s = node('s', 'event');
    const nodes = byId([s, node('n1', 'entity'), node('n2', 'entity', { embedding_status: 'failed' }), node('n3', 'entity'), node('n4', 'entity')]);
    const rankedAll = ['n1', 'ghost', 'n2', 'n3', 's', 'n4'].map((id, i) => ({ id, activation: 1, score: 1 - i / 10 }));
    const subgraph = buildSubgraph(base({ seeds: [seed(s, 0.2)], rankedAll, nodes, maxNodes: 3 }));
    expect(subgraph.nodes.map((n) => n.id)).toEqual(['s', 'n1', 'n3']);
  });

  it('given room and draft topics joined by part_of / derived_from, when building, then the strongest drafts are appended up to D = floor(max_nodes/5)', () => {
    const s = node('s', 'event');
    const drafts = ['d1', 'd2', 'd3'].map((id) => node(id, 'topic', { slots: { topic_state: 'draft' } }));
    const viaRelated = node('d-related', 'topic', { slots: { topic_state: 'draft' } });
    const edges = [
      edge('e1', 'part_of', 's', 'd1', 0.3, 0.5),
      edge('e2', 'derived_from', 'd2', 's', 0.9, 0.9),
      edge('e3', 'part_of', 's', 'd3', 0.6, 0.5),
      edge('e4', 'related_to', 's', 'd-related', 1, 1),
    ];
    const { rankedAll } = spreadActivation({ seeds: [seed(s, 1)], nodes: byId([s, ...drafts, viaRelated]), edges, hops: 1 });
    expect(rankedAll.map((r) => r.id)).toEqual(['s']); // drafts are never ranked
    const subgraph = buildSubgraph(base({ seeds: [seed(s, 1)], rankedAll, nodes: byId([s, ...drafts, viaRelated]), edges, maxNodes: 10 }));
    expect(draftBudget(10)).toBe(2);
    expect(subgraph.nodes.map((n) => n.id)).toEqual(['s', 'd2', 'd3']);
    expect(nodeDto(subgraph.nodes[1]!)).toEqual({ id: 'd2', type: 'topic', title: null, text_summary: null, topic_state: 'draft', member_count: null });
  });

  it('given a full output, when a draft topic qualifies, then it replaces the lowest-ranked non-seed and goes to the end', () => {
    const s = node('s', 'event');
    const others = ['n1', 'n2', 'n3', 'n4'].map((id) => node(id, 'entity'));
    const draft = node('draft', 'topic', { slots: { topic_state: 'draft' } });
    const nodes = byId([s, ...others, draft]);
    const rankedAll = ['s', 'n1', 'n2', 'n3', 'n4'].map((id, i) => ({ id, activation: 1, score: 1 - i / 10 }));
    const subgraph = buildSubgraph(base({ seeds: [seed(s, 1)], rankedAll, nodes, edges: [edge('e', 'part_of', 'n1', 'draft')], maxNodes: 5 }));
    expect(subgraph.nodes.map((n) => n.id)).toEqual(['s', 'n1', 'n2', 'n3', 'draft']);
  });

  it('given max_nodes below 5, when a draft topic qualifies, then D = 0 and nothing is added', () => {
    const s = node('s', 'event');
    const draft = node('draft', 'topic', { slots: { topic_state: 'draft' } });
    const subgraph = buildSubgraph(base({ seeds: [seed(s, 1)], nodes: byId([s, draft]), edges: [edge('e', 'part_of', 's', 'draft')], maxNodes: 4 }));
    expect(subgraph.nodes.map((n) => n.id)).toEqual(['s']);
  });

  it('given result edges, when choosing output edges, then only edges between shown nodes remain, by weight·confidence descending, cut to max_edges', () => {
    const nodes = byId(['a', 'b', 'c', 'hidden'].map((id) => node(id, 'entity')));
    const seeds = ['a', 'b', 'c'].map((id) => seed(nodes.get(id)!, 0.5));
    const edges = [
      edge('e1', 'related_to', 'a', 'b', 0.9, 0.1), // 0.09
      edge('e2', 'related_to', 'b', 'c', 0.5, 0.5), // 0.25
      edge('e3', 'related_to', 'a', 'hidden', 1, 1),
      edge('e4', 'part_of', 'c', 'a', 0.4, 0.4), // 0.16
    ];
    const subgraph = buildSubgraph(base({ seeds, nodes, edges, maxNodes: 3, maxEdges: 2 }));
    expect(subgraph.edges.map((e) => e.id)).toEqual(['e2', 'e4']);
  });
});

describe('recall DTOs (contract §2.3)', () => {
  it('given a float32 real read as a double, when shortened, then it prints like PostgreSQL (0.2, not 0.20000000298023224)', () => {
    expect(float32Shortest(Math.fround(0.2))).toBe(0.2);
    expect(float32Shortest(Math.fround(0.85))).toBe(0.85);
    expect(float32Shortest(Math.fround(1 / 3))).toBe(0.33333334);
    expect(float32Shortest(0.5)).toBe(0.5);
    expect(float32Shortest(0)).toBe(0);
  });

  it('given rows with float32 reals, when normalized, then node and edge DTOs show the short forms', () => {
    const n = normalizeGraphNode(node('n', 'event', { salience: Math.fround(0.7), confidence: Math.fround(0.3) }));
    expect([n.salience, n.confidence]).toEqual([0.7, 0.3]);
    expect(normalizeGraphEdge(edge('e', 'part_of', 'a', 'b', Math.fround(0.9), Math.fround(0.85))).weight).toBe(0.9);
    expect(edgeDto(edge('e', 'part_of', 'a', 'b', Math.fround(0.9))).weight).toBe(0.9);
    expect(seedDto(seed(node('n', 'event', { salience: Math.fround(0.2) }), 0.5)).salience).toBe(0.2);
  });

  it('given topics with odd member counts, when shown, then non-integers and absent values become null instead of failing', () => {
    expect(memberCount({ member_count: 3 })).toBe(3);
    expect(memberCount({ member_count: ' 7 ' })).toBe(7);
    expect(memberCount({ member_count: 'many' })).toBeNull();
    expect(memberCount({ member_count: 2.5 })).toBeNull();
    expect(memberCount({ member_count: '' })).toBeNull();
    expect(memberCount({})).toBeNull();
    expect(nodeDto(node('t', 'topic', { slots: { member_count: 'many' } }))).toEqual({ id: 't', type: 'topic', title: null, text_summary: null, topic_state: 'active', member_count: null });
  });

  it('given include_slots_preview, when shown, then the first N keys in sorted order are previewed; include_slots wins over it', () => {
    const n = node('n', 'event', { slots: { zeta: 1, alpha: 2, mid: 3 } });
    expect(nodeDto(n, { includeSlotsPreview: true, slotsPreviewKeys: 2 })).toEqual({ id: 'n', type: 'event', title: null, text_summary: null, slots_preview: { alpha: 2, mid: 3 } });
    expect(nodeDto(n, { includeSlots: true, includeSlotsPreview: true })).toEqual({ id: 'n', type: 'event', title: null, text_summary: null, slots: { zeta: 1, alpha: 2, mid: 3 } });
    expect(slotsPreview(['not', 'an', 'object'], 10)).toBeNull();
  });

  it('given include_meta, when shown, then the meta fields follow with ISO-8601 millisecond timestamps, and edges gain commit_id', () => {
    const n = node('n', 'event', { created_at: '2026-02-20 09:14:03.512904+00', last_activated: '2026-02-21T10:00:00.000Z', salience: Math.fround(0.6) });
    const dto = nodeDto(n, { includeMeta: true });
    expect(Object.keys(dto)).toEqual([
      'id', 'type', 'title', 'text_summary', 'raw_ref', 'evidence_ref', 'embedding_status', 'embedding_model', 'memory_lane', 'producer_agent_id',
      'owner_agent_id', 'owner_team_id', 'created_at', 'updated_at', 'last_activated', 'salience', 'importance', 'confidence', 'commit_id',
    ]);
    expect(dto.created_at).toBe('2026-02-20T09:14:03.512Z');
    expect(dto.last_activated).toBe('2026-02-21T10:00:00.000Z');
    expect(dto.salience).toBe(0.6);
    expect(edgeDto(edge('e', 'part_of', 'a', 'b'), { includeMeta: true })).toEqual({ from_id: 'a', to_id: 'b', type: 'part_of', weight: 0.5, commit_id: COMMIT });
  });

  it('given rankedAll, when shown, then ranked is cut to ranked_limit', () => {
    const rankedAll = [0.9, 0.8, 0.7].map((score, i) => ({ id: `n${i}`, activation: score, score }));
    expect(rankedDtos(rankedAll, 2)).toEqual([
      { id: 'n0', activation: 0.9, score: 0.9 },
      { id: 'n1', activation: 0.8, score: 0.8 },
    ]);
  });
});

describe('recall debug embeddings (contract §3.6)', () => {
  const ok = { includeEmbeddings: true, returnDebug: true, privileged: true, limit: 20 };

  it('given include_embeddings, when validating, then return_debug, privilege and limit <= 20 are checked in that order', () => {
    expect(debugEmbeddingsRequestError({ ...ok, returnDebug: false, privileged: false, limit: 99 })).toBe('debug_embeddings_requires_return_debug');
    expect(debugEmbeddingsRequestError({ ...ok, privileged: false, limit: 99 })).toBe('debug_embeddings_not_allowed');
    expect(debugEmbeddingsRequestError({ ...ok, limit: 21 })).toBe('debug_embeddings_limit_too_high');
    expect(debugEmbeddingsRequestError(ok)).toBeNull();
    expect(debugEmbeddingsRequestError({ ...ok, includeEmbeddings: false, returnDebug: false })).toBeNull();
  });

  it('given the caller context, when judging privilege, then a configured admin token must match, else only non-production loopback qualifies', () => {
    expect(isDebugEmbeddingsPrivileged({ adminTokenConfigured: true, adminTokenMatches: false, production: false, loopback: true })).toBe(false);
    expect(isDebugEmbeddingsPrivileged({ adminTokenConfigured: true, adminTokenMatches: true, production: true, loopback: false })).toBe(true);
    expect(isDebugEmbeddingsPrivileged({ adminTokenConfigured: false, adminTokenMatches: false, production: false, loopback: true })).toBe(true);
    expect(isDebugEmbeddingsPrivileged({ adminTokenConfigured: false, adminTokenMatches: false, production: true, loopback: true })).toBe(false);
  });

  it('given seed vectors, when reported, then the first 5 with a vector get dims, sha256 of "[v1,v2,...]" and a 16-component preview', () => {
    const vector = Array.from({ length: 20 }, (_, i) => Math.fround(i / 10));
    const seeds = [{ node_id: 'none', embedding: null }, ...Array.from({ length: 6 }, (_, i) => ({ node_id: `s${i}`, embedding: vector }))];
    const result = debugEmbeddings(seeds);
    if (!result.ok) throw new Error('expected embeddings');
    expect(result.embeddings.map((e) => e.node_id)).toEqual(['s0', 's1', 's2', 's3', 's4']);
    const text = `[${Array.from({ length: 20 }, (_, i) => i / 10).join(',')}]`;
    expect(result.embeddings[0]).toEqual({ node_id: 's0', dims: 20, sha256: createHash('sha256').update(text).digest('hex'), preview: vector.slice(0, 16).map((_, i) => i / 10) });
  });

  it('given vectors whose report exceeds 64 KiB, when reported, then debug_embeddings_too_large', () => {
    const vector = Array.from({ length: 1536 }, () => Math.fround(0.123456));
    // a real report (5 × 16-component previews) is far below the limit; only an oversized one is refused
    expect(debugEmbeddings([{ node_id: 'a', embedding: vector }]).ok).toBe(true);
    const huge = [{ node_id: 'x'.repeat(70 * 1024), embedding: vector }];
    expect(debugEmbeddings(huge)).toEqual({ ok: false, error: 'debug_embeddings_too_large' });
  });
});
