import type { Observation } from './burn-rate';
import { PLATFORM_RULES } from './rules';

/**
 * The platform alerts' conditions, pure: given the signals the evaluator gathered (projection
 * health, the oldest write transaction, the outbox, the seals, the governance schedule, the SLO
 * statement close) and the
 * thresholds, what each platform rule observes. burn-rate.ts's evaluate() turns observations into
 * fire/resolve decisions the same way for every rule.
 */
export interface PlatformSignals {
  readonly projections: readonly { readonly projection: string; readonly state: string; readonly lag_ms: number | null; readonly heartbeat_age_ms: number | null }[];
  readonly oldestWriteTransaction: { readonly ageMs: number | null; readonly pid: number | null };
  readonly outbox: { readonly overdueJobs: number; readonly oldestOpenJobMs: number | null };
  readonly deadLetters: readonly { readonly tenant_id: string; readonly type: string; readonly n: number }[];
  /** Age of the oldest event no seal covers; null when all are sealed (or not observed here). */
  readonly oldestUnsealedEventMs: number | null;
  /**
   * The weekly report's last fire before the grace period: the week it reports on, whether a run
   * was due (a tenant existed before the week's end), how the scheduled run of that fire ended
   * (its claim stream's last event), and whether a report of that week was archived since the
   * fire by any trigger (the runbook's run by hand: the CLI or the API).
   */
  readonly governance: {
    readonly schedule: string;
    readonly lastFire: string | null;
    readonly week: string | null;
    readonly due: boolean;
    readonly scheduledRun: GovernanceRunOutcome;
    readonly weekArchivedSinceFire: boolean;
  };
  /**
   * The monthly SLO statement close's last fire before the grace period: the month it closes,
   * whether a close was due (a tenant existed during the month), how the scheduled run of that
   * month ended (its claim stream's last event), and how many of the month's tenants still have
   * no final (non-provisional) statement of the month issued by any trigger (the runbook's run by
   * hand: `slo:statement --all-tenants`, or one tenant at a time, or the API).
   */
  readonly sloClose: {
    readonly schedule: string;
    readonly lastFire: string | null;
    readonly month: string | null;
    readonly due: boolean;
    readonly scheduledRun: GovernanceRunOutcome;
    readonly tenantsWithoutStatement: number;
  };
}

/** The last event of a scheduled period's claim stream: none (never claimed), claimed (running, or its instance died), completed, failed. */
export type GovernanceRunOutcome = 'none' | 'claimed' | 'completed' | 'failed';

/** A period is done when its scheduled run completed or a report of its week was archived after the fire (run by hand). */
export const governancePeriodDone = (g: PlatformSignals['governance']): boolean => g.scheduledRun === 'completed' || g.weekArchivedSinceFire;

/** A month is closed when its scheduled run completed or every tenant of the month has a final statement of it (issued by hand). */
export const sloClosePeriodDone = (c: PlatformSignals['sloClose']): boolean => c.scheduledRun === 'completed' || c.tenantsWithoutStatement === 0;

export interface PlatformThresholds {
  readonly projectionLagMs: number;
  readonly openTransactionMs: number;
  readonly outboxMaxAgeMs: number;
  readonly sealLimitMs: number;
}

const severityOf = (rule: string) => PLATFORM_RULES.find((r) => r.rule === rule)!.severity;
const observation = (rule: string, breaching: boolean, numbers: Observation['numbers']): Observation => ({ rule, tenant_id: null, severity: severityOf(rule), breaching, numbers });

/** A projection whose runner is elsewhere ('remote') is as late as its last heartbeat. */
const lagOf = (p: PlatformSignals['projections'][number]): number => Math.max(p.lag_ms ?? 0, p.state === 'remote' ? (p.heartbeat_age_ms ?? 0) : 0);

export function platformObservations(s: PlatformSignals, t: PlatformThresholds): Observation[] {
  const worst = [...s.projections].sort((x, y) => lagOf(y) - lagOf(x))[0];
  const stalled = s.projections.filter((p) => ['failed', 'stopped', 'retrying'].includes(p.state));
  const worstLag = worst ? lagOf(worst) : 0;
  const dead = s.deadLetters.reduce((sum, d) => sum + d.n, 0);
  const txn = s.oldestWriteTransaction;
  return [
    observation('projection-lag', worstLag > t.projectionLagMs || stalled.length > 0, {
      projection: worst?.projection ?? null,
      lag_ms: worstLag,
      threshold_ms: t.projectionLagMs,
      stalled: stalled.map((p) => p.projection).join(',') || null,
    }),
    observation('oldest-write-transaction', (txn.ageMs ?? 0) > t.openTransactionMs, { age_ms: txn.ageMs, pid: txn.pid, threshold_ms: t.openTransactionMs }),
    observation('outbox-backlog-age', s.outbox.overdueJobs > 0, { oldest_open_job_ms: s.outbox.oldestOpenJobMs, overdue_jobs: s.outbox.overdueJobs, threshold_ms: t.outboxMaxAgeMs }),
    observation('dead-letters', dead > 0, {
      dead_letters: dead,
      tenants: new Set(s.deadLetters.map((d) => d.tenant_id)).size,
      types: [...new Set(s.deadLetters.map((d) => d.type))].sort().join(',') || null,
    }),
    observation('seal-schedule-missed', (s.oldestUnsealedEventMs ?? 0) > t.sealLimitMs, { oldest_unsealed_event_ms: s.oldestUnsealedEventMs, threshold_ms: t.sealLimitMs }),
    observation('governance-schedule-missed', s.governance.due && !governancePeriodDone(s.governance), {
      schedule: s.governance.schedule,
      last_fire: s.governance.lastFire,
      week: s.governance.week,
      scheduled_run: s.governance.scheduledRun,
      completed: governancePeriodDone(s.governance) ? 'yes' : 'no',
    }),
    observation('slo-statement-close-missed', s.sloClose.due && !sloClosePeriodDone(s.sloClose), {
      schedule: s.sloClose.schedule,
      last_fire: s.sloClose.lastFire,
      month: s.sloClose.month,
      scheduled_run: s.sloClose.scheduledRun,
      tenants_without_statement: s.sloClose.tenantsWithoutStatement,
    }),
  ];
}
