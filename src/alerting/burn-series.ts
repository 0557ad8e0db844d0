import type { Rollup } from '../data-plane/telemetry/telemetry';
import { burnRate, slowRequests } from './burn-rate';
import type { SloTargets } from './slo';

/**
 * A tenant's error-budget burn over time against its effective SLO, for both SLIs, with the same
 * definitions the burn-rate alerts use (burn-rate.ts): availability counts 5xx as bad (a 429 is the
 * tenant's own quota), latency counts requests over the threshold. Pure: given the rollups summed
 * per bucket and the targets.
 */
export interface BurnPoint {
  readonly start: string;
  readonly requests: number;
  readonly availability: { readonly bad: number; readonly burn: number };
  readonly latency: { readonly slow: number; readonly burn: number };
}

export interface BurnSummary {
  readonly requests: number;
  readonly availability: { readonly bad: number; readonly burn: number; readonly budget_consumed: number };
  readonly latency: { readonly slow: number; readonly burn: number; readonly budget_consumed: number };
}

const round = (x: number): number => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);

function point(r: Rollup, slo: SloTargets) {
  const slow = slowRequests(r.buckets, slo.latency_threshold_ms);
  return {
    requests: r.total,
    availability: { bad: r.status_5xx, burn: round(burnRate(r.status_5xx, r.total, slo.availability_target)) },
    latency: { slow, burn: round(burnRate(slow, r.total, slo.latency_target)) },
  };
}

export function burnSeries(buckets: readonly { t: string; rollup: Rollup }[], slo: SloTargets): BurnPoint[] {
  return buckets.map((b) => ({ start: b.t, ...point(b.rollup, slo) }));
}

/**
 * The whole window: its burn rates, and the share of a 30-day error budget it consumed (burn ×
 * window ÷ 30 days: a burn of 1 over 30 days consumes exactly the budget).
 */
export function burnSummary(total: Rollup, slo: SloTargets, windowSeconds: number): BurnSummary {
  const p = point(total, slo);
  const share = windowSeconds / (30 * 86_400);
  return {
    requests: p.requests,
    availability: { ...p.availability, budget_consumed: round(p.availability.burn * share) },
    latency: { ...p.latency, budget_consumed: round(p.latency.burn * share) },
  };
}
