import { type GraphEdge, type GraphNode } from './types';

/**
 * The shortest decimal that names the same 32-bit float as `x` (contract §1.1 "Numbers").
 *
 * Node and edge reals live in `real` columns. Read through a double they come back as
 * 0.20000000298023224; PostgreSQL and the original print them as `0.2`. For each precision from
 * 1 digit up, the nearest decimal and its two neighbours at that precision are tried (the
 * neighbours matter at powers of two, where the rounding interval is lopsided); the first
 * precision that has a candidate which `Math.fround`s back to the same float wins, and among
 * several the one closest to the float is taken. Idempotent; non-finite values pass through.
 */
export function float32Shortest(x: number): number {
  if (!Number.isFinite(x)) return x;
  const target = Math.fround(x);
  if (target === 0 || !Number.isFinite(target)) return target;
  for (let digits = 1; digits <= 17; digits++) {
    const best = closestRoundTrip(decimalCandidates(target, digits), target);
    if (best !== null) return best;
  }
  return target;
}

/** The `digits`-digit decimal nearest to `value` and the ones one unit in the last place away. */
function decimalCandidates(value: number, digits: number): number[] {
  const [mantissa = '0', exponent = '0'] = value.toExponential(digits - 1).split('e');
  const negative = mantissa.startsWith('-');
  const units = BigInt(mantissa.replace('-', '').replace('.', ''));
  const scale = Number(exponent) - (digits - 1);
  const sign = negative ? '-' : '';
  return [units, units - 1n, units + 1n].filter((u) => u > 0n).map((u) => Number(`${sign}${u}e${scale}`));
}

function closestRoundTrip(candidates: readonly number[], target: number): number | null {
  let best: number | null = null;
  for (const candidate of candidates) {
    if (Math.fround(candidate) !== target) continue;
    if (best === null || Math.abs(candidate - target) < Math.abs(best - target)) best = candidate;
  }
  return best;
}

/** A node with its float32 reals in shortest form; apply once when rows are read from SQL. */
export function normalizeGraphNode(node: GraphNode): GraphNode {
  return {
    ...node,
    salience: float32Shortest(node.salience),
    importance: float32Shortest(node.importance),
    confidence: float32Shortest(node.confidence),
  };
}

/** An edge with its float32 reals in shortest form; apply once when rows are read from SQL. */
export function normalizeGraphEdge(edge: GraphEdge): GraphEdge {
  return { ...edge, weight: float32Shortest(edge.weight), confidence: float32Shortest(edge.confidence) };
}
