/** Latency bucket upper bounds (ms) of the telemetry histograms; the last bucket is +inf. */
export const TELEMETRY_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const;
export const BUCKETS = TELEMETRY_BOUNDS_MS.length + 1;

export interface Rollup {
  total: number;
  status_2xx: number;
  status_4xx: number;
  status_429: number;
  status_5xx: number;
  latency_sum_ms: number;
  buckets: number[];
}

export const emptyRollup = (): Rollup => ({ total: 0, status_2xx: 0, status_4xx: 0, status_429: 0, status_5xx: 0, latency_sum_ms: 0, buckets: new Array<number>(BUCKETS).fill(0) });

export function bucketOf(ms: number): number {
  const i = TELEMETRY_BOUNDS_MS.findIndex((b) => ms <= b);
  return i === -1 ? BUCKETS - 1 : i;
}

/** Add one request to a rollup (pure on the rollup it is given). */
export function record(r: Rollup, status: number, ms: number): void {
  r.total += 1;
  if (status === 429) r.status_429 += 1;
  else if (status >= 500) r.status_5xx += 1;
  else if (status >= 400) r.status_4xx += 1;
  else r.status_2xx += 1;
  r.latency_sum_ms += ms;
  r.buckets[bucketOf(ms)]! += 1;
}

export function merge(a: Rollup, b: Rollup): Rollup {
  return {
    total: a.total + b.total,
    status_2xx: a.status_2xx + b.status_2xx,
    status_4xx: a.status_4xx + b.status_4xx,
    status_429: a.status_429 + b.status_429,
    status_5xx: a.status_5xx + b.status_5xx,
    latency_sum_ms: a.latency_sum_ms + b.latency_sum_ms,
    buckets: a.buckets.map((x, i) => x + (b.buckets[i] ?? 0)),
  };
}

/** The p-quantile (0..1) from a histogram: the upper bound of the bucket holding it (null when empty; 5000+ for the last). */
export function percentile(buckets: readonly number[], p: number): number | null {
  const total = buckets.reduce((s, x) => s + x, 0);
  if (total === 0) return null;
  const rank = Math.ceil(p * total);
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i]!;
    if (seen >= rank) return i < TELEMETRY_BOUNDS_MS.length ? TELEMETRY_BOUNDS_MS[i]! : Number.POSITIVE_INFINITY;
  }
  return Number.POSITIVE_INFINITY;
}


export function summary(r: Rollup) {
  const errors = r.status_5xx + r.status_429;
  const p = (q: number) => {
    const v = percentile(r.buckets, q);
    return v === null ? null : Number.isFinite(v) ? v : '>5000';
  };
  return {
    requests: r.total,
    status: { '2xx': r.status_2xx, '4xx': r.status_4xx, '429': r.status_429, '5xx': r.status_5xx },
    error_rate: r.total === 0 ? 0 : Math.round((errors / r.total) * 1e6) / 1e6,
    latency_ms: { mean: r.total === 0 ? null : Math.round((r.latency_sum_ms / r.total) * 100) / 100, p50: p(0.5), p95: p(0.95), p99: p(0.99) },
  };
}

/** Requests over the SLO's latency threshold, from a histogram (buckets[i] counts latency <= TELEMETRY_BOUNDS_MS[i]). */
export function slowRequests(buckets: readonly number[], thresholdMs: number): number {
  const idx = (TELEMETRY_BOUNDS_MS as readonly number[]).indexOf(thresholdMs);
  const within = buckets.slice(0, idx + 1).reduce((s, x) => s + x, 0);
  return buckets.reduce((s, x) => s + x, 0) - within;
}

/** A stored rollup row (numbers may come back as strings from the driver). */
export interface RollupLike {
  readonly t: Date | string;
  readonly total: number | string;
  readonly status_2xx: number | string;
  readonly status_4xx: number | string;
  readonly status_429: number | string;
  readonly status_5xx: number | string;
  readonly latency_sum_ms: number | string;
  readonly buckets: readonly (number | string)[];
}

export const toRollup = (r: RollupLike): Rollup => ({
  total: Number(r.total),
  status_2xx: Number(r.status_2xx),
  status_4xx: Number(r.status_4xx),
  status_429: Number(r.status_429),
  status_5xx: Number(r.status_5xx),
  latency_sum_ms: Number(r.latency_sum_ms),
  buckets: Array.from({ length: BUCKETS }, (_, i) => Number(r.buckets[i] ?? 0)),
});

/** The time-series windows the admin API offers, in seconds. */
export const SERIES_WINDOW_SECONDS = { '1h': 3600, '6h': 21_600, '24h': 86_400, '7d': 604_800, '30d': 2_592_000 } as const;
export type SeriesWindow = keyof typeof SERIES_WINDOW_SECONDS;
export const SERIES_WINDOWS = Object.keys(SERIES_WINDOW_SECONDS) as [SeriesWindow, ...SeriesWindow[]];
/** The default bucket of a window: minutes up to 6 h, hours beyond. */
export const defaultSeriesBucket = (w: SeriesWindow): SeriesBucket => (w === '1h' || w === '6h' ? 'minute' : 'hour');

export type SeriesBucket = 'minute' | 'hour';
export const SERIES_BUCKET_MS: { readonly [B in SeriesBucket]: number } = { minute: 60_000, hour: 3_600_000 };

/** Per-minute rollups summed per bucket (minute or hour, UTC), in time order; buckets without traffic are absent. */
export function bucketRollups(rows: readonly RollupLike[], bucket: SeriesBucket): { t: string; rollup: Rollup }[] {
  const byBucket = new Map<string, Rollup>();
  for (const row of rows) {
    const d = new Date(row.t);
    if (bucket === 'hour') d.setUTCMinutes(0, 0, 0);
    const key = d.toISOString();
    byBucket.set(key, merge(byBucket.get(key) ?? emptyRollup(), toRollup(row)));
  }
  return [...byBucket.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([t, rollup]) => ({ t, rollup }));
}

/**
 * Rollups of a month are kept this many days into the next month whatever the tenant's retention,
 * so the month's SLO statement can be issued when it closes (docs/slo.md: the statements are
 * issued automatically a few minutes after the month ends; this is the margin for a missed run).
 */
export const MONTH_CLOSE_HOLD_DAYS = 7;

const DAY_MS = 86_400_000;
const monthStartOf = (ms: number): number => {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
};

/**
 * The instant before which a tenant's rollups may be pruned (the pruner's rule, and the SLO
 * statement's computability rule): `now − retention`, but never inside the current month, nor
 * inside the previous month during the first MONTH_CLOSE_HOLD_DAYS days of a month. Pure.
 */
export function telemetryPruneHorizon(now: number, retentionDays: number): number {
  return Math.min(now - retentionDays * DAY_MS, monthStartOf(now - MONTH_CLOSE_HOLD_DAYS * DAY_MS));
}
