import { KNOB_NAMES, type KnobName, type Knobs, type ProfileName, type StrategyName } from './types';

/**
 * Resolving the seven recall knobs (contract §3.1): base profile, fill-in, strategy preset and the
 * adaptive adjustments under queue pressure.
 */

export const RECALL_PROFILES: Readonly<Record<ProfileName, Readonly<Knobs>>> = {
  legacy: { limit: 30, neighborhood_hops: 2, max_nodes: 50, max_edges: 100, ranked_limit: 100, min_edge_weight: 0, min_edge_confidence: 0 },
  strict_edges: { limit: 24, neighborhood_hops: 2, max_nodes: 60, max_edges: 80, ranked_limit: 140, min_edge_weight: 0.2, min_edge_confidence: 0.2 },
  quality_first: { limit: 30, neighborhood_hops: 2, max_nodes: 80, max_edges: 100, ranked_limit: 180, min_edge_weight: 0.05, min_edge_confidence: 0.05 },
};

/** The server default base profile and adaptive target (`MEMORY_RECALL_PROFILE`). */
export const DEFAULT_RECALL_PROFILE: ProfileName = 'strict_edges';

export const STRATEGY_PRESETS: Readonly<Record<StrategyName, Readonly<Knobs>>> = {
  local: { limit: 16, neighborhood_hops: 1, max_nodes: 32, max_edges: 40, ranked_limit: 80, min_edge_weight: 0.2, min_edge_confidence: 0.2 },
  balanced: RECALL_PROFILES.strict_edges,
  global: RECALL_PROFILES.quality_first,
};

/** Queue waits (ms) from which the adaptive downgrade and the hard cap engage. */
export const ADAPTIVE_DOWNGRADE_WAIT_MS = 200;
export const HARD_CAP_WAIT_MS = 600;

/** The hard cap: ceilings for the five counts, a floor for the two edge-quality minima. */
export const HARD_CAP = {
  limit: 16,
  neighborhood_hops: 1,
  max_nodes: 40,
  max_edges: 50,
  ranked_limit: 90,
  min_edge_floor: 0.25,
} as const;

/** Knobs as the request carries them: any of them may be absent or null. */
export type RequestKnobs = { readonly [K in KnobName]?: number | null };

export interface ResolvedKnobs {
  readonly knobs: Readonly<Knobs>;
  /** At least one of the seven was set to a non-null value: strategy and adaptation are then off. */
  readonly explicit: boolean;
  readonly baseProfile: ProfileName;
  /** The requested `recall_strategy`, reported even when explicit knobs made it ineffective. */
  readonly strategy: StrategyName | null;
}

/** Steps 1-3 of §3.1. `baseProfile` is the profile chosen by server default or policy (step 1). */
export function resolveKnobs(
  request: RequestKnobs,
  context: { readonly baseProfile: ProfileName; readonly strategy?: StrategyName | null },
): ResolvedKnobs {
  const base = RECALL_PROFILES[context.baseProfile];
  const explicit = hasExplicitKnobs(request);
  const strategy = context.strategy ?? null;
  const knobs = strategy !== null && !explicit ? { ...STRATEGY_PRESETS[strategy] } : fillFromProfile(request, base);
  return { knobs, explicit, baseProfile: context.baseProfile, strategy };
}

export function hasExplicitKnobs(request: RequestKnobs): boolean {
  return KNOB_NAMES.some((name) => request[name] !== undefined && request[name] !== null);
}

function fillFromProfile(request: RequestKnobs, base: Readonly<Knobs>): Knobs {
  const pick = (name: KnobName): number => request[name] ?? base[name];
  return {
    limit: pick('limit'),
    // The schema admits only 1 or 2; anything else is folded onto the nearest so this stays total.
    neighborhood_hops: pick('neighborhood_hops') <= 1 ? 1 : 2,
    max_nodes: pick('max_nodes'),
    max_edges: pick('max_edges'),
    ranked_limit: pick('ranked_limit'),
    min_edge_weight: pick('min_edge_weight'),
    min_edge_confidence: pick('min_edge_confidence'),
  };
}

export type ProfileReason = 'disabled' | 'explicit_knobs' | 'wait_below_threshold' | 'already_target_profile' | 'queue_pressure';
export type HardCapReason = 'disabled' | 'explicit_knobs' | 'wait_below_threshold' | 'already_capped' | 'queue_pressure_hard_cap';

/** `observability.adaptive`. */
export interface AdaptiveReport {
  readonly profile: { readonly profile: ProfileName; readonly applied: boolean; readonly reason: ProfileReason };
  readonly hard_cap: { readonly applied: boolean; readonly reason: HardCapReason };
}

export interface AdaptiveOptions {
  /** Adaptive downgrade switch (default on). */
  readonly downgradeEnabled?: boolean;
  /** The profile a loaded server downgrades to (default `strict_edges`). */
  readonly targetProfile?: ProfileName;
  /** Hard cap switch (default on). */
  readonly hardCapEnabled?: boolean;
}

