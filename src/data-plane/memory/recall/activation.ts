import { isDraftTopic } from './seeds';
import { type EdgeType, type GraphEdge, type GraphNode, type RankedNode, type SeedCandidate } from './types';

/**
 * Spreading activation and scoring (contract §3.4).
 *
 * "Active in the previous round" is read as: in round 1, the seeds; in every later round, the
 * nodes whose value was set or strictly raised during the round before. Each such node pushes
 * the value it had when the round began (pushes inside a round do not feed each other, so the
 * result does not depend on iteration order), and a receiver keeps the maximum. A push only
 * counts when it beats the receiver's current value (0 for a node not yet reached), so a push of
 * 0 activates nothing. With the §2.3 example this gives the entity 0.7475·0.2295 = 0.17155125 in
 * round 1; with §2.4 no push beats its receiver, nobody is raised, and round 2 has no pushers.
 */

/** How much of a push crosses an edge, by edge type. */
export const EDGE_TYPE_FACTOR: Readonly<Record<EdgeType, number>> = { derived_from: 1.0, part_of: 0.9, related_to: 0.6 };

/** Every push is halved, so activation decays with distance from the seeds. */
export const PUSH_DAMPING = 0.5;

export function clamp01(x: number): number {
  if (Number.isNaN(x)) return 0;
  return Math.min(1, Math.max(0, x));
}

/** A seed's starting activation: mostly query similarity, partly the node's own salience. */
export function seedActivation(similarity: number, salience: number): number {
  return clamp01(0.75 * similarity + 0.25 * salience);
}

export function nodeScore(activation: number, node: Pick<GraphNode, 'confidence' | 'salience'>): number {
  return 0.7 * activation + 0.15 * node.confidence + 0.15 * node.salience;
}

/** The value node `from` (holding `activation`) pushes across `edge`. */
export function pushValue(activation: number, edge: Pick<GraphEdge, 'type' | 'weight' | 'confidence'>): number {
  return activation * (EDGE_TYPE_FACTOR[edge.type] ?? 0) * edge.weight * edge.confidence * PUSH_DAMPING;
}

/** Nodes that take part in scoring: ready embeddings and not a draft topic. */
export function isScoringNode(node: GraphNode): boolean {
  return node.embedding_status === 'ready' && !isDraftTopic(node);
}

export interface ActivationInput {
  readonly seeds: readonly SeedCandidate[];
  /** The loaded neighbourhood nodes, by id. Seeds missing here are read from their candidate. */
  readonly nodes: ReadonlyMap<string, GraphNode>;
  /** The result edges after `dropDanglingEdges`, in result order. */
  readonly edges: readonly GraphEdge[];
  readonly hops: number;
}

export interface ActivationResult {
  /** Final activation per activated node, in insertion order (seeds, then discovery order). */
  readonly activation: ReadonlyMap<string, number>;
  /** Every activated node by score descending; ties keep insertion order. */
  readonly rankedAll: readonly RankedNode[];
}

interface Neighbour {
  readonly edge: GraphEdge;
  readonly other: string;
}

export function spreadActivation(input: ActivationInput): ActivationResult {
  const nodeOf = nodeLookup(input);
  const activation = new Map<string, number>();
  for (const seed of input.seeds) {
    const node = nodeOf(seed.node.id);
    if (node === undefined || !isScoringNode(node) || activation.has(node.id)) continue;
    activation.set(node.id, seedActivation(seed.similarity, node.salience));
  }
  const adjacency = scoringAdjacency(input.edges, nodeOf);
  let active = [...activation.keys()];
  for (let round = 0; round < input.hops && active.length > 0; round++) {
    active = pushRound(active, adjacency, activation);
  }
  return { activation, rankedAll: rankAll(activation, nodeOf) };
}

function nodeLookup(input: ActivationInput): (id: string) => GraphNode | undefined {
  const seedNodes = new Map(input.seeds.map((seed) => [seed.node.id, seed.node] as const));
  return (id) => input.nodes.get(id) ?? seedNodes.get(id);
}

/** Edges between two scoring nodes, indexed by both endpoints, each list in result-edge order. */
function scoringAdjacency(edges: readonly GraphEdge[], nodeOf: (id: string) => GraphNode | undefined): Map<string, Neighbour[]> {
  const scoring = (id: string): boolean => {
    const node = nodeOf(id);
    return node !== undefined && isScoringNode(node);
  };
  const adjacency = new Map<string, Neighbour[]>();
  const link = (from: string, edge: GraphEdge, other: string): void => {
    const list = adjacency.get(from) ?? [];
    list.push({ edge, other });
    adjacency.set(from, list);
  };
  for (const edge of edges) {
    if (edge.src_id === edge.dst_id || !scoring(edge.src_id) || !scoring(edge.dst_id)) continue;
    link(edge.src_id, edge, edge.dst_id);
    link(edge.dst_id, edge, edge.src_id);
  }
  return adjacency;
}

/** One round: every active node pushes its start-of-round value; returns the nodes set or raised. */
function pushRound(active: readonly string[], adjacency: ReadonlyMap<string, readonly Neighbour[]>, activation: Map<string, number>): string[] {
  const startValues = new Map(active.map((id) => [id, activation.get(id) ?? 0] as const));
  const raised = new Set<string>();
  for (const [id, value] of startValues) {
    for (const { edge, other } of adjacency.get(id) ?? []) {
      const pushed = pushValue(value, edge);
      if (pushed > (activation.get(other) ?? 0)) {
        activation.set(other, pushed);
        raised.add(other);
      }
    }
  }
  return [...raised];
}

function rankAll(activation: ReadonlyMap<string, number>, nodeOf: (id: string) => GraphNode | undefined): RankedNode[] {
  const entries: RankedNode[] = [];
  for (const [id, value] of activation) {
    const node = nodeOf(id);
    if (node !== undefined) entries.push({ id, activation: value, score: nodeScore(value, node) });
  }
  // Array.prototype.sort is stable, so equal scores keep insertion order.
  return entries.sort((a, b) => b.score - a.score);
}
