import { slowRequests } from '../data-plane/telemetry/telemetry';
import type { SloTargets } from './slo';

export { slowRequests };

/**
 * Alert evaluation, pure: given window aggregates, the open alerts and the evaluator's memory of
 * when each open alert's condition cleared, decide which alerts fire and which resolve. No I/O,
 * no clock (`now` is an argument); the evaluator (alert-evaluator.ts) gathers the inputs and
 * records the decisions as events.
 *
 * Burn-rate rules follow the SRE workbook's multiwindow, multi-burn-rate alerts: a rule fires when
 * the burn rate (error ratio / error budget) is at least the factor over BOTH its long and its
 * short window, so it fires fast on a real burn and resolves soon after the burn stops.
 */

export type Severity = 'page' | 'ticket';
export const SEVERITIES: readonly Severity[] = ['page', 'ticket'];

/** Window lengths the evaluator aggregates, in minutes (keys of WindowAggregates). */
export const WINDOW_MINUTES = { '5m': 5, '30m': 30, '1h': 60, '6h': 360, '3d': 4320 } as const;
export type WindowName = keyof typeof WINDOW_MINUTES;
export const WINDOW_NAMES = Object.keys(WINDOW_MINUTES) as WindowName[];

export interface WindowPair {
  readonly pair: 'fast' | 'medium' | 'slow';
  readonly long: WindowName;
  readonly short: WindowName;
  /** Burn-rate factor both windows must reach. */
  readonly factor: number;
  readonly severity: Severity;
}

/** The workbook's pairs: 2% of a 30-day budget in 1 h, 5% in 6 h (both page), 10% in 3 d (ticket). */
export const WINDOW_PAIRS: readonly WindowPair[] = [
  { pair: 'fast', long: '1h', short: '5m', factor: 14.4, severity: 'page' },
  { pair: 'medium', long: '6h', short: '30m', factor: 6, severity: 'page' },
  { pair: 'slow', long: '3d', short: '6h', factor: 1, severity: 'ticket' },
];

export type Sli = 'availability' | 'latency';
export const SLIS: readonly Sli[] = ['availability', 'latency'];

/** `slo-availability-fast-burn`, `slo-latency-slow-burn`, ... */
export const burnRuleName = (sli: Sli, pair: WindowPair['pair']): string => `slo-${sli}-${pair}-burn`;

/** One window of one tenant's traffic: requests, failed ones (5xx), slow ones (over the SLO's threshold). */
export interface WindowAggregate {
  readonly total: number;
  readonly errors: number;
  readonly slow: number;
}
export type WindowAggregates = { readonly [W in WindowName]: WindowAggregate };

/** Error ratio divided by the error budget; 0 without traffic. */
export function burnRate(bad: number, total: number, target: number): number {
  if (total <= 0) return 0;
  const budget = 1 - target;
  if (budget <= 0) return bad > 0 ? Number.POSITIVE_INFINITY : 0;
  return bad / total / budget;
}

const round = (x: number): number => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);

/** What one rule saw for one subject (a tenant, or the platform with tenant_id null). */
export interface Observation {
  readonly rule: string;
  readonly tenant_id: string | null;
  readonly severity: Severity;
  readonly breaching: boolean;
  /** The numbers behind the decision, carried by the alert. */
  readonly numbers: Readonly<Record<string, number | string | null>>;
}

/**
 * Every burn-rate rule for one tenant. A long window with fewer than `minRequests` requests never
 * breaches (one failed request out of three is not an outage).
 */
export function burnRateObservations(tenantId: string, slo: SloTargets, w: WindowAggregates, minRequests: number): Observation[] {
  const out: Observation[] = [];
  for (const sli of SLIS) {
    const target = sli === 'availability' ? slo.availability_target : slo.latency_target;
    const bad = (a: WindowAggregate) => (sli === 'availability' ? a.errors : a.slow);
    for (const p of WINDOW_PAIRS) {
      const long = w[p.long];
      const short = w[p.short];
      const burnLong = burnRate(bad(long), long.total, target);
      const burnShort = burnRate(bad(short), short.total, target);
      const breaching = long.total >= minRequests && burnLong >= p.factor && burnShort >= p.factor;
      out.push({
        rule: burnRuleName(sli, p.pair),
        tenant_id: tenantId,
        severity: p.severity,
        breaching,
        numbers: {
          sli,
          target,
          ...(sli === 'latency' ? { latency_threshold_ms: slo.latency_threshold_ms } : {}),
          factor: p.factor,
          long_window: p.long,
          short_window: p.short,
          burn_rate_long: round(burnLong),
          burn_rate_short: round(burnShort),
          requests_long: long.total,
          bad_long: bad(long),
          requests_short: short.total,
          bad_short: bad(short),
        },
      });
    }
  }
  return out;
}

