import { type ContextCompaction } from './context';
import { type DebugEmbedding } from './dto';
import { budgets, inferStrategy, type AdaptiveReport } from './knobs';
import { type Knobs, type NeighborhoodCounts, type Stage1Info, type StrategyName } from './types';

/** `trajectory` and `observability` of a recall response (contract §3.5). */

export const STAGE_TIMING_KEYS = [
  'stage1_candidates_ann_ms',
  'stage1_candidates_exact_fallback_ms',
  'stage2_edges_ms',
  'stage2_nodes_ms',
  'stage2_spread_ms',
  'stage3_context_ms',
  'rule_defs_ms',
  'audit_insert_ms',
  'debug_embeddings_ms',
] as const;

export type StageTimingKey = (typeof STAGE_TIMING_KEYS)[number];
export type StageTimings = Readonly<Record<StageTimingKey, number>>;

/** Exactly the nine keys, in contract order; a stage that was not timed (or is not finite) reports 0. */
export function stageTimings(measured: Partial<Record<StageTimingKey, number>>): StageTimings {
  const out = {} as Record<StageTimingKey, number>;
  for (const key of STAGE_TIMING_KEYS) {
    const value = measured[key];
    out[key] = typeof value === 'number' && Number.isFinite(value) ? value : 0;
  }
  return out;
}

/** `debug.stage1` from what stage 1 observed; `mode` is `exact_fallback` once the exact rerun ran. */
export function stage1Info(facts: {
  readonly annSeedCount: number;
  readonly finalSeedCount: number;
  readonly exactFallbackEnabled: boolean;
  readonly exactFallbackAttempted: boolean;
}): Stage1Info {
  return {
    mode: facts.exactFallbackAttempted ? 'exact_fallback' : 'ann',
    ann_seed_count: facts.annSeedCount,
    final_seed_count: facts.finalSeedCount,
    exact_fallback_enabled: facts.exactFallbackEnabled,
    exact_fallback_attempted: facts.exactFallbackAttempted,
  };
}

export type L0Reason = 'seed_empty' | 'exact_fallback_empty' | 'ann_empty_recovered_by_exact_fallback';
export type L1Reason = 'max_nodes_cap' | 'max_edges_cap' | 'edge_quality_thresholds_active' | 'seed_visibility_or_state_filtered';
export type L2Reason = 'context_empty_no_nodes' | 'context_empty_after_compaction_or_missing_text';
export type PrunedReason = L0Reason | L1Reason | L2Reason;

export interface L0Layer {
  readonly level: 'L0';
  readonly name: 'seed_candidates';
  readonly hits: number;
  readonly ann_seed_candidates: number;
  readonly mode: Stage1Info['mode'];
  readonly exact_fallback_attempted: boolean;
  readonly duration_ms: number;
  readonly pruned_reasons: readonly L0Reason[];
}

export interface L1Layer {
  readonly level: 'L1';
  readonly name: 'graph_expansion';
  readonly hits: number;
  readonly edges: number;
  readonly candidate_nodes: number;
  readonly candidate_edges: number;
  readonly dropped_nodes: number;
  readonly dropped_edges: number;
  readonly duration_ms: number;
  readonly pruned_reasons: readonly L1Reason[];
}

export interface L2Layer {
  readonly level: 'L2';
  readonly name: 'context_assembly';
  readonly context_chars: number;
  readonly duration_ms: number;
  readonly pruned_reasons: readonly L2Reason[];
}

export interface Trajectory {
  readonly strategy: StrategyName;
  readonly layers: readonly [L0Layer, L1Layer, L2Layer];
  readonly budgets: Knobs;
  readonly pruned_reasons: readonly PrunedReason[];
}

export interface TrajectoryInput {
  /** The request's `recall_strategy`, if any. */
  readonly requestedStrategy: StrategyName | null | undefined;
  /** The final knobs (after adaptation). */
  readonly knobs: Readonly<Knobs>;
  readonly returnDebug: boolean;
  /** What stage 1 observed; surfaced only with `return_debug`. */
  readonly stage1: Stage1Info;
  /** Seeds after stage 1. */
  readonly seedCount: number;
  /** Loaded nodes and surviving result edges; null on the empty-seed path. */
  readonly neighborhoodCounts: NeighborhoodCounts | null;
  readonly outputNodeCount: number;
  readonly outputEdgeCount: number;
  /** `context.text.length`. */
  readonly contextChars: number;
  readonly timings: StageTimings;
}

/**
 * Each layer's reasons are derived from the values that layer reports, so a layer never
 * contradicts itself: without `return_debug` L0 shows mode `ann` and L1 no drops, hence no
 * fallback or cap reasons either.
 */
export function trajectory(input: TrajectoryInput): Trajectory {
  const l0 = seedLayer(input);
  const l1 = expansionLayer(input);
  const l2 = contextLayer(input);
  return {
    strategy: inferStrategy(input.knobs, input.requestedStrategy),
    layers: [l0, l1, l2],
    budgets: budgets(input.knobs),
    pruned_reasons: [...new Set<PrunedReason>([...l0.pruned_reasons, ...l1.pruned_reasons, ...l2.pruned_reasons])],
  };
}

