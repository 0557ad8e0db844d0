import { burnRuleName, type Severity, SLIS, WINDOW_PAIRS } from './burn-rate';

/**
 * Every alert rule the evaluator runs, with its severity and what it means. Each has a section in
 * runbooks/alerts.md whose anchor is the rule name (test/unit/alert-rules.spec.ts checks that).
 */
export interface AlertRule {
  readonly rule: string;
  readonly severity: Severity;
  readonly scope: 'tenant' | 'platform';
  readonly summary: string;
}

export const BURN_RATE_RULES: readonly AlertRule[] = SLIS.flatMap((sli) =>
  WINDOW_PAIRS.map((p) => ({
    rule: burnRuleName(sli, p.pair),
    severity: p.severity,
    scope: 'tenant' as const,
    summary: `${sli} error budget burning at >= ${p.factor}x over ${p.long} and ${p.short}`,
  })),
);

export const PLATFORM_RULES: readonly AlertRule[] = [
  { rule: 'projection-lag', severity: 'page', scope: 'platform', summary: 'a projection is behind the log by more than ALERT_PROJECTION_LAG_MS (or parked/stalled)' },
  { rule: 'oldest-write-transaction', severity: 'page', scope: 'platform', summary: 'a write transaction has been open longer than ALERT_OPEN_TRANSACTION_MS (it holds back every projector)' },
  { rule: 'outbox-backlog-age', severity: 'ticket', scope: 'platform', summary: 'the oldest open outbox job is older than ALERT_OUTBOX_MAX_AGE_MS' },
  { rule: 'dead-letters', severity: 'ticket', scope: 'platform', summary: 'outbox jobs have been dead-lettered and wait for an operator' },
  { rule: 'seal-schedule-missed', severity: 'ticket', scope: 'platform', summary: 'no audit seal was made in three seal intervals' },
  { rule: 'governance-schedule-missed', severity: 'ticket', scope: 'platform', summary: 'the weekly governance report of the last fire time was not completed' },
  { rule: 'slo-statement-close-missed', severity: 'ticket', scope: 'platform', summary: "the monthly SLO statement close of the last SLO_STATEMENT_CRON fire did not issue every tenant's statement" },
];

export const ALERT_RULES: readonly AlertRule[] = [...BURN_RATE_RULES, ...PLATFORM_RULES];
export const ALERT_RULE_NAMES: readonly string[] = ALERT_RULES.map((r) => r.rule);

/** The runbook section of a rule, relative to the repository root. */
export const runbookPath = (rule: string): string => `runbooks/alerts.md#${rule}`;

/** `<RUNBOOK_BASE_URL>/runbooks/alerts.md#<rule>`; without a base, the repository-relative path. */
export const runbookUrl = (base: string | undefined, rule: string): string => (base ? `${base.replace(/\/+$/, '')}/${runbookPath(rule)}` : runbookPath(rule));

/** The console page of an alert. */
export const consoleUrl = (publicUrl: string, alertId: string): string => `${publicUrl.replace(/\/+$/, '')}/console/alerts/${alertId}`;
