/** One named invariant, reported the same way by every gate and check set. */
export interface CheckResult {
  readonly name: string;
  readonly severity: 'error' | 'warning';
  readonly pass: boolean;
  /** How many violations were found (0 when it passes). */
  readonly count: number;
  /** A few violating rows or facts, small JSON objects. */
  readonly sample: unknown[];
  readonly detail: string;
}

export function check(name: string, severity: 'error' | 'warning', detail: string, violations: unknown[], count = violations.length): CheckResult {
  return { name, severity, pass: count === 0, count, sample: violations.slice(0, 5), detail };
}
