/** Latency statistics of a load run (pure). */
export interface LatencyStats {
  readonly count: number;
  readonly errors: number;
  readonly error_rate: number;
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
  readonly p99_ms: number | null;
  readonly max_ms: number | null;
}

/** Nearest-rank percentile (p in (0, 100]) of unsorted samples; null when there are none. */
export function percentile(samples: readonly number[], p: number): number | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? null;
}

const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10);

/** Percentiles over every request (failed ones included: a slow failure is still slow). */
export function latencyStats(samples: readonly { ms: number; ok: boolean }[]): LatencyStats {
  const ms = samples.map((s) => s.ms);
  const errors = samples.filter((s) => !s.ok).length;
  return {
    count: samples.length,
    errors,
    error_rate: samples.length === 0 ? 0 : errors / samples.length,
    p50_ms: round(percentile(ms, 50)),
    p95_ms: round(percentile(ms, 95)),
    p99_ms: round(percentile(ms, 99)),
    max_ms: round(percentile(ms, 100)),
  };
}
