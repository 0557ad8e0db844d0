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

/** What every gate prints with --json and writes to summary.json (src/ops/cli/gate-report.ts builds it). */
export interface GateSummary {
  readonly ok: boolean;
  /** Which gate or check set produced this summary (e.g. cross_tenant, scope, health, preflight). */
  readonly gate: string;
  readonly strict_warnings: boolean;
  readonly errors: number;
  readonly warnings: number;
  /** Names of the checks that made the gate fail. */
  readonly failing: readonly string[];
  readonly checks: readonly CheckResult[];
  readonly [extra: string]: unknown;
}