/** An alert as the evaluator knows it: open (firing), or the last resolution of its rule and subject. */
export interface OpenAlert {
  readonly alert_id: string;
  readonly rule: string;
  readonly tenant_id: string | null;
  readonly fired_at: string;
}

export interface EvaluationPolicy {
  /** An alert stays firing at least this long (flapping: a burn that blips off and on is one alert). */
  readonly minFiringMs: number;
  /** ...and resolves only once its condition has been clear this long. */
  readonly resolveDelayMs: number;
  /** After a resolution, the same rule and subject do not fire again for this long. */
  readonly refireHoldMs: number;
}

export interface EvaluationInput {
  readonly now: string;
  readonly observations: readonly Observation[];
  /** The open alerts (at most one per rule and subject). */
  readonly open: readonly OpenAlert[];
  /** When each rule and subject last resolved (alertKey -> ISO time). */
  readonly lastResolved: Readonly<Record<string, string>>;
  /** Since when each open alert's condition has been clear (alertKey -> ISO time), from the previous evaluation. */
  readonly clearSince: Readonly<Record<string, string>>;
  readonly policy: EvaluationPolicy;
}

export interface FireDecision {
  readonly kind: 'fire';
  readonly rule: string;
  readonly tenant_id: string | null;
  readonly severity: Severity;
  readonly numbers: Observation['numbers'];
}
export interface ResolveDecision {
  readonly kind: 'resolve';
  readonly alert_id: string;
  readonly rule: string;
  readonly tenant_id: string | null;
  readonly numbers: Observation['numbers'];
}
export type Decision = FireDecision | ResolveDecision;

export interface EvaluationResult {
  readonly decisions: Decision[];
  /** The clear-since memory to pass to the next evaluation. */
  readonly clearSince: Record<string, string>;
}

/** One open alert per rule and subject: this is its key. */
export const alertKey = (rule: string, tenantId: string | null): string => `${rule}|${tenantId ?? ''}`;

const ms = (iso: string): number => Date.parse(iso);

export function evaluate(input: EvaluationInput): EvaluationResult {
  const now = ms(input.now);
  const seen = new Map<string, Observation>();
  for (const o of input.observations) seen.set(alertKey(o.rule, o.tenant_id), o);
  const openByKey = new Map(input.open.map((a) => [alertKey(a.rule, a.tenant_id), a]));
  const decisions: Decision[] = [];
  const clearSince: Record<string, string> = {};

  for (const [key, alert] of openByKey) {
    const o = seen.get(key);
    // No observation at all (the tenant has no traffic left, a rule that no longer applies): clear.
    if (o?.breaching) continue;
    const since = input.clearSince[key] ?? input.now;
    const clearFor = now - ms(since);
    const firingFor = now - ms(alert.fired_at);
    if (clearFor >= input.policy.resolveDelayMs && firingFor >= input.policy.minFiringMs) {
      decisions.push({ kind: 'resolve', alert_id: alert.alert_id, rule: alert.rule, tenant_id: alert.tenant_id, numbers: o?.numbers ?? {} });
    } else {
      clearSince[key] = since;
    }
  }

  for (const [key, o] of seen) {
    if (!o.breaching || openByKey.has(key)) continue;
    const resolved = input.lastResolved[key];
    if (resolved !== undefined && now - ms(resolved) < input.policy.refireHoldMs) continue;
    decisions.push({ kind: 'fire', rule: o.rule, tenant_id: o.tenant_id, severity: o.severity, numbers: o.numbers });
  }
  return { decisions, clearSince };
}
