import { type GraphEdge, type IdLookup } from './types';

/**
 * Stage 2's edge and node fetch (contract §3.4), minus the SQL. The service runs, per hop, one
 * query for the top `bh` eligible edges whose src is in a set of ids and one for those whose dst
 * is, both ordered like `orderEdges`; these functions combine the results.
 */

export interface EdgeBudgets {
  /** B_e: the most result edges kept after a hop. */
  readonly be: number;
  /** B_h: the per-direction LIMIT of each hop query. */
  readonly bh: number;
}

export function edgeBudgets(maxEdges: number): EdgeBudgets {
  const be = Math.min(1000, 5 * maxEdges);
  return { be, bh: Math.max(50, Math.min(500, be)) };
}

/** B_n: the most nodes loaded for the neighbourhood. */
export function nodeBudget(maxNodes: number): number {
  return Math.min(800, 4 * maxNodes);
}

/** Whether an edge passes the knob thresholds (the SQL filter, for callers that need it in code). */
export function isEligibleEdge(edge: GraphEdge, minWeight: number, minConfidence: number): boolean {
  return edge.weight >= minWeight && edge.confidence >= minConfidence;
}

/** Weight descending, confidence descending, then id ascending so equal edges order the same every time. */
export function compareEdges(a: GraphEdge, b: GraphEdge): number {
  return b.weight - a.weight || b.confidence - a.confidence || compareIds(a.id, b.id);
}

export function orderEdges(edges: readonly GraphEdge[]): GraphEdge[] {
  return [...edges].sort(compareEdges);
}

/** Code-unit order, as PostgreSQL compares uuids in their canonical lowercase text form. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The two directional query results as one ordered set (by edge id), not truncated. */
export function unionEdges(fromSrc: readonly GraphEdge[], fromDst: readonly GraphEdge[]): GraphEdge[] {
  const byId = new Map<string, GraphEdge>();
  for (const edge of [...fromSrc, ...fromDst]) if (!byId.has(edge.id)) byId.set(edge.id, edge);
  return orderEdges([...byId.values()]);
}

/** A hop's result: the union, ordered, truncated to B_e. */
export function mergeHop(fromSrc: readonly GraphEdge[], fromDst: readonly GraphEdge[], be: number): GraphEdge[] {
  return unionEdges(fromSrc, fromDst).slice(0, Math.max(0, be));
}

/**
 * The ids the second hop queries from: the seeds plus every endpoint of a hop-1 edge. Pass the
 * hop-1 union before truncation (`unionEdges`), which is what the hop-1 queries returned.
 * Seeds come first, then endpoints in edge order, each id once.
 */
export function frontier(seedIds: readonly string[], hop1Edges: readonly GraphEdge[]): string[] {
  const ids = new Set<string>(seedIds);
  for (const edge of hop1Edges) {
    ids.add(edge.src_id);
    ids.add(edge.dst_id);
  }
  return [...ids];
}

/**
 * The node ids to load: the seeds plus every endpoint of a result edge. Over budget `bn`, all
 * seeds stay (even beyond `bn`) and the remaining room goes to the non-seeds with the largest
 * sum of weight·confidence over their incident result edges, ties by id ascending.
 */
export function selectCandidateNodes(seedIds: readonly string[], edges: readonly GraphEdge[], bn: number): string[] {
  const seeds = [...new Set(seedIds)];
  const seedSet = new Set(seeds);
  const strength = new Map<string, number>();
  for (const edge of edges) {
    const pull = edge.weight * edge.confidence;
    for (const id of [edge.src_id, edge.dst_id]) {
      if (!seedSet.has(id)) strength.set(id, (strength.get(id) ?? 0) + pull);
    }
  }
  const others = [...strength.keys()];
  if (seeds.length + others.length <= bn) return [...seeds, ...others];
  const room = Math.max(0, bn - seeds.length);
  const ranked = others.sort((a, b) => (strength.get(b) ?? 0) - (strength.get(a) ?? 0) || compareIds(a, b));
  return [...seeds, ...ranked.slice(0, room)];
}

/** Result edges whose endpoints were both loaded; the others cannot be shown or scored. */
export function dropDanglingEdges(edges: readonly GraphEdge[], loadedIds: IdLookup): GraphEdge[] {
  return edges.filter((edge) => loadedIds.has(edge.src_id) && loadedIds.has(edge.dst_id));
}
