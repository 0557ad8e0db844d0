import {
  applyAdaptive,
  hardCapped,
  inferStrategy,
  RECALL_PROFILES,
  resolveKnobs,
  STRATEGY_PRESETS,
  type ResolvedKnobs,
} from '../../src/data-plane/memory/recall/knobs';

describe('recall knobs (contract §3.1)', () => {
  describe('steps 1-3: base profile, fill-in and strategy', () => {
    it('given no knobs and no strategy, when resolved, then the base profile supplies all seven and nothing is explicit', () => {
      const resolved = resolveKnobs({}, { baseProfile: 'strict_edges' });
      expect(resolved.knobs).toEqual({ limit: 24, neighborhood_hops: 2, max_nodes: 60, max_edges: 80, ranked_limit: 140, min_edge_weight: 0.2, min_edge_confidence: 0.2 });
      expect(resolved.explicit).toBe(false);
    });

    it('given the three profiles, when read, then they carry the contract table values', () => {
      expect(RECALL_PROFILES.legacy).toEqual({ limit: 30, neighborhood_hops: 2, max_nodes: 50, max_edges: 100, ranked_limit: 100, min_edge_weight: 0, min_edge_confidence: 0 });
      expect(RECALL_PROFILES.quality_first).toEqual({ limit: 30, neighborhood_hops: 2, max_nodes: 80, max_edges: 100, ranked_limit: 180, min_edge_weight: 0.05, min_edge_confidence: 0.05 });
      expect(STRATEGY_PRESETS.local).toEqual({ limit: 16, neighborhood_hops: 1, max_nodes: 32, max_edges: 40, ranked_limit: 80, min_edge_weight: 0.2, min_edge_confidence: 0.2 });
      expect(STRATEGY_PRESETS.balanced).toEqual(RECALL_PROFILES.strict_edges);
      expect(STRATEGY_PRESETS.global).toEqual(RECALL_PROFILES.quality_first);
    });

    it('given the §2.3 example knobs and strategy balanced, when resolved, then the rest comes from strict_edges and the knobs are explicit', () => {
      const resolved = resolveKnobs({ limit: 5, neighborhood_hops: 1, max_nodes: 10, max_edges: 10 }, { baseProfile: 'strict_edges', strategy: 'balanced' });
      expect(resolved.knobs).toEqual({ limit: 5, neighborhood_hops: 1, max_nodes: 10, max_edges: 10, ranked_limit: 140, min_edge_weight: 0.2, min_edge_confidence: 0.2 });
      expect(resolved.explicit).toBe(true);
      expect(resolved.strategy).toBe('balanced');
    });

    it('given knobs that are all null, when resolved, then they count as missing and the strategy preset applies', () => {
      const resolved = resolveKnobs({ limit: null, max_nodes: null }, { baseProfile: 'strict_edges', strategy: 'local' });
      expect(resolved.explicit).toBe(false);
      expect(resolved.knobs).toEqual(STRATEGY_PRESETS.local);
    });

    it('given a zero-valued knob, when resolved, then it is explicit (only null and absent are missing)', () => {
      const resolved = resolveKnobs({ min_edge_weight: 0 }, { baseProfile: 'strict_edges', strategy: 'global' });
      expect(resolved.explicit).toBe(true);
      expect(resolved.knobs.min_edge_weight).toBe(0);
      expect(resolved.knobs.max_nodes).toBe(60);
    });

    it('given strategy global and no explicit knobs on a legacy base, when resolved, then all seven become the quality_first values', () => {
      expect(resolveKnobs({}, { baseProfile: 'legacy', strategy: 'global' }).knobs).toEqual(RECALL_PROFILES.quality_first);
    });

    it('given an explicit knob and a strategy, when resolved, then the strategy is ignored but still reported', () => {
      const resolved = resolveKnobs({ ranked_limit: 7 }, { baseProfile: 'legacy', strategy: 'local' });
      expect(resolved.knobs).toEqual({ ...RECALL_PROFILES.legacy, ranked_limit: 7 });
      expect(resolved.strategy).toBe('local');
    });
  });

  describe('step 4: adaptive downgrade and hard cap', () => {
    it('given explicit knobs, when the wait is long, then neither adjustment runs and both report explicit_knobs', () => {
      const resolved = resolveKnobs({ limit: 5, neighborhood_hops: 1, max_nodes: 10, max_edges: 10 }, { baseProfile: 'legacy' });
      const result = applyAdaptive(resolved, 5000);
      expect(result.knobs).toEqual(resolved.knobs);
      expect(result.adaptive).toEqual({ profile: { profile: 'legacy', applied: false, reason: 'explicit_knobs' }, hard_cap: { applied: false, reason: 'explicit_knobs' } });
    });

    it('given the §2.3 example (explicit knobs, strict_edges), when adapted, then observability.adaptive matches the example', () => {
      const resolved = resolveKnobs({ limit: 5, neighborhood_hops: 1, max_nodes: 10, max_edges: 10 }, { baseProfile: 'strict_edges', strategy: 'balanced' });
      expect(applyAdaptive(resolved, 0).adaptive).toEqual({
        profile: { profile: 'strict_edges', applied: false, reason: 'explicit_knobs' },
        hard_cap: { applied: false, reason: 'explicit_knobs' },
      });
    });

    it('given no wait on the default profile, when adapted, then both report wait_below_threshold (the §2.4 example)', () => {
      const result = applyAdaptive(resolveKnobs({}, { baseProfile: 'strict_edges' }), 0);
      expect(result.knobs).toEqual(RECALL_PROFILES.strict_edges);
      expect(result.adaptive).toEqual({
        profile: { profile: 'strict_edges', applied: false, reason: 'wait_below_threshold' },
        hard_cap: { applied: false, reason: 'wait_below_threshold' },
      });
    });

    it('given a legacy base and a 199 ms wait, when adapted, then nothing changes; at 200 ms the knobs become strict_edges with reason queue_pressure', () => {
      const resolved = resolveKnobs({}, { baseProfile: 'legacy' });
      expect(applyAdaptive(resolved, 199).knobs).toEqual(RECALL_PROFILES.legacy);
      const at200 = applyAdaptive(resolved, 200);
      expect(at200.knobs).toEqual(RECALL_PROFILES.strict_edges);
      expect(at200.adaptive).toEqual({
        profile: { profile: 'strict_edges', applied: true, reason: 'queue_pressure' },
        hard_cap: { applied: false, reason: 'wait_below_threshold' },
      });
    });

    it('given the base already is the target, when the wait passes 200 ms, then the reason is already_target_profile', () => {
      const result = applyAdaptive(resolveKnobs({}, { baseProfile: 'strict_edges' }), 300);
      expect(result.adaptive.profile).toEqual({ profile: 'strict_edges', applied: false, reason: 'already_target_profile' });
      expect(result.knobs).toEqual(RECALL_PROFILES.strict_edges);
    });

    it('given a configured target profile, when downgrading, then the knobs become that profile', () => {
      const result = applyAdaptive(resolveKnobs({}, { baseProfile: 'legacy' }), 250, { targetProfile: 'quality_first' });
      expect(result.knobs).toEqual(RECALL_PROFILES.quality_first);
      expect(result.adaptive.profile).toEqual({ profile: 'quality_first', applied: true, reason: 'queue_pressure' });
    });

    it('given a 599 ms wait, when adapted, then no hard cap; at 600 ms the downgraded knobs are capped to 16/1/40/50/90 and 0.25 minima', () => {
      const resolved = resolveKnobs({}, { baseProfile: 'legacy' });
      expect(applyAdaptive(resolved, 599).adaptive.hard_cap).toEqual({ applied: false, reason: 'wait_below_threshold' });
      const capped = applyAdaptive(resolved, 600);
      expect(capped.knobs).toEqual({ limit: 16, neighborhood_hops: 1, max_nodes: 40, max_edges: 50, ranked_limit: 90, min_edge_weight: 0.25, min_edge_confidence: 0.25 });
      expect(capped.adaptive.hard_cap).toEqual({ applied: true, reason: 'queue_pressure_hard_cap' });
    });

    it('given the local strategy under a hard cap, when capped, then counts already below the caps stay and only the minima rise', () => {
      const result = applyAdaptive(resolveKnobs({}, { baseProfile: 'strict_edges', strategy: 'local' }), 800);
      expect(result.knobs).toEqual({ limit: 16, neighborhood_hops: 1, max_nodes: 32, max_edges: 40, ranked_limit: 80, min_edge_weight: 0.25, min_edge_confidence: 0.25 });
      expect(result.adaptive.hard_cap.reason).toBe('queue_pressure_hard_cap');
    });

    it('given knobs already within the hard cap, when the wait passes 600 ms, then the reason is already_capped', () => {
      const resolved: ResolvedKnobs = { knobs: hardCapped(RECALL_PROFILES.strict_edges), explicit: false, baseProfile: 'strict_edges', strategy: null };
      expect(applyAdaptive(resolved, 900).adaptive.hard_cap).toEqual({ applied: false, reason: 'already_capped' });
    });

    it('given both adjustments disabled, when the wait is long, then both report disabled and the knobs are untouched', () => {
      const resolved = resolveKnobs({}, { baseProfile: 'legacy' });
      const result = applyAdaptive(resolved, 10_000, { downgradeEnabled: false, hardCapEnabled: false });
      expect(result.knobs).toEqual(RECALL_PROFILES.legacy);
      expect(result.adaptive).toEqual({ profile: { profile: 'legacy', applied: false, reason: 'disabled' }, hard_cap: { applied: false, reason: 'disabled' } });
    });

    it('given only the downgrade disabled, when the wait passes 600 ms, then the hard cap still applies to the base knobs', () => {
      const result = applyAdaptive(resolveKnobs({}, { baseProfile: 'legacy' }), 700, { downgradeEnabled: false });
      expect(result.knobs).toEqual({ limit: 16, neighborhood_hops: 1, max_nodes: 40, max_edges: 50, ranked_limit: 90, min_edge_weight: 0.25, min_edge_confidence: 0.25 });
      expect(result.adaptive.profile.reason).toBe('disabled');
    });
  });

  describe('trajectory.strategy inference', () => {
    it('given a requested strategy, when inferring, then it is reported as is', () => {
      expect(inferStrategy(RECALL_PROFILES.legacy, 'local')).toBe('local');
    });

    it('given no request, when the final knobs equal a preset, then local / global / balanced follow the knobs', () => {
      expect(inferStrategy(STRATEGY_PRESETS.local, null)).toBe('local');
      expect(inferStrategy(RECALL_PROFILES.quality_first, null)).toBe('global');
      expect(inferStrategy(RECALL_PROFILES.strict_edges, undefined)).toBe('balanced');
      expect(inferStrategy(RECALL_PROFILES.legacy, null)).toBe('balanced');
      expect(inferStrategy({ ...STRATEGY_PRESETS.local, limit: 5 }, null)).toBe('balanced');
    });
  });
});
