import { applyAdaptive, RECALL_PROFILES, resolveKnobs } from '../../src/data-plane/memory/recall/knobs';
import { observability, recallDebug, stage1Info, stageTimings, trajectory, type TrajectoryInput } from '../../src/data-plane/memory/recall/trajectory';

const exampleTimings = stageTimings({ stage1_candidates_ann_ms: 3.1, stage2_edges_ms: 2.9, stage2_nodes_ms: 1.5, audit_insert_ms: 0.8 });

/** The §2.3 example: explicit knobs, strategy balanced, two seeds, two nodes, one edge, 216 chars. */
function example(over: Partial<TrajectoryInput> = {}): TrajectoryInput {
  const resolved = resolveKnobs({ limit: 5, neighborhood_hops: 1, max_nodes: 10, max_edges: 10 }, { baseProfile: 'strict_edges', strategy: 'balanced' });
  return {
    requestedStrategy: 'balanced',
    knobs: applyAdaptive(resolved, 0).knobs,
    returnDebug: false,
    stage1: stage1Info({ annSeedCount: 2, finalSeedCount: 2, exactFallbackEnabled: true, exactFallbackAttempted: false }),
    seedCount: 2,
    neighborhoodCounts: { nodes: 2, edges: 1 },
    outputNodeCount: 2,
    outputEdgeCount: 1,
    contextChars: 216,
    timings: exampleTimings,
    ...over,
  };
}