function seedLayer(input: TrajectoryInput): L0Layer {
  const debug = input.returnDebug;
  const hits = debug ? input.stage1.final_seed_count : input.seedCount;
  const attempted = debug ? input.stage1.exact_fallback_attempted : false;
  const reasons: L0Reason[] = [];
  if (hits === 0) reasons.push('seed_empty');
  if (attempted && hits === 0) reasons.push('exact_fallback_empty');
  if (attempted && hits > 0) reasons.push('ann_empty_recovered_by_exact_fallback');
  return {
    level: 'L0',
    name: 'seed_candidates',
    hits,
    ann_seed_candidates: debug ? input.stage1.ann_seed_count : input.seedCount,
    mode: debug ? input.stage1.mode : 'ann',
    exact_fallback_attempted: attempted,
    duration_ms: input.timings.stage1_candidates_ann_ms + input.timings.stage1_candidates_exact_fallback_ms,
    pruned_reasons: reasons,
  };
}

function expansionLayer(input: TrajectoryInput): L1Layer {
  const counts = input.returnDebug ? input.neighborhoodCounts : null;
  const candidateNodes = counts?.nodes ?? input.outputNodeCount;
  const candidateEdges = counts?.edges ?? input.outputEdgeCount;
  const droppedNodes = Math.max(0, candidateNodes - input.outputNodeCount);
  const droppedEdges = Math.max(0, candidateEdges - input.outputEdgeCount);
  const reasons: L1Reason[] = [];
  if (droppedNodes > 0 && input.outputNodeCount >= input.knobs.max_nodes) reasons.push('max_nodes_cap');
  if (droppedEdges > 0 && input.outputEdgeCount >= input.knobs.max_edges) reasons.push('max_edges_cap');
  if (input.knobs.min_edge_weight > 0 || input.knobs.min_edge_confidence > 0) reasons.push('edge_quality_thresholds_active');
  if (input.seedCount > 0 && input.outputNodeCount === 0) reasons.push('seed_visibility_or_state_filtered');
  return {
    level: 'L1',
    name: 'graph_expansion',
    hits: input.outputNodeCount,
    edges: input.outputEdgeCount,
    candidate_nodes: candidateNodes,
    candidate_edges: candidateEdges,
    dropped_nodes: droppedNodes,
    dropped_edges: droppedEdges,
    duration_ms: input.timings.stage2_edges_ms + input.timings.stage2_nodes_ms + input.timings.stage2_spread_ms,
    pruned_reasons: reasons,
  };
}

/** An empty text is explained by having no nodes at all, or else by compaction or missing text. */
function contextLayer(input: TrajectoryInput): L2Layer {
  const reasons: L2Reason[] = [];
  if (input.contextChars === 0) reasons.push(input.outputNodeCount === 0 ? 'context_empty_no_nodes' : 'context_empty_after_compaction_or_missing_text');
  return { level: 'L2', name: 'context_assembly', context_chars: input.contextChars, duration_ms: input.timings.stage3_context_ms, pruned_reasons: reasons };
}

export interface Observability {
  readonly stage_timings_ms: StageTimings;
  readonly inflight_wait_ms: number;
  readonly adaptive: AdaptiveReport;
  readonly stage1: Stage1Info | null;
  readonly neighborhood_counts: NeighborhoodCounts | null;
}

/** `stage1` and `neighborhood_counts` copy the debug values, and are null without `return_debug`. */
export function observability(input: {
  readonly timings: StageTimings;
  readonly inflightWaitMs: number;
  readonly adaptive: AdaptiveReport;
  readonly returnDebug: boolean;
  readonly stage1: Stage1Info;
  readonly neighborhoodCounts: NeighborhoodCounts | null;
}): Observability {
  return {
    stage_timings_ms: input.timings,
    inflight_wait_ms: input.inflightWaitMs,
    adaptive: input.adaptive,
    stage1: input.returnDebug ? input.stage1 : null,
    neighborhood_counts: input.returnDebug ? input.neighborhoodCounts : null,
  };
}

/** `debug` (only with `return_debug`). */
export interface RecallDebug {
  readonly neighborhood_counts: NeighborhoodCounts;
  readonly embeddings?: readonly DebugEmbedding[];
  readonly context_compaction?: ContextCompaction;
  readonly stage1: Stage1Info;
}

/**
 * The `debug` block in contract member order. `embeddings` only when they were requested;
 * `context_compaction` is left out on the empty-seed path, where no context was assembled.
 */
export function recallDebug(input: {
  readonly neighborhoodCounts: NeighborhoodCounts;
  readonly embeddings?: readonly DebugEmbedding[] | null;
  readonly contextCompaction?: ContextCompaction | null;
  readonly stage1: Stage1Info;
}): RecallDebug {
  return {
    neighborhood_counts: input.neighborhoodCounts,
    ...(input.embeddings !== undefined && input.embeddings !== null ? { embeddings: input.embeddings } : {}),
    ...(input.contextCompaction !== undefined && input.contextCompaction !== null ? { context_compaction: input.contextCompaction } : {}),
    stage1: input.stage1,
  };
}
