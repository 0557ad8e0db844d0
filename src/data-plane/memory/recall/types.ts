/**
 * Plain data shared by the pure stages of the recall pipeline (contract §2.3, §3, §4).
 *
 * The service loads these shapes from SQL and hands them to the stage functions; nothing in this
 * folder performs I/O. Node and edge reals (`salience`, `importance`, `confidence`, `weight`) are
 * stored as 32-bit floats: map them through `normalizeGraphNode` / `normalizeGraphEdge`
 * (float32.ts) when rows are read, so the arithmetic sees `0.2` and not `0.20000000298023224`.
 */

export type NodeType = 'event' | 'entity' | 'topic' | 'rule' | 'evidence' | 'concept' | 'procedure' | 'self_model';
export type EdgeType = 'part_of' | 'related_to' | 'derived_from';

export interface GraphNode {
  readonly id: string;
  readonly client_id: string | null;
  readonly type: NodeType;
  readonly tier: 'hot' | 'warm' | 'cold' | 'archive';
  readonly title: string | null;
  readonly text_summary: string | null;
  readonly slots: Readonly<Record<string, unknown>>;
  readonly raw_ref: string | null;
  readonly evidence_ref: string | null;
  readonly embedding_status: 'ready' | 'pending' | 'failed';
  readonly embedding_model: string | null;
  readonly memory_lane: 'private' | 'shared';
  readonly producer_agent_id: string | null;
  readonly owner_agent_id: string | null;
  readonly owner_team_id: string | null;
  readonly salience: number;
  readonly importance: number;
  readonly confidence: number;
  /** ISO-8601 with milliseconds. */
  readonly created_at: string;
  /** ISO-8601 with milliseconds. */
  readonly updated_at: string;
  /** ISO-8601 with milliseconds, or null when never activated. */
  readonly last_activated: string | null;
  readonly commit_id: string;
}

export interface GraphEdge {
  readonly id: string;
  readonly type: EdgeType;
  readonly src_id: string;
  readonly dst_id: string;
  readonly weight: number;
  readonly confidence: number;
  readonly commit_id: string;
}

export interface RuleDefinition {
  readonly rule_node_id: string;
  readonly state: 'draft' | 'shadow' | 'active' | 'disabled';
  readonly rule_scope: 'global' | 'team' | 'agent';
  readonly target_agent_id: string | null;
  readonly target_team_id: string | null;
  readonly if_json: unknown;
  readonly then_json: unknown;
  readonly exceptions_json: unknown;
  readonly positive_count: number;
  readonly negative_count: number;
  readonly commit_id: string;
}

/**
 * One of the K nearest nodes of stage 1, in ascending cosine distance. `similarity` is
 * 1 − distance; `rule_state` is the rule definition's state for rule nodes (null otherwise).
 */
export interface SeedCandidate {
  readonly node: GraphNode;
  readonly similarity: number;
  readonly rule_state: RuleDefinition['state'] | null;
}

/** The seven recall knobs (§3.1). */
export interface Knobs {
  limit: number;
  neighborhood_hops: 1 | 2;
  max_nodes: number;
  max_edges: number;
  ranked_limit: number;
  min_edge_weight: number;
  min_edge_confidence: number;
}

export type KnobName = keyof Knobs;

/** The knob names in the order the contract lists them (and `trajectory.budgets` prints them). */
export const KNOB_NAMES: readonly KnobName[] = [
  'limit',
  'neighborhood_hops',
  'max_nodes',
  'max_edges',
  'ranked_limit',
  'min_edge_weight',
  'min_edge_confidence',
];

export type ProfileName = 'legacy' | 'strict_edges' | 'quality_first';
export type StrategyName = 'local' | 'balanced' | 'global';
export type CompactionProfile = 'balanced' | 'aggressive';

/** One activated node: its final activation and score (§3.4). */
export interface RankedNode {
  readonly id: string;
  readonly activation: number;
  readonly score: number;
}

/** `debug.neighborhood_counts`: loaded nodes and the result edges that survived the load. */
export interface NeighborhoodCounts {
  readonly nodes: number;
  readonly edges: number;
}

/** `debug.stage1` (§2.3). */
export interface Stage1Info {
  readonly mode: 'ann' | 'exact_fallback';
  readonly ann_seed_count: number;
  readonly final_seed_count: number;
  readonly exact_fallback_enabled: boolean;
  readonly exact_fallback_attempted: boolean;
}

/** Anything that can answer "was this id loaded?": a Set of ids or a Map keyed by id. */
export interface IdLookup {
  has(id: string): boolean;
}