describe('recall trajectory (contract §3.5)', () => {
  it('given the §2.3 example, when the trajectory is built, then layers, budgets and reasons match the example', () => {
    const t = trajectory(example());
    expect(t).toEqual({
      strategy: 'balanced',
      layers: [
        { level: 'L0', name: 'seed_candidates', hits: 2, ann_seed_candidates: 2, mode: 'ann', exact_fallback_attempted: false, duration_ms: 3.1, pruned_reasons: [] },
        { level: 'L1', name: 'graph_expansion', hits: 2, edges: 1, candidate_nodes: 2, candidate_edges: 1, dropped_nodes: 0, dropped_edges: 0, duration_ms: 4.4, pruned_reasons: ['edge_quality_thresholds_active'] },
        { level: 'L2', name: 'context_assembly', context_chars: 216, duration_ms: 0, pruned_reasons: [] },
      ],
      budgets: { limit: 5, neighborhood_hops: 1, max_nodes: 10, max_edges: 10, ranked_limit: 140, min_edge_weight: 0.2, min_edge_confidence: 0.2 },
      pruned_reasons: ['edge_quality_thresholds_active'],
    });
    expect(Object.keys(t.budgets)).toEqual(['limit', 'neighborhood_hops', 'max_nodes', 'max_edges', 'ranked_limit', 'min_edge_weight', 'min_edge_confidence']);
  });

  it('given the §2.4 example (no knobs, no strategy), when built, then the strategy is inferred as balanced and the budgets are strict_edges', () => {
    const t = trajectory(example({ requestedStrategy: null, knobs: applyAdaptive(resolveKnobs({}, { baseProfile: 'strict_edges' }), 0).knobs }));
    expect(t.strategy).toBe('balanced');
    expect(t.budgets).toEqual({ limit: 24, neighborhood_hops: 2, max_nodes: 60, max_edges: 80, ranked_limit: 140, min_edge_weight: 0.2, min_edge_confidence: 0.2 });
  });

  it('given final knobs equal to quality_first and no requested strategy, when built, then the strategy is global', () => {
    expect(trajectory(example({ requestedStrategy: undefined, knobs: RECALL_PROFILES.quality_first })).strategy).toBe('global');
  });

  it('given return_debug and an exact fallback that found seeds, when built, then L0 reports the stage1 values and ann_empty_recovered_by_exact_fallback', () => {
    const stage1 = stage1Info({ annSeedCount: 0, finalSeedCount: 3, exactFallbackEnabled: true, exactFallbackAttempted: true });
    const [l0] = trajectory(example({ returnDebug: true, stage1, seedCount: 3 })).layers;
    expect(l0).toMatchObject({ hits: 3, ann_seed_candidates: 0, mode: 'exact_fallback', exact_fallback_attempted: true, pruned_reasons: ['ann_empty_recovered_by_exact_fallback'] });
  });

  it('given an exact fallback that found nothing, when built with debug, then L0 reports seed_empty and exact_fallback_empty and L2 context_empty_no_nodes', () => {
    const stage1 = stage1Info({ annSeedCount: 0, finalSeedCount: 0, exactFallbackEnabled: true, exactFallbackAttempted: true });
    const t = trajectory(example({ returnDebug: true, stage1, seedCount: 0, neighborhoodCounts: null, outputNodeCount: 0, outputEdgeCount: 0, contextChars: 0, knobs: RECALL_PROFILES.legacy }));
    expect(t.layers[0].pruned_reasons).toEqual(['seed_empty', 'exact_fallback_empty']);
    expect(t.layers[1]).toMatchObject({ candidate_nodes: 0, candidate_edges: 0, pruned_reasons: [] });
    expect(t.pruned_reasons).toEqual(['seed_empty', 'exact_fallback_empty', 'context_empty_no_nodes']);
  });

  it('given the same fallback without return_debug, when built, then L0 reports the seed count with mode ann and only seed_empty', () => {
    const stage1 = stage1Info({ annSeedCount: 0, finalSeedCount: 0, exactFallbackEnabled: true, exactFallbackAttempted: true });
    const [l0] = trajectory(example({ stage1, seedCount: 0, outputNodeCount: 0, outputEdgeCount: 0, contextChars: 0 })).layers;
    expect(l0).toMatchObject({ hits: 0, ann_seed_candidates: 0, mode: 'ann', exact_fallback_attempted: false, pruned_reasons: ['seed_empty'] });
  });

  it('given debug counts above a full output, when built, then L1 reports drops with max_nodes_cap and max_edges_cap', () => {
    const t = trajectory(example({ returnDebug: true, neighborhoodCounts: { nodes: 25, edges: 30 }, outputNodeCount: 10, outputEdgeCount: 10 }));
    expect(t.layers[1]).toMatchObject({
      hits: 10,
      edges: 10,
      candidate_nodes: 25,
      candidate_edges: 30,
      dropped_nodes: 15,
      dropped_edges: 20,
      pruned_reasons: ['max_nodes_cap', 'max_edges_cap', 'edge_quality_thresholds_active'],
    });
  });

  it('given drops while the output is below its caps, when built, then no cap reason is given', () => {
    const t = trajectory(example({ returnDebug: true, neighborhoodCounts: { nodes: 12, edges: 3 }, outputNodeCount: 9, outputEdgeCount: 2 }));
    expect(t.layers[1]).toMatchObject({ dropped_nodes: 3, dropped_edges: 1, pruned_reasons: ['edge_quality_thresholds_active'] });
  });

  it('given debug counts without return_debug, when built, then the candidate counts equal the output counts', () => {
    const t = trajectory(example({ neighborhoodCounts: { nodes: 25, edges: 30 } }));
    expect(t.layers[1]).toMatchObject({ candidate_nodes: 2, candidate_edges: 1, dropped_nodes: 0, dropped_edges: 0 });
  });

  it('given seeds but no shown nodes and legacy minima, when built, then L1 says seed_visibility_or_state_filtered and no edge-quality reason', () => {
    const t = trajectory(example({ knobs: RECALL_PROFILES.legacy, outputNodeCount: 0, outputEdgeCount: 0, contextChars: 0 }));
    expect(t.layers[1].pruned_reasons).toEqual(['seed_visibility_or_state_filtered']);
    expect(t.layers[2].pruned_reasons).toEqual(['context_empty_no_nodes']);
  });

  it('given shown nodes but an empty context text, when built, then L2 says context_empty_after_compaction_or_missing_text', () => {
    expect(trajectory(example({ contextChars: 0 })).layers[2].pruned_reasons).toEqual(['context_empty_after_compaction_or_missing_text']);
  });
});

