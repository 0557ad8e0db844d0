import { type LatencySummary, perSecond, summarize } from './stats';

export interface LoopResult {
  /** Operations (e.g. transactions) completed inside the measured window. */
  readonly ops: number;
  /** Units (e.g. events) completed inside the measured window. */
  readonly units: number;
  readonly ms: number;
  readonly unitsPerSecond: number;
  readonly latency: LatencySummary;
}

/**
 * Closed-loop workers in this process: each runs `op` again as soon as the previous one resolved,
 * for `warmupMs + durationMs`. Only operations that started after the warm-up and finished before
 * the end count. `op` returns the number of units it did (events appended, rows read...).
 */
export async function closedLoop(opts: { workers: number; durationMs: number; warmupMs?: number }, op: (worker: number, iteration: number) => Promise<number>): Promise<LoopResult> {
  const start = performance.now();
  const from = start + (opts.warmupMs ?? 0);
  const end = from + opts.durationMs;
  const latencies: number[] = [];
  let units = 0;
  let firstError: unknown;
  const worker = async (w: number) => {
    for (let i = 0; performance.now() < end && firstError === undefined; i++) {
      const t0 = performance.now();
      let n: number;
      try {
        n = await op(w, i);
      } catch (err) {
        firstError = err;
        return;
      }
      const t1 = performance.now();
      if (t0 >= from && t1 <= end) {
        latencies.push(t1 - t0);
        units += n;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.workers }, (_, w) => worker(w)));
  if (firstError !== undefined) throw firstError;
  return { ops: latencies.length, units, ms: opts.durationMs, unitsPerSecond: perSecond(units, opts.durationMs), latency: summarize(latencies) };
}