export interface AdaptiveResult {
  readonly knobs: Readonly<Knobs>;
  readonly adaptive: AdaptiveReport;
}

/**
 * Step 4 of §3.1, run after the concurrency slot is acquired; `waitMs` is the time spent queued.
 * The downgrade runs first and the hard cap tightens its result. A disabled switch reports
 * `disabled` even for explicit knobs: the switch is server configuration, checked before the
 * request is looked at. `adaptive.profile.profile` names the profile in effect afterwards: the
 * target when the downgrade applied, the base profile otherwise.
 */
export function applyAdaptive(resolved: ResolvedKnobs, waitMs: number, options: AdaptiveOptions = {}): AdaptiveResult {
  const target = options.targetProfile ?? DEFAULT_RECALL_PROFILE;
  const profileReason = downgradeReason(resolved, waitMs, target, options.downgradeEnabled ?? true);
  const downgraded = profileReason === 'queue_pressure' ? { ...RECALL_PROFILES[target] } : resolved.knobs;
  const capReason = hardCapReason(resolved.explicit, downgraded, waitMs, options.hardCapEnabled ?? true);
  const knobs = capReason === 'queue_pressure_hard_cap' ? hardCapped(downgraded) : downgraded;
  return {
    knobs,
    adaptive: {
      profile: { profile: profileReason === 'queue_pressure' ? target : resolved.baseProfile, applied: profileReason === 'queue_pressure', reason: profileReason },
      hard_cap: { applied: capReason === 'queue_pressure_hard_cap', reason: capReason },
    },
  };
}

function downgradeReason(resolved: ResolvedKnobs, waitMs: number, target: ProfileName, enabled: boolean): ProfileReason {
  if (!enabled) return 'disabled';
  if (resolved.explicit) return 'explicit_knobs';
  if (!(waitMs >= ADAPTIVE_DOWNGRADE_WAIT_MS)) return 'wait_below_threshold';
  if (resolved.baseProfile === target) return 'already_target_profile';
  return 'queue_pressure';
}

function hardCapReason(explicit: boolean, knobs: Readonly<Knobs>, waitMs: number, enabled: boolean): HardCapReason {
  if (!enabled) return 'disabled';
  if (explicit) return 'explicit_knobs';
  if (!(waitMs >= HARD_CAP_WAIT_MS)) return 'wait_below_threshold';
  if (isWithinHardCap(knobs)) return 'already_capped';
  return 'queue_pressure_hard_cap';
}

/** True when capping would change nothing. */
export function isWithinHardCap(knobs: Readonly<Knobs>): boolean {
  const capped = hardCapped(knobs);
  return KNOB_NAMES.every((name) => capped[name] === knobs[name]);
}

export function hardCapped(knobs: Readonly<Knobs>): Knobs {
  return {
    limit: Math.min(knobs.limit, HARD_CAP.limit),
    neighborhood_hops: HARD_CAP.neighborhood_hops,
    max_nodes: Math.min(knobs.max_nodes, HARD_CAP.max_nodes),
    max_edges: Math.min(knobs.max_edges, HARD_CAP.max_edges),
    ranked_limit: Math.min(knobs.ranked_limit, HARD_CAP.ranked_limit),
    min_edge_weight: Math.max(knobs.min_edge_weight, HARD_CAP.min_edge_floor),
    min_edge_confidence: Math.max(knobs.min_edge_confidence, HARD_CAP.min_edge_floor),
  };
}

/**
 * `trajectory.strategy` (§3.5): the requested strategy when given; otherwise inferred from the
 * final knobs (`local` or `global` on an exact preset match, else `balanced`).
 */
export function inferStrategy(knobs: Readonly<Knobs>, requested: StrategyName | null | undefined): StrategyName {
  if (requested !== null && requested !== undefined) return requested;
  if (sameKnobs(knobs, STRATEGY_PRESETS.local)) return 'local';
  if (sameKnobs(knobs, STRATEGY_PRESETS.global)) return 'global';
  return 'balanced';
}

export function sameKnobs(a: Readonly<Knobs>, b: Readonly<Knobs>): boolean {
  return KNOB_NAMES.every((name) => a[name] === b[name]);
}

/** `trajectory.budgets`: the seven final knobs in contract order. */
export function budgets(knobs: Readonly<Knobs>): Knobs {
  return {
    limit: knobs.limit,
    neighborhood_hops: knobs.neighborhood_hops,
    max_nodes: knobs.max_nodes,
    max_edges: knobs.max_edges,
    ranked_limit: knobs.ranked_limit,
    min_edge_weight: knobs.min_edge_weight,
    min_edge_confidence: knobs.min_edge_confidence,
  };
}
