/** Latency and rate arithmetic shared by every scenario (pure). */

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentile of an ascending array (p in (0, 100]). */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  const arr = Array.from(sorted);
  const sum = arr.reduce((a, b) => a + b, 0);
  return {
    count: arr.length,
    p50: percentileSorted(arr, 50),
    p90: percentileSorted(arr, 90),
    p99: percentileSorted(arr, 99),
    max: arr.length > 0 ? (arr[arr.length - 1] ?? Number.NaN) : Number.NaN,
    mean: arr.length > 0 ? sum / arr.length : Number.NaN,
  };
}

/** Round to a number of significant-looking decimals for display and JSON. */
export function round(v: number, decimals = 2): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

export function roundSummary(s: LatencySummary, decimals = 2): LatencySummary {
  return { count: s.count, p50: round(s.p50, decimals), p90: round(s.p90, decimals), p99: round(s.p99, decimals), max: round(s.max, decimals), mean: round(s.mean, decimals) };
}

export const perSecond = (count: number, ms: number): number => (ms > 0 ? (count * 1000) / ms : 0);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