describe('recall observability (contract §3.5)', () => {
  it('given partial timings, when normalized, then exactly the nine keys are present in contract order and missing stages report 0', () => {
    const timings = stageTimings({ stage2_spread_ms: 0.4, rule_defs_ms: Number.NaN });
    expect(Object.keys(timings)).toEqual([
      'stage1_candidates_ann_ms',
      'stage1_candidates_exact_fallback_ms',
      'stage2_edges_ms',
      'stage2_nodes_ms',
      'stage2_spread_ms',
      'stage3_context_ms',
      'rule_defs_ms',
      'audit_insert_ms',
      'debug_embeddings_ms',
    ]);
    expect(timings.stage2_spread_ms).toBe(0.4);
    expect(timings.rule_defs_ms).toBe(0);
  });

  it('given the §2.3 example without return_debug, when built, then stage1 and neighborhood_counts are null', () => {
    const resolved = resolveKnobs({ limit: 5 }, { baseProfile: 'strict_edges' });
    const input = example();
    expect(
      observability({ timings: exampleTimings, inflightWaitMs: 0, adaptive: applyAdaptive(resolved, 0).adaptive, returnDebug: false, stage1: input.stage1, neighborhoodCounts: input.neighborhoodCounts }),
    ).toEqual({
      stage_timings_ms: {
        stage1_candidates_ann_ms: 3.1,
        stage1_candidates_exact_fallback_ms: 0,
        stage2_edges_ms: 2.9,
        stage2_nodes_ms: 1.5,
        stage2_spread_ms: 0,
        stage3_context_ms: 0,
        rule_defs_ms: 0,
        audit_insert_ms: 0.8,
        debug_embeddings_ms: 0,
      },
      inflight_wait_ms: 0,
      adaptive: { profile: { profile: 'strict_edges', applied: false, reason: 'explicit_knobs' }, hard_cap: { applied: false, reason: 'explicit_knobs' } },
      stage1: null,
      neighborhood_counts: null,
    });
  });

  it('given return_debug, when built, then stage1 and neighborhood_counts copy the debug values', () => {
    const input = example();
    const result = observability({ timings: exampleTimings, inflightWaitMs: 12.5, adaptive: applyAdaptive(resolveKnobs({}, { baseProfile: 'legacy' }), 12.5).adaptive, returnDebug: true, stage1: input.stage1, neighborhoodCounts: { nodes: 2, edges: 1 } });
    expect(result.stage1).toEqual({ mode: 'ann', ann_seed_count: 2, final_seed_count: 2, exact_fallback_enabled: true, exact_fallback_attempted: false });
    expect(result.neighborhood_counts).toEqual({ nodes: 2, edges: 1 });
    expect(result.inflight_wait_ms).toBe(12.5);
  });
});

describe('recall debug block (contract §2.3)', () => {
  const stage1 = stage1Info({ annSeedCount: 0, finalSeedCount: 0, exactFallbackEnabled: true, exactFallbackAttempted: true });

  it('given the empty-seed path, when the debug block is built, then context_compaction and embeddings are absent', () => {
    expect(recallDebug({ neighborhoodCounts: { nodes: 0, edges: 0 }, stage1 })).toEqual({ neighborhood_counts: { nodes: 0, edges: 0 }, stage1 });
  });

  it('given every part, when built, then members follow the contract order', () => {
    const compaction = { profile: 'balanced' as const, token_budget: null, char_budget: null, applied: false, before_chars: 0, after_chars: 0, before_est_tokens: 0, after_est_tokens: 0, dropped_lines: 0, dropped_by_section: { topics: 0, entities: 0, events: 0, rules: 0 } };
    const debug = recallDebug({ neighborhoodCounts: { nodes: 1, edges: 0 }, embeddings: [], contextCompaction: compaction, stage1 });
    expect(Object.keys(debug)).toEqual(['neighborhood_counts', 'embeddings', 'context_compaction', 'stage1']);
  });
});
