import { type GraphNode, type NodeType, type SeedCandidate } from './types';

/** Stage 1 of recall (contract §3.3) and the node-state readings later stages share. */

/** Types that may seed a recall; `evidence`, `procedure` and `self_model` never do. */
export const SEED_TYPES: ReadonlySet<NodeType> = new Set<NodeType>(['event', 'topic', 'concept', 'entity', 'rule']);

/** K of the nearest-neighbour query: a margin over `limit` for the type filter, capped at 1000. */
export function seedCandidateCount(limit: number): number {
  return Math.max(limit, Math.min(1000, 5 * limit));
}

/**
 * A topic's state (§1.8): `slots.topic_state` when it is a non-empty string, else `active`.
 * Any node can be asked; only topics are expected to carry the slot.
 */
export function topicState(node: Pick<GraphNode, 'slots'>): string {
  const state = isRecord(node.slots) ? node.slots['topic_state'] : undefined;
  return typeof state === 'string' && state !== '' ? state : 'active';
}

/** Draft topics are kept out of seeds, scoring and context; they surface only for explainability. */
export function isDraftTopic(node: Pick<GraphNode, 'type' | 'slots'>): boolean {
  return node.type === 'topic' && topicState(node) === 'draft';
}

export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether a nearest candidate may seed. The tier, readiness and lane filters belong to the SQL
 * (step 1); tier and readiness are repeated here so the function is correct on its own.
 */
export function isSeedEligible(candidate: SeedCandidate): boolean {
  const { node } = candidate;
  if (node.embedding_status !== 'ready') return false;
  if (node.tier !== 'hot' && node.tier !== 'warm') return false;
  if (!SEED_TYPES.has(node.type)) return false;
  if (node.type === 'topic') return topicState(node) === 'active';
  if (node.type === 'rule') return candidate.rule_state === 'shadow' || candidate.rule_state === 'active';
  return true;
}

/**
 * Steps 3-4 of §3.3: from the K candidates, already in ascending cosine distance, keep the
 * eligible ones and return the first `limit`. There is no similarity threshold. A node id seen
 * twice keeps its first (nearest) occurrence.
 */
export function pickSeeds(candidates: readonly SeedCandidate[], limit: number): SeedCandidate[] {
  const seeds: SeedCandidate[] = [];
  const seen = new Set<string>();
  for (const candidate of candidates) {
    if (seeds.length >= limit) break;
    if (seen.has(candidate.node.id) || !isSeedEligible(candidate)) continue;
    seen.add(candidate.node.id);
    seeds.push(candidate);
  }
  return seeds;
}

/** Seed ids in seed order, for the edge queries. */
export function seedIds(seeds: readonly SeedCandidate[]): string[] {
  return seeds.map((seed) => seed.node.id);
}
