import { compareIds } from './neighbourhood';
import { isDraftTopic } from './seeds';
import { type GraphEdge, type GraphNode, type RankedNode, type SeedCandidate } from './types';

/** The subgraph the response shows (contract §3.4 "Output nodes" and "Output edges"). */

export interface OutputInput {
  readonly seeds: readonly SeedCandidate[];
  readonly rankedAll: readonly RankedNode[];
  /** The loaded neighbourhood nodes, by id. */
  readonly nodes: ReadonlyMap<string, GraphNode>;
  /** The result edges after `dropDanglingEdges`. */
  readonly edges: readonly GraphEdge[];
  readonly maxNodes: number;
  readonly maxEdges: number;
}

export interface Subgraph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

export function buildSubgraph(input: OutputInput): Subgraph {
  const ranked = rankedOutputNodes(input.seeds, input.rankedAll, input.nodes, input.maxNodes);
  const nodes = withDraftTopics(ranked, new Set(seedIdsOf(input.seeds)), input.nodes, input.edges, input.maxNodes);
  return { nodes, edges: outputEdges(input.edges, new Set(nodes.map((node) => node.id)), input.maxEdges) };
}

function seedIdsOf(seeds: readonly SeedCandidate[]): string[] {
  return seeds.map((seed) => seed.node.id);
}

/** Step 1: seeds, then `rankedAll` order; only loaded, ready nodes; at most `maxNodes`. */
export function rankedOutputNodes(
  seeds: readonly SeedCandidate[],
  rankedAll: readonly RankedNode[],
  nodes: ReadonlyMap<string, GraphNode>,
  maxNodes: number,
): GraphNode[] {
  const out: GraphNode[] = [];
  const taken = new Set<string>();
  for (const id of [...seedIdsOf(seeds), ...rankedAll.map((entry) => entry.id)]) {
    if (out.length >= maxNodes) break;
    const node = nodes.get(id);
    if (node === undefined || node.embedding_status !== 'ready' || taken.has(id)) continue;
    taken.add(id);
    out.push(node);
  }
  return out;
}

/** How many draft topics may be shown for explainability. */
export function draftBudget(maxNodes: number): number {
  return Math.max(0, Math.min(10, Math.floor(maxNodes / 5)));
}

export interface DraftCandidate {
  readonly node: GraphNode;
  /** Sum of weight·confidence over the part_of / derived_from edges joining it to output nodes. */
  readonly strength: number;
}

/**
 * Loaded, ready draft topics joined to an output node by a `part_of` or `derived_from` edge (in
 * either direction), strongest first; equal strengths by id ascending so the choice is stable.
 */
export function draftTopicCandidates(output: readonly GraphNode[], nodes: ReadonlyMap<string, GraphNode>, edges: readonly GraphEdge[]): DraftCandidate[] {
  const inOutput = new Set(output.map((node) => node.id));
  const strength = new Map<string, number>();
  const consider = (draftId: string, otherId: string, edge: GraphEdge): void => {
    const node = nodes.get(draftId);
    if (node === undefined || inOutput.has(draftId) || !inOutput.has(otherId)) return;
    if (node.embedding_status !== 'ready' || !isDraftTopic(node)) return;
    strength.set(draftId, (strength.get(draftId) ?? 0) + edge.weight * edge.confidence);
  };
  for (const edge of edges) {
    if (edge.type !== 'part_of' && edge.type !== 'derived_from') continue;
    consider(edge.src_id, edge.dst_id, edge);
    consider(edge.dst_id, edge.src_id, edge);
  }
  return [...strength.entries()]
    .sort(([a, sa], [b, sb]) => sb - sa || compareIds(a, b))
    .flatMap(([id, s]) => {
      const node = nodes.get(id);
      return node === undefined ? [] : [{ node, strength: s }];
    });
}

/**
 * Steps 2-4: draft-topic explainability. With room, up to min(D, room) best drafts are appended.
 * Without room, up to min(D, non-seed output nodes) drafts replace the lowest-ranked non-seeds
 * (the last ones in output order) and go to the end. Candidates are judged against the output
 * before any replacement.
 */
export function withDraftTopics(
  output: readonly GraphNode[],
  seedIds: ReadonlySet<string>,
  nodes: ReadonlyMap<string, GraphNode>,
  edges: readonly GraphEdge[],
  maxNodes: number,
): GraphNode[] {
  const drafts = draftTopicCandidates(output, nodes, edges).map((candidate) => candidate.node);
  const budget = draftBudget(maxNodes);
  const room = maxNodes - output.length;
  if (drafts.length === 0 || budget === 0) return [...output];
  if (room > 0) return [...output, ...drafts.slice(0, Math.min(budget, room))];
  const nonSeedPositions = output.flatMap((node, index) => (seedIds.has(node.id) ? [] : [index]));
  const count = Math.min(budget, nonSeedPositions.length, drafts.length);
  if (count === 0) return [...output];
  const replaced = new Set(nonSeedPositions.slice(nonSeedPositions.length - count));
  return [...output.filter((_, index) => !replaced.has(index)), ...drafts.slice(0, count)];
}

/** Result edges with both endpoints shown, by weight·confidence descending (stable), at most `maxEdges`. */
export function outputEdges(edges: readonly GraphEdge[], outputIds: ReadonlySet<string>, maxEdges: number): GraphEdge[] {
  return edges
    .filter((edge) => outputIds.has(edge.src_id) && outputIds.has(edge.dst_id))
    .sort((a, b) => b.weight * b.confidence - a.weight * a.confidence)
    .slice(0, Math.max(0, maxEdges));
}
